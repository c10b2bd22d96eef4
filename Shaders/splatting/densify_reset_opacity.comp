// Adaptive density control, opacity reset (3DGS, Kerbl et al. 2023): every
// Gaussian's opacity becomes min(opacity, 0.01), as a logit ceiling, so
// floaters must earn their opacity back or be pruned. The caller zeroes the
// opacity group's Adam moments, as the original's fresh optimiser state does.
// Twin: GaussianDensification.resetOpacity (Sources/Splatting/GaussianDensification.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) buffer Opacities { float opacities[]; };  // [N] f32, logit
layout(push_constant) uniform Push { DensifyParams pc; };

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    opacities[i] = min(opacities[i], pc.resetOpacity);
}
