// Exclusive prefix sum, step 2 of reduce-then-scan: each tile is scanned in
// shared memory and offset by its scanned partial sum (SCAN_FLAG_ADD_PARTIALS).
// With one tile this alone is the whole scan. output may alias input.
// Twin: PrefixSum.reference (Sources/ComputePrimitives/PrefixSum.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(constant_id = SPEC_SUBGROUP_SIZE) const uint MIN_SUBGROUP_SIZE = 1;
layout(constant_id = SPEC_ITEMS_PER_THREAD) const uint ITEMS = 8;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Input { uint values[]; };    // [count] u32
layout(std430, binding = 1) writeonly buffer Output { uint scanned[]; }; // [count] u32
layout(std430, binding = 2) readonly buffer Partials { uint partials[]; }; // [tiles] u32, scanned
layout(std430, binding = 3) writeonly buffer Total { uint total[]; };    // [1] u32
layout(push_constant) uniform Push { ScanParams pc; };

shared uint tileValues[WORKGROUP_SIZE * ITEMS];
shared uint splatScanTotals[WORKGROUP_SIZE + 1];
#include "common/workgroup_scan.glsl"

void main() {
    const uint tileSize = WORKGROUP_SIZE * ITEMS;
    uint tile = splatWorkgroupIndex();
    uint tiles = (pc.count + tileSize - 1) / tileSize;
    if (tile >= tiles) return;
    uint base = tile * tileSize;
    uint t = gl_LocalInvocationID.x;

    // Coalesced load into shared memory; each thread then scans ITEMS
    // consecutive elements serially.
    for (uint i = 0; i < ITEMS; i++) {
        uint local = i * WORKGROUP_SIZE + t;
        uint index = base + local;
        uint v = index < pc.count ? values[index] : 0u;
        tileValues[local] = (pc.flags & SCAN_FLAG_NONZERO) != 0 ? uint(v != 0u) : v;
    }
    barrier();
    uint threadSum = 0;
    for (uint i = 0; i < ITEMS; i++) threadSum += tileValues[t * ITEMS + i];
    uint tileSum;
    uint prefix = workgroupExclusiveAdd(threadSum, tileSum);
    uint offset = (pc.flags & SCAN_FLAG_ADD_PARTIALS) != 0 ? partials[tile] : 0u;
    uint running = offset + prefix;
    for (uint i = 0; i < ITEMS; i++) {
        uint v = tileValues[t * ITEMS + i];
        tileValues[t * ITEMS + i] = running;
        running += v;
    }
    barrier();
    for (uint i = 0; i < ITEMS; i++) {
        uint local = i * WORKGROUP_SIZE + t;
        uint index = base + local;
        if (index < pc.count) scanned[index] = tileValues[local];
    }
    if ((pc.flags & SCAN_FLAG_WRITE_TOTAL) != 0 && tile == tiles - 1 && t == 0) total[0] = offset + tileSum;
}
