// LSD radix sort, step 1 of a pass: the digit histogram of each tile,
// written digit-major (histogram[digit * blocks + block]) so that one
// exclusive scan of the whole array gives every (digit, tile) its output offset.
// Twin: RadixSort.reference (Sources/ComputePrimitives/RadixSort.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "primitives/radix_keys.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(constant_id = SPEC_SUBGROUP_SIZE) const uint MIN_SUBGROUP_SIZE = 1;
layout(constant_id = SPEC_ITEMS_PER_THREAD) const uint ITEMS = 16;
layout(constant_id = SPEC_VARIANT) const uint KEY_WORDS = 1;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Keys { uint keys[]; };         // [count * KEY_WORDS] u32
layout(std430, binding = 1) writeonly buffer Histogram { uint histogram[]; }; // [RADIX_BINS * blocks] u32
layout(push_constant) uniform Push { RadixSortParams pc; };

shared uint counts[RADIX_BINS];

void main() {
    uint block = splatWorkgroupIndex();
    if (block >= pc.blocks) return;
    uint t = gl_LocalInvocationID.x;
    for (uint d = t; d < RADIX_BINS; d += WORKGROUP_SIZE) counts[d] = 0u;
    barrier();
    uint base = block * WORKGROUP_SIZE * ITEMS;
    for (uint i = 0; i < ITEMS; i++) {
        uint index = base + i * WORKGROUP_SIZE + t;
        if (index < pc.count) {
            uint low = keys[index * KEY_WORDS];
            uint high = KEY_WORDS == 2 ? keys[index * KEY_WORDS + 1] : 0u;
            atomicAdd(counts[radixDigit(low, high, pc.shift, pc.digitMask)], 1u);
        }
    }
    barrier();
    for (uint d = t; d < RADIX_BINS; d += WORKGROUP_SIZE) histogram[d * pc.blocks + block] = counts[d];
}
