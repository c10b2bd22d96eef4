// Reduction (sum or max, u32 or f32 by SPEC_VARIANT = REDUCE_*): each tile of
// WORKGROUP_SIZE * ITEMS_PER_THREAD elements reduces to output[tile]; the host
// repeats until one value is left. f32 values travel as their bits.
// Twin: Reduction.reference (Sources/ComputePrimitives/Reduction.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(constant_id = SPEC_SUBGROUP_SIZE) const uint MIN_SUBGROUP_SIZE = 1;
layout(constant_id = SPEC_ITEMS_PER_THREAD) const uint ITEMS = 8;
layout(constant_id = SPEC_VARIANT) const uint OP = REDUCE_SUM_U32;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Input { uint values[]; };   // [count] u32 | f32 bits
layout(std430, binding = 1) writeonly buffer Output { uint reduced[]; }; // [tiles] u32 | f32 bits
layout(push_constant) uniform Push { ReduceParams pc; };

shared uint subgroupResults[WORKGROUP_SIZE];

const bool IS_FLOAT = OP == REDUCE_SUM_F32 || OP == REDUCE_MAX_F32;
const bool IS_MAX = OP == REDUCE_MAX_U32 || OP == REDUCE_MAX_F32;

// Identity elements: 0 for sums and u32 max, -infinity for f32 max.
uint identityBits() { return OP == REDUCE_MAX_F32 ? 0xff800000u : 0u; }

uint combine(uint a, uint b) {
    if (IS_FLOAT) {
        float x = uintBitsToFloat(a), y = uintBitsToFloat(b);
        return floatBitsToUint(IS_MAX ? max(x, y) : x + y);
    }
    return IS_MAX ? max(a, b) : a + b;
}

uint subgroupCombine(uint v) {
    if (IS_FLOAT) {
        float x = uintBitsToFloat(v);
        return floatBitsToUint(IS_MAX ? subgroupMax(x) : subgroupAdd(x));
    }
    return IS_MAX ? subgroupMax(v) : subgroupAdd(v);
}

void main() {
    const uint tileSize = WORKGROUP_SIZE * ITEMS;
    uint tile = splatWorkgroupIndex();
    uint tiles = (pc.count + tileSize - 1) / tileSize;
    if (tile >= tiles) return;
    uint base = tile * tileSize;
    uint acc = identityBits();
    for (uint i = 0; i < ITEMS; i++) {
        uint index = base + i * WORKGROUP_SIZE + gl_LocalInvocationID.x;
        if (index < pc.count) acc = combine(acc, values[index]);
    }
    acc = subgroupCombine(acc);
    if (subgroupElect()) subgroupResults[gl_SubgroupID] = acc;
    barrier();
    if (gl_LocalInvocationID.x == 0) {
        uint result = identityBits();
        for (uint s = 0; s < gl_NumSubgroups; s++) result = combine(result, subgroupResults[s]);
        reduced[tile] = result;
    }
}
