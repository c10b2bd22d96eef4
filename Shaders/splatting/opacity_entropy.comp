// The opacity entropy regulariser of 4D-Rotor Gaussian Splatting (Duan et
// al., SIGGRAPH 2024): lambda mean_i(-o_i ln o_i), o = sigmoid(logit). Its
// gradient, added to the loss gradients before the optimiser, pushes each
// opacity towards 0 or 1, so that half-transparent Gaussians either earn
// their place or fade and are pruned.
// d(-o ln o)/d logit = -(ln o + 1) o (1 - o); pc.weight = lambda / N.
// Twin: OpacityEntropy.gradient (Sources/Splatting/OpacityEntropy.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Opacities { float opacities[]; };        // [N] f32, logit
layout(std430, binding = 1) buffer OpacityGradients { float opacityGradients[]; };  // [N] f32
layout(push_constant) uniform Push { EntropyParams pc; };

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    float logit = opacities[i];
    float o = 1.0 / (1.0 + exp(-logit));
    // ln o = -ln(1 + exp(-logit)), without log(0) for very negative logits.
    float logO = logit < -20.0 ? logit : -log(1.0 + exp(-logit));
    opacityGradients[i] += pc.weight * -(logO + 1.0) * o * (1.0 - o);
}
