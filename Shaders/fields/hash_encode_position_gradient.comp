// Multiresolution hash encoding, backward to the points (instant-ngp, Mueller
// et al. 2022, Sec. 3): d loss / d x of each point, the sum over levels and
// features of d loss / d encoded times the slope of the trilinear
// interpolation, scale_l sum_k table[k] d w_k / d frac (x maps to
// scale_l x + 0.5). NeuS-style SDF fields need it for analytic normals and
// the eikonal loss (Wang et al. 2021; NeuS2, Wang et al. 2023). One thread
// per point loops over the levels, so the three sums need no atomics.
// Levels from `activeLevels` on contribute nothing (NeuS2's progressive
// levels); outside the box, where the clamp is flat, an axis gets 0.
// Twin: HashGridEncoding.referencePositionGradient (Sources/Fields/HashGridEncoding.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "fields/hash_grid.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Points { float points[]; };         // [N, 3] f32
layout(std430, binding = 1) readonly buffer Levels { HashGridLevel levels[]; }; // [L]
layout(std430, binding = 2) readonly buffer Table { float table[]; };           // [entries, F] f32
layout(std430, binding = 3) readonly buffer EncodedGrad { float dEncoded[]; };  // [N, stride] f32, L * F at column `column`
layout(std430, binding = 4) writeonly buffer PointGrad { float dPoints[]; };    // [N, 3] f32, written
layout(push_constant) uniform Push { HashEncodeParams pc; };

void main() {
    uint p = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (p >= pc.count) return;
    vec3 x = vec3(points[3 * p], points[3 * p + 1], points[3 * p + 2]);
    vec3 grad = vec3(0.0);
    uint activeCount = min(pc.activeLevels, pc.levels);
    for (uint l = 0u; l < activeCount; ++l) {
        uint o = p * pc.stride + pc.column + l * pc.features;
        float g[8];
        bool any = false;
        for (uint f = 0u; f < pc.features; ++f) {
            g[f] = dEncoded[o + f];
            any = any || g[f] != 0.0;
        }
        if (!any) continue;
        HashGridLevel level = levels[l];
        uvec3 cell;
        vec3 frac;
        hashGridCell(level, x, cell, frac);
        vec3 levelGrad = vec3(0.0);
        for (uint k = 0u; k < 8u; ++k) {
            uvec3 vertex;
            hashGridCorner(cell, frac, k, vertex);
            uint e = hashGridEntry(level, vertex) * pc.features;
            // d loss / d (this corner's weight): the output gradient dotted with the corner's features.
            float dw = 0.0;
            for (uint f = 0u; f < pc.features; ++f) dw += g[f] * table[e + f];
            levelGrad += dw * hashGridCornerWeightGradient(frac, k);
        }
        grad += level.scale * levelGrad;
    }
    // The clamp to [0, 1]^3 is flat outside the box.
    vec3 inside = vec3(greaterThanEqual(x, vec3(0.0))) * vec3(lessThanEqual(x, vec3(1.0)));
    grad *= inside;
    dPoints[3 * p] = grad.x;
    dPoints[3 * p + 1] = grad.y;
    dPoints[3 * p + 2] = grad.z;
}
