// Multiresolution hash encoding, forward (instant-ngp, Mueller et al. 2022,
// Sec. 3): each thread interpolates one level's F features of one point from
// the eight vertices around it. Levels from `activeLevels` on write zeros
// (NeuS2, Wang et al. 2023, progressive training: fine levels join one by one),
// so the MLP's input row keeps its width while they are off.
// Twin: HashGridEncoding.reference (Sources/Fields/HashGridEncoding.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "fields/hash_grid.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Points { float points[]; };         // [N, 3] f32 in [0, 1]^3
layout(std430, binding = 1) readonly buffer Levels { HashGridLevel levels[]; }; // [L]
layout(std430, binding = 2) readonly buffer Table { float table[]; };           // [entries, F] f32
layout(std430, binding = 3) writeonly buffer Encoded { float encoded[]; };      // [N, stride] f32, L * F at column `column`
layout(push_constant) uniform Push { HashEncodeParams pc; };

void main() {
    uint t = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (t >= pc.count * pc.levels) return;
    uint p = t / pc.levels, l = t % pc.levels;
    uint o = p * pc.stride + pc.column + l * pc.features;
    if (l >= pc.activeLevels) {
        for (uint f = 0u; f < pc.features; ++f) encoded[o + f] = 0.0;
        return;
    }
    HashGridLevel level = levels[l];
    vec3 x = vec3(points[3 * p], points[3 * p + 1], points[3 * p + 2]);
    uvec3 cell;
    vec3 frac;
    hashGridCell(level, x, cell, frac);
    float sum[8] = float[8](0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for (uint k = 0u; k < 8u; ++k) {
        uvec3 vertex;
        float w = hashGridCorner(cell, frac, k, vertex);
        uint e = hashGridEntry(level, vertex) * pc.features;
        for (uint f = 0u; f < pc.features; ++f) sum[f] += w * table[e + f];
    }
    for (uint f = 0u; f < pc.features; ++f) encoded[o + f] = sum[f];
}
