// LSD radix sort, step 3 of a pass: every key-value pair moves to
// scannedHistogram[digit * blocks + block] + its stable rank within the tile.
//
// Stable ranking within a tile follows Onesweep (Adinets & Merrill 2022):
// each subgroup owns a contiguous run of the tile and ranks its keys round by
// round with "warp-level multi-split" (one ballot per digit bit finds the lanes
// holding the same digit), keeping a per-subgroup digit histogram in shared
// memory. The per-subgroup histograms are then scanned across subgroups, so
// earlier subgroups' keys come first: the result is stable.
// Twin: RadixSort.reference (Sources/ComputePrimitives/RadixSort.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "primitives/radix_keys.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
// The smallest subgroup size the device may pick sizes the per-subgroup histograms.
layout(constant_id = SPEC_SUBGROUP_SIZE) const uint MIN_SUBGROUP_SIZE = 1;
layout(constant_id = SPEC_ITEMS_PER_THREAD) const uint ITEMS = 16;
layout(constant_id = SPEC_VARIANT) const uint VARIANT = 1;
const uint KEY_WORDS = VARIANT & RADIX_VARIANT_KEY_WORDS_MASK;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer KeysIn { uint keysIn[]; };        // [count * KEY_WORDS] u32
layout(std430, binding = 1) readonly buffer ValuesIn { uint valuesIn[]; };    // [count] u32
layout(std430, binding = 2) readonly buffer Offsets { uint offsets[]; };      // [RADIX_BINS * blocks] u32, scanned
layout(std430, binding = 3) writeonly buffer KeysOut { uint keysOut[]; };     // [count * KEY_WORDS] u32
layout(std430, binding = 4) writeonly buffer ValuesOut { uint valuesOut[]; }; // [count] u32
layout(push_constant) uniform Push { RadixSortParams pc; };

const uint MAX_SUBGROUPS = WORKGROUP_SIZE / MIN_SUBGROUP_SIZE;
shared uint subgroupCounts[MAX_SUBGROUPS * RADIX_BINS]; // [subgroup][digit]
shared uint tileOffsets[RADIX_BINS];

void main() {
    uint block = splatWorkgroupIndex();
    if (block >= pc.blocks) return;
    uint t = gl_LocalInvocationID.x;
    uint lane = gl_SubgroupInvocationID;
    uint sg = gl_SubgroupID;
    for (uint i = t; i < gl_NumSubgroups * RADIX_BINS; i += WORKGROUP_SIZE) subgroupCounts[i] = 0u;
    for (uint d = t; d < RADIX_BINS; d += WORKGROUP_SIZE) tileOffsets[d] = offsets[d * pc.blocks + block];
    barrier();

    uint lows[ITEMS];
    uint highs[ITEMS];
    uint values[ITEMS];
    uint digits[ITEMS];
    uint ranks[ITEMS];
    // This subgroup's run: ITEMS rounds of gl_SubgroupSize consecutive keys.
    uint runStart = block * WORKGROUP_SIZE * ITEMS + sg * gl_SubgroupSize * ITEMS;
    uint histogramBase = sg * RADIX_BINS;
    for (uint r = 0; r < ITEMS; r++) {
        uint index = runStart + r * gl_SubgroupSize + lane;
        bool valid = index < pc.count;
        uint low = 0u, high = 0u, value = 0u;
        if (valid) {
            low = keysIn[index * KEY_WORDS];
            high = KEY_WORDS == 2 ? keysIn[index * KEY_WORDS + 1] : 0u;
            value = valuesIn[index];
        }
        uint digit = radixDigit(low, high, pc.shift, pc.digitMask);
        // Lanes holding the same digit: intersect one ballot per digit bit.
        uvec4 same = subgroupBallot(valid);
        for (uint b = 0; b < RADIX_BITS; b++) {
            bool bit = ((digit >> b) & 1u) != 0u;
            uvec4 ballot = subgroupBallot(bit);
            same &= bit ? ballot : ~ballot;
        }
        uint below = subgroupBallotExclusiveBitCount(same);
        uint group = subgroupBallotBitCount(same);
        // The last lane of each same-digit group claims the group's ranks with
        // one atomic and shares the old count by shuffle. Only that lane touches
        // the counter in this round, and atomics order the rounds, so no
        // subgroup barrier is needed (those cost a full workgroup barrier on
        // CPU drivers).
        uint leader = valid ? subgroupBallotFindMSB(same) : lane;
        uint before = 0u;
        if (valid && lane == leader) before = atomicAdd(subgroupCounts[histogramBase + digit], group);
        before = subgroupShuffle(before, leader);
        lows[r] = low;
        highs[r] = high;
        values[r] = value;
        digits[r] = digit;
        ranks[r] = valid ? before + below : 0xffffffffu;
    }
    barrier();
    // Per digit: exclusive scan over subgroups, so earlier runs come first.
    for (uint d = t; d < RADIX_BINS; d += WORKGROUP_SIZE) {
        uint running = tileOffsets[d];
        for (uint s = 0; s < gl_NumSubgroups; s++) {
            uint c = subgroupCounts[s * RADIX_BINS + d];
            subgroupCounts[s * RADIX_BINS + d] = running;
            running += c;
        }
    }
    barrier();
    for (uint r = 0; r < ITEMS; r++) {
        if (ranks[r] == 0xffffffffu) continue;
        uint destination = subgroupCounts[histogramBase + digits[r]] + ranks[r];
        keysOut[destination * KEY_WORDS] = lows[r];
        if (KEY_WORDS == 2) keysOut[destination * KEY_WORDS + 1] = highs[r];
        valuesOut[destination] = values[r];
    }
}
