// Open-vocabulary queries on splatted weights, without decoding: with
// G = C C^T and u = C q (language_products of the unit query rows), the
// cosine of the decoded feature with q is s = w.u / sqrt(w^T G w).
//   RELEVANCY:  LERF's relevancy (Kerr et al. 2023, as LangSplat uses it) of
//               each of the Q queries: min over the canonical phrases c of
//               exp(T s_q) / (exp(T s_q) + exp(T s_c)) = 1 / (1 + exp(T (s_c - s_q))).
//   SIMILARITY: the cosines themselves (e.g. principal directions for a
//               false-colour view of the feature field).
// One thread per (pixel, level). Twin: LanguageReference.languageSimilarity.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "language/language_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(constant_id = SPEC_VARIANT) const uint VARIANT = LANGUAGE_VARIANT_RELEVANCY;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer WeightMap { float weightMap[]; }; // [P, mapStride] f32
layout(std430, binding = 1) readonly buffer Gram { float gram[]; };           // [levels, L, L] f32
layout(std430, binding = 2) readonly buffer Products { float products[]; };   // [levels, Q + canonical, L] f32: u = C q
layout(std430, binding = 3) writeonly buffer Outputs { float outputs[]; };    // [levels, Q, P] f32
layout(push_constant) uniform Push { LanguageParams pc; };

void main() {
    uint item = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    uint P = pc.count, L = pc.codebookSize, Q = pc.rows;
    if (item >= P * pc.levels) return;
    uint p = item % P;
    uint level = item / P;
    uint rowCount = Q + pc.canonical;
    // A pixel's map is sparse (the few Gaussians it sees, K entries each):
    // the quadratic form and the products run over its nonzero entries only.
    uint entry[LANGUAGE_MAX_CODEBOOK];
    float w[LANGUAGE_MAX_CODEBOOK];
    uint nonzero = 0;
    for (uint e = 0; e < L; e++) {
        float v = weightMap[p * pc.mapStride + level * L + e];
        if (v != 0.0) { entry[nonzero] = e; w[nonzero] = v; nonzero++; }
    }
    uint g0 = level * L * L;
    float nn = 0.0;
    for (uint i = 0; i < nonzero; i++) {
        float gw = 0.0;
        uint row = g0 + entry[i] * L;
        for (uint j = 0; j < nonzero; j++) gw += gram[row + entry[j]] * w[j];
        nn += w[i] * gw;
    }
    float inv = 1.0 / sqrt(max(nn, 0.0) + LANGUAGE_NORM_FLOOR);
    float canonical[LANGUAGE_MAX_CANONICAL];
    for (uint c = 0; c < pc.canonical; c++) {
        uint u0 = (level * rowCount + Q + c) * L;
        float s = 0.0;
        for (uint i = 0; i < nonzero; i++) s += w[i] * products[u0 + entry[i]];
        canonical[c] = s * inv;
    }
    for (uint q = 0; q < Q; q++) {
        uint u0 = (level * rowCount + q) * L;
        float s = 0.0;
        for (uint i = 0; i < nonzero; i++) s += w[i] * products[u0 + entry[i]];
        s *= inv;
        float result = s;
        if (VARIANT == LANGUAGE_VARIANT_RELEVANCY) {
            result = 1.0;
            for (uint c = 0; c < pc.canonical; c++) result = min(result, 1.0 / (1.0 + exp(pc.temperature * (canonical[c] - s))));
        }
        outputs[(level * Q + q) * P + p] = result;
    }
}
