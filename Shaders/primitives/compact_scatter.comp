// Stream compaction, last step: values whose flag is non-zero move to
// output[offsets[i]], where offsets is the exclusive scan of (flag != 0).
// Twin: StreamCompaction.reference (Sources/ComputePrimitives/StreamCompaction.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Values { uint values[]; };   // [count] u32
layout(std430, binding = 1) readonly buffer Flags { uint flags[]; };     // [count] u32
layout(std430, binding = 2) readonly buffer Offsets { uint offsets[]; }; // [count] u32
layout(std430, binding = 3) writeonly buffer Output { uint kept[]; };    // [kept] u32
layout(push_constant) uniform Push { CompactParams pc; };

void main() {
    uint index = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (index >= pc.count) return;
    if (flags[index] != 0u) kept[offsets[index]] = values[index];
}
