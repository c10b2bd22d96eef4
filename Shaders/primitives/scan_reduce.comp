// Exclusive prefix sum, step 1 of reduce-then-scan: the sum of each tile of
// WORKGROUP_SIZE * ITEMS_PER_THREAD elements goes to partials[tile].
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

layout(std430, binding = 0) readonly buffer Input { uint values[]; };   // [count] u32
layout(std430, binding = 1) writeonly buffer Partials { uint partials[]; }; // [tiles] u32
layout(push_constant) uniform Push { ScanParams pc; };

shared uint subgroupSums[WORKGROUP_SIZE];

void main() {
    const uint tileSize = WORKGROUP_SIZE * ITEMS;
    uint tile = splatWorkgroupIndex();
    uint tiles = (pc.count + tileSize - 1) / tileSize;
    if (tile >= tiles) return;
    uint base = tile * tileSize;
    uint sum = 0;
    for (uint i = 0; i < ITEMS; i++) {
        uint index = base + i * WORKGROUP_SIZE + gl_LocalInvocationID.x;
        if (index < pc.count) {
            uint v = values[index];
            sum += (pc.flags & SCAN_FLAG_NONZERO) != 0 ? uint(v != 0u) : v;
        }
    }
    sum = subgroupAdd(sum);
    if (subgroupElect()) subgroupSums[gl_SubgroupID] = sum;
    barrier();
    if (gl_LocalInvocationID.x == 0) {
        uint total = 0;
        for (uint s = 0; s < gl_NumSubgroups; s++) total += subgroupSums[s];
        partials[tile] = total;
    }
}
