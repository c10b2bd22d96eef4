// Adaptive density control, compaction map: Gaussian i's replacements go to
// offsets[i] (exclusive scan of the classify outputs) onward; each new slot
// records its old index and what it is (DENSIFY_KIND_*), in the order
// (kept original, clone) or (split child 0, split child 1).
// Twin: GaussianDensification.scatter (Sources/Splatting/GaussianDensification.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Outputs { uint outputs[]; };   // [N] u32
layout(std430, binding = 1) readonly buffer Actions { uint actions[]; };   // [N] u32
layout(std430, binding = 2) readonly buffer Offsets { uint offsets[]; };   // [N] u32
layout(std430, binding = 3) writeonly buffer Source { uint source[]; };    // [M] u32
layout(std430, binding = 4) writeonly buffer Kinds { uint kinds[]; };      // [M] u32
layout(push_constant) uniform Push { DensifyParams pc; };

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count || outputs[i] == 0u) return;
    uint at = offsets[i];
    uint a = actions[i];
    if ((a & DENSIFY_ACTION_SPLIT) != 0u) {
        source[at] = i; kinds[at] = DENSIFY_KIND_SPLIT0;
        source[at + 1u] = i; kinds[at + 1u] = DENSIFY_KIND_SPLIT1;
        return;
    }
    if ((a & DENSIFY_ACTION_KEEP) != 0u) { source[at] = i; kinds[at] = DENSIFY_KIND_KEEP; at++; }
    if ((a & DENSIFY_ACTION_CLONE) != 0u) { source[at] = i; kinds[at] = DENSIFY_KIND_CLONE; }
}
