// Multiresolution hash encoding, backward to the table (instant-ngp, Mueller
// et al. 2022): each thread scatters one level's F output gradients of one
// point to its eight vertices' entries with the trilinear weights. Points
// share entries (coarse levels, hash collisions), so the adds are float
// atomics; entries no point touched keep a zero gradient, which Adam's
// sparse mode then skips (instant-ngp's rule). Levels from `activeLevels`
// on were not used by the forward pass and get no gradient (NeuS2's
// progressive levels).
// Twin: HashGridEncoding.referenceBackward (Sources/Fields/HashGridEncoding.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_atomic_float : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "fields/hash_grid.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Points { float points[]; };         // [N, 3] f32 in [0, 1]^3
layout(std430, binding = 1) readonly buffer Levels { HashGridLevel levels[]; }; // [L]
layout(std430, binding = 2) readonly buffer EncodedGrad { float dEncoded[]; };  // [N, stride] f32, L * F at column `column`
layout(std430, binding = 3) buffer TableGrad { float dTable[]; };               // [entries, F] f32, accumulated
layout(push_constant) uniform Push { HashEncodeParams pc; };

void main() {
    uint t = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (t >= pc.count * pc.levels) return;
    uint p = t / pc.levels, l = t % pc.levels;
    if (l >= pc.activeLevels) return;
    uint o = p * pc.stride + pc.column + l * pc.features;
    float g[8];
    bool any = false;
    for (uint f = 0u; f < pc.features; ++f) {
        g[f] = dEncoded[o + f];
        any = any || g[f] != 0.0;
    }
    if (!any) return;
    HashGridLevel level = levels[l];
    vec3 x = vec3(points[3 * p], points[3 * p + 1], points[3 * p + 2]);
    uvec3 cell;
    vec3 frac;
    hashGridCell(level, x, cell, frac);
    for (uint k = 0u; k < 8u; ++k) {
        uvec3 vertex;
        float w = hashGridCorner(cell, frac, k, vertex);
        uint e = hashGridEntry(level, vertex) * pc.features;
        for (uint f = 0u; f < pc.features; ++f) atomicAdd(dTable[e + f], w * g[f]);
    }
}
