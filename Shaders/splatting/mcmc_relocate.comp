// MCMC densification, relocation correction (Kheradmand et al. 2024, Eq. 9):
// a Gaussian that now shares its place with copies of itself (ratio n, itself
// included) takes opacity 1 - (1 - o)^(1/n) and its scale times
// o / sum_{i=1..n} sum_{k=0..i-1} C(i-1, k) (-1)^k o'^(k+1) / sqrt(k + 1),
// so that the n copies together render as the one did. n clamps at
// pc.maxRatio; the new opacity clamps to [pc.minOpacity, 1 - 2^-23] after the
// scale is computed (as gsplat). Runs on every slot after the copies are made.
// Twin: MCMCDensification.relocation (Sources/Splatting/MCMCDensification.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "splatting/densify_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) buffer Opacities { float opacities[]; };  // [N] f32, logit
layout(std430, binding = 1) buffer Scales { float scales[]; };        // [N, 3] f32, log
layout(std430, binding = 2) readonly buffer Ratios { uint ratios[]; }; // [N] u32
layout(push_constant) uniform Push { MCMCParams pc; };

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    uint n = min(ratios[i], pc.maxRatio);
    if (n <= 1u) return;
    float o = densifySigmoid(opacities[i]);
    float fresh = 1.0 - pow(1.0 - o, 1.0 / float(n));
    float denominator = 0.0;
    for (uint r = 1u; r <= n; r++) {
        float binomial = 1.0;  // C(r - 1, k)
        float power = fresh;   // fresh^(k + 1)
        float sign = 1.0;
        for (uint k = 0u; k < r; k++) {
            denominator += binomial * sign * power * inversesqrt(float(k + 1u));
            binomial *= float(r - 1u - k) / float(k + 1u);
            power *= fresh;
            sign = -sign;
        }
    }
    float logFactor = log(o / denominator);
    for (uint a = 0u; a < 3u; a++) scales[3u * i + a] += logFactor;
    float clamped = clamp(fresh, pc.minOpacity, 1.0 - 1.0 / 8388608.0);
    opacities[i] = log(clamped / (1.0 - clamped));
}
