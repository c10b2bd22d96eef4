// MCMC densification, regularisers (Kheradmand et al. 2024, Sec. 4.3): the
// gradients of lambda_o mean(sigmoid(logit)) and lambda_s mean(exp(log scale))
// (L1 on opacity and scale, both positive) added to the loss gradients, so
// Gaussians that do not earn their opacity fade, die and are relocated.
// pc.opacityGradient = lambda_o / N, pc.scaleGradient = lambda_s / (3 N).
// Twin: MCMCDensification.regularize (Sources/Splatting/MCMCDensification.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "splatting/densify_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Opacities { float opacities[]; };   // [N] f32, logit
layout(std430, binding = 1) readonly buffer Scales { float scales[]; };         // [N, 3] f32, log
layout(std430, binding = 2) buffer OpacityGradients { float opacityGradients[]; }; // [N] f32
layout(std430, binding = 3) buffer ScaleGradients { float scaleGradients[]; };  // [N, 3] f32
layout(push_constant) uniform Push { MCMCParams pc; };

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    float o = densifySigmoid(opacities[i]);
    opacityGradients[i] += pc.opacityGradient * o * (1.0 - o);
    for (uint a = 0u; a < 3u; a++) scaleGradients[3u * i + a] += pc.scaleGradient * exp(scales[3u * i + a]);
}
