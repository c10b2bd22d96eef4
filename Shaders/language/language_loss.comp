// The language feature loss (LangSplat, Qin et al. 2024; LangSplatV2):
// per level, mean over pixels with a feature of 1 - cos(f, g), f = C^T w the
// decoded feature of the splatted weights w, g the image's unit feature row.
// With G = C C^T and h = C g (language_products), cos = w.h / n, n = sqrt(w^T G w):
//   dL/dw = -s (h / n - cos G w / n^2),  s = 1 / (pixels with a feature),
// and the codebook gradient needs, per pixel, a = s / n and b = s cos / n^2
// (language_codebook_sums). One thread per pixel; levels in turn.
// Twin: LanguageReference.languageLoss.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "language/language_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer WeightMap { float weightMap[]; };  // [P, mapStride] f32
layout(std430, binding = 1) readonly buffer Segments { int segments[]; };      // [levels, P] i32
layout(std430, binding = 2) readonly buffer Gram { float gram[]; };            // [levels, L, L] f32
layout(std430, binding = 3) readonly buffer Targets { float targets[]; };      // [levels, M, L] f32: h = C g
layout(std430, binding = 4) writeonly buffer WeightGradient { float gWeights[]; }; // [P, levels * L] f32
layout(std430, binding = 5) writeonly buffer Coefficients { vec2 coefficients[]; }; // [levels, P] (a, b)
layout(std430, binding = 6) writeonly buffer Loss { float loss[]; };           // [levels, P] f32 (0 without a feature)
layout(push_constant) uniform Push { LanguageParams pc; };

void main() {
    uint p = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    uint P = pc.count, L = pc.codebookSize;
    if (p >= P) return;
    float w[LANGUAGE_MAX_CODEBOOK], gw[LANGUAGE_MAX_CODEBOOK];
    uint entry[LANGUAGE_MAX_CODEBOOK];
    for (uint level = 0; level < pc.levels; level++) {
        uint out0 = p * pc.levels * L + level * L;
        int segment = segments[level * P + p];
        if (segment < 0) {
            for (uint e = 0; e < L; e++) gWeights[out0 + e] = 0.0;
            coefficients[level * P + p] = vec2(0.0);
            loss[level * P + p] = 0.0;
            continue;
        }
        // G w over the map's nonzero entries only (a pixel sees few Gaussians, K entries each).
        uint nonzero = 0;
        for (uint e = 0; e < L; e++) {
            float v = weightMap[p * pc.mapStride + level * L + e];
            if (v != 0.0) { entry[nonzero] = e; w[nonzero] = v; nonzero++; }
        }
        uint g0 = level * L * L, h0 = (level * pc.rows + uint(segment)) * L;
        float nn = 0.0, dotH = 0.0;
        for (uint i = 0; i < L; i++) {
            float sum = 0.0;
            for (uint j = 0; j < nonzero; j++) sum += gram[g0 + i * L + entry[j]] * w[j];
            gw[i] = sum;
        }
        for (uint j = 0; j < nonzero; j++) {
            nn += w[j] * gw[entry[j]];
            dotH += w[j] * targets[h0 + entry[j]];
        }
        nn = max(nn, 0.0) + LANGUAGE_NORM_FLOOR;
        float n = sqrt(nn);
        float cosine = dotH / n;
        float s = languageInvValid(pc, level);
        for (uint i = 0; i < L; i++) gWeights[out0 + i] = -s * (targets[h0 + i] / n - cosine * gw[i] / nn);
        coefficients[level * P + p] = vec2(s / n, s * cosine / nn);
        loss[level * P + p] = 1.0 - cosine;
    }
}
