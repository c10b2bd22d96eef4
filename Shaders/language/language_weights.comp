// Sparse language weights (LangSplatV2, Li et al. 2025): per Gaussian and
// level, the top-K of the L codebook logits, softmax over those K (the
// full softmax renormalised over its top K is exactly this), written as K
// sparse payload pairs (channel = level * L + entry, weight) for the blend.
// Ties go to the lower entry. Twin: LanguageReference.languageWeights.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Logits { float logits[]; };  // [N, levels, L] f32
layout(std430, binding = 1) writeonly buffer Payload { float payload[]; }; // [N, levels * K, 2] (u32 channel bits, f32 weight)
layout(push_constant) uniform Push { LanguageParams pc; };

void main() {
    uint item = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (item >= pc.count * pc.levels) return;
    uint level = item % pc.levels;
    uint L = pc.codebookSize, K = pc.topK;
    uint base = item * L;
    uint chosen[LANGUAGE_MAX_TOP_K];
    float value[LANGUAGE_MAX_TOP_K];
    for (uint k = 0; k < K; k++) {
        float best = -3.4e38;
        uint bestIndex = 0;
        bool found = false;
        for (uint e = 0; e < L; e++) {
            bool taken = false;
            for (uint j = 0; j < k; j++) taken = taken || chosen[j] == e;
            float v = logits[base + e];
            if (!taken && (!found || v > best)) { best = v; bestIndex = e; found = true; }
        }
        chosen[k] = bestIndex;
        value[k] = best;
    }
    // Softmax over the K, shifted by the largest (value[0]).
    float top = value[0], total = 0.0;
    for (uint k = 0; k < K; k++) { value[k] = exp(value[k] - top); total += value[k]; }
    uint out0 = item * K * 2u;
    for (uint k = 0; k < K; k++) {
        payload[out0 + 2u * k] = uintBitsToFloat(level * L + chosen[k]);
        payload[out0 + 2u * k + 1u] = value[k] / total;
    }
}
