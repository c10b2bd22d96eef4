// Decodes splatted weights into unit features (LangSplatV2): f = C^T w,
// normalised (|f|^2 floored as in the loss). Training and queries never need
// this (they use the Gram matrix); it serves evaluation, tests and export.
// One thread per (pixel, level). Twin: LanguageReference.languageDecode.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "language/language_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer WeightMap { float weightMap[]; }; // [P, mapStride] f32
layout(std430, binding = 1) readonly buffer Codebook { float codebook[]; };   // [levels, L, D] f32
layout(std430, binding = 2) writeonly buffer Features { float features[]; };  // [levels, P, D] f32
layout(push_constant) uniform Push { LanguageParams pc; };

void main() {
    uint item = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    uint P = pc.count, L = pc.codebookSize, D = pc.dimension;
    if (item >= P * pc.levels) return;
    uint p = item % P;
    uint level = item / P;
    uint m0 = p * pc.mapStride + level * L;
    float nn = 0.0;
    for (uint d = 0; d < D; d++) {
        float f = 0.0;
        for (uint e = 0; e < L; e++) f += weightMap[m0 + e] * codebook[(level * L + e) * D + d];
        nn += f * f;
    }
    float inv = 1.0 / sqrt(nn + LANGUAGE_NORM_FLOOR);
    for (uint d = 0; d < D; d++) {
        float f = 0.0;
        for (uint e = 0; e < L; e++) f += weightMap[m0 + e] * codebook[(level * L + e) * D + d];
        features[(level * P + p) * D + d] = f * inv;
    }
}
