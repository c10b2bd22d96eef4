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
layout(constant_id = SPEC_VARIANT) const uint VARIANT = 1;
const uint KEY_WORDS = VARIANT & RADIX_VARIANT_KEY_WORDS_MASK;
// Serial runs (CPU drivers): each thread counts a contiguous run into its own
// counters, no atomics; the tile histogram is the sum of the threads'.
const bool SERIAL = (VARIANT & RADIX_VARIANT_SERIAL) != 0u;
const uint COUNTER_ROWS = SERIAL ? WORKGROUP_SIZE : 1u;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Keys { uint keys[]; };         // [count * KEY_WORDS] u32
layout(std430, binding = 1) writeonly buffer Histogram { uint histogram[]; }; // [RADIX_BINS * blocks] u32
layout(push_constant) uniform Push { RadixSortParams pc; };

uint keysIn(uint index, uint word) { return keys[index * KEY_WORDS + word]; }

shared uint counts[COUNTER_ROWS * RADIX_BINS];

void main() {
    uint block = splatWorkgroupIndex();
    if (block >= pc.blocks) return;
    uint t = gl_LocalInvocationID.x;
    for (uint i = t; i < COUNTER_ROWS * RADIX_BINS; i += WORKGROUP_SIZE) counts[i] = 0u;
    barrier();
    uint base = block * WORKGROUP_SIZE * ITEMS;
    // Only the key word that holds this pass's digit is read.
    uint word = radixWord(pc.shift);
    if (SERIAL) {
        uint runStart = base + t * ITEMS;
        uint runEnd = min(runStart + ITEMS, pc.count);
        for (uint index = runStart; index < runEnd; index++) {
            counts[t * RADIX_BINS + radixWordDigit(keysIn(index, word), pc.shift, pc.digitMask)] += 1u;
        }
    } else {
        for (uint i = 0; i < ITEMS; i++) {
            uint index = base + i * WORKGROUP_SIZE + t;
            if (index < pc.count) {
                atomicAdd(counts[radixWordDigit(keysIn(index, word), pc.shift, pc.digitMask)], 1u);
            }
        }
    }
    barrier();
    for (uint d = t; d < RADIX_BINS; d += WORKGROUP_SIZE) {
        uint sum = 0u;
        for (uint row = 0; row < COUNTER_ROWS; row++) sum += counts[row * RADIX_BINS + d];
        histogram[d * pc.blocks + block] = sum;
    }
}
