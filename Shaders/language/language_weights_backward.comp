// Backward of language_weights: dL/d(logits) from dL/d(weight) of the K
// payload pairs (the blend backward's weight slots). With w the softmax
// over the top K, dL/dz_i = w_i (g_i - sum_j w_j g_j) for the K chosen
// entries; the others get zero (they did not take part). Whole rows are
// written, so no clearing is needed. Twin: LanguageReference.languageWeightsBackward.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Payload { float payload[]; };          // [N, levels * K, 2]
layout(std430, binding = 1) readonly buffer PayloadGradient { float gPayload[]; }; // [N, levels * K, 2] (weight slots used)
layout(std430, binding = 2) writeonly buffer LogitGradient { float gLogits[]; };    // [N, levels, L] f32
layout(push_constant) uniform Push { LanguageParams pc; };

void main() {
    uint item = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (item >= pc.count * pc.levels) return;
    uint L = pc.codebookSize, K = pc.topK;
    uint level = item % pc.levels;
    uint pairs = item * K * 2u;
    float mean = 0.0;
    for (uint k = 0; k < K; k++) mean += payload[pairs + 2u * k + 1u] * gPayload[pairs + 2u * k + 1u];
    for (uint e = 0; e < L; e++) gLogits[item * L + e] = 0.0;
    for (uint k = 0; k < K; k++) {
        uint entry = floatBitsToUint(payload[pairs + 2u * k]) - level * L;
        float w = payload[pairs + 2u * k + 1u];
        gLogits[item * L + entry] = w * (gPayload[pairs + 2u * k + 1u] - mean);
    }
}
