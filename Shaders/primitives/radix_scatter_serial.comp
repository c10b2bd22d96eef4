// LSD radix sort, step 3 of a pass, for CPU drivers (lavapipe): every thread
// owns a contiguous run of the tile and ranks it serially with its own digit
// counters in shared memory, so ranking needs no ballots, atomics or subgroup
// barriers. Runs are ordered by thread, so the result is stable.
//
// On a GPU this pattern (strided reads, one counter array per thread) is slow;
// there radix_scatter.comp (subgroup multi-split) is used. Both produce the
// same output and are tested against the same twin.
// Twin: RadixSort.reference (Sources/ComputePrimitives/RadixSort.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "primitives/radix_keys.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 8;
layout(constant_id = SPEC_SUBGROUP_SIZE) const uint MIN_SUBGROUP_SIZE = 1;
layout(constant_id = SPEC_ITEMS_PER_THREAD) const uint ITEMS = 512;
layout(constant_id = SPEC_VARIANT) const uint VARIANT = 1;
const uint KEY_WORDS = VARIANT & RADIX_VARIANT_KEY_WORDS_MASK;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer KeysIn { uint keysIn[]; };        // [count * KEY_WORDS] u32
layout(std430, binding = 1) readonly buffer ValuesIn { uint valuesIn[]; };    // [count] u32
layout(std430, binding = 2) readonly buffer Offsets { uint offsets[]; };      // [RADIX_BINS * blocks] u32, scanned
layout(std430, binding = 3) writeonly buffer KeysOut { uint keysOut[]; };     // [count * KEY_WORDS] u32
layout(std430, binding = 4) writeonly buffer ValuesOut { uint valuesOut[]; }; // [count] u32
layout(push_constant) uniform Push { RadixSortParams pc; };

shared uint threadCounts[WORKGROUP_SIZE * RADIX_BINS]; // [thread][digit]

// Reads only the key word that holds this pass's digit.
uint digitAt(uint index) {
    return radixWordDigit(keysIn[index * KEY_WORDS + radixWord(pc.shift)], pc.shift, pc.digitMask);
}

void main() {
    uint block = splatWorkgroupIndex();
    if (block >= pc.blocks) return;
    uint t = gl_LocalInvocationID.x;
    uint counters = t * RADIX_BINS;
    for (uint d = 0; d < RADIX_BINS; d++) threadCounts[counters + d] = 0u;
    uint runStart = block * WORKGROUP_SIZE * ITEMS + t * ITEMS;
    uint runEnd = min(runStart + ITEMS, pc.count);
    for (uint index = runStart; index < runEnd; index++) threadCounts[counters + digitAt(index)] += 1u;
    barrier();
    // Per digit: exclusive scan over threads, starting at the tile's offset.
    for (uint d = t; d < RADIX_BINS; d += WORKGROUP_SIZE) {
        uint running = offsets[d * pc.blocks + block];
        for (uint s = 0; s < WORKGROUP_SIZE; s++) {
            uint c = threadCounts[s * RADIX_BINS + d];
            threadCounts[s * RADIX_BINS + d] = running;
            running += c;
        }
    }
    barrier();
    for (uint index = runStart; index < runEnd; index++) {
        uint low = keysIn[index * KEY_WORDS];
        uint high = KEY_WORDS == 2 ? keysIn[index * KEY_WORDS + 1] : 0u;
        uint slot = counters + radixDigit(low, high, pc.shift, pc.digitMask);
        uint destination = threadCounts[slot];
        threadCounts[slot] = destination + 1u;
        keysOut[destination * KEY_WORDS] = low;
        if (KEY_WORDS == 2) keysOut[destination * KEY_WORDS + 1] = high;
        valuesOut[destination] = valuesIn[index];
    }
}
