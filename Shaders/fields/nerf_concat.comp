// The colour network's input is [SH(direction) (16), density-network outputs
// (16)] (instant-ngp). Variant 0: copy each sample's density outputs into
// columns 16..31 of its colour-input row. Variant 1 (backward): the density
// outputs' gradient = the colour input's gradient in those columns, plus the
// volume renderer's d loss / d raw density in column 0 (already there).
// Twin: NerfBatch.referenceConcat (Sources/Fields/NerfBatch.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(constant_id = SPEC_VARIANT) const uint VARIANT = 0;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) buffer Density { float density[]; };  // [S, 16] f32: outputs (0) or their gradient (1)
layout(std430, binding = 1) buffer Colour { float colour[]; };    // [S, columns] f32: input (0) or its gradient (1)
layout(push_constant) uniform Push { NerfBatchParams pc; };

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.rays * 16u) return;  // rays carries the sample count here
    uint s = i / 16u, j = i % 16u;
    uint c = s * pc.columns + (pc.columns - 16u) + j;
    if (VARIANT == 0u) colour[c] = density[i];
    else density[i] += colour[c];
}
