// MCMC densification, the stochastic (Langevin) part of the update
// (Kheradmand et al. 2024, Eq. 14): after each optimiser step every mean
// moves by eta lr sigmoid(-k (opacity - t)) Sigma epsilon, epsilon ~ N(0, I),
// Sigma = R diag(exp(2 s)) R^T the Gaussian's covariance, k = 100, t = 0.005:
// faint Gaussians explore, opaque ones stay put. pc.noiseScale = eta lr with
// lr the position learning rate of this iteration.
// Twin: MCMCDensification.noise (Sources/Splatting/MCMCDensification.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "splatting/densify_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) buffer Positions { float positions[]; };            // [N, 3] f32
layout(std430, binding = 1) readonly buffer Scales { float scales[]; };         // [N, 3] f32, log
layout(std430, binding = 2) readonly buffer Rotations { float rotations[]; };   // [N, 4] f32 (w, x, y, z)
layout(std430, binding = 3) readonly buffer Opacities { float opacities[]; };   // [N] f32, logit
layout(push_constant) uniform Push { MCMCParams pc; };

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    float o = densifySigmoid(opacities[i]);
    float gate = 1.0 / (1.0 + exp(pc.noiseSharpness * (o - pc.minOpacity)));
    vec4 q = vec4(rotations[4 * i], rotations[4 * i + 1], rotations[4 * i + 2], rotations[4 * i + 3]);
    q /= max(length(q), 1e-12);
    float w = q.x, x = q.y, y = q.z, z = q.w;
    // Columns of R(q); Sigma epsilon = R (exp(2 s) * (R^T epsilon)).
    mat3 R = mat3(vec3(1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + w * z), 2.0 * (x * z - w * y)),
                  vec3(2.0 * (x * y - w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z + w * x)),
                  vec3(2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y)));
    vec3 epsilon = vec3(densifyNormal(pc.seed, i, 0u, 0u), densifyNormal(pc.seed, i, 0u, 1u), densifyNormal(pc.seed, i, 0u, 2u));
    vec3 variance = exp(2.0 * vec3(scales[3 * i], scales[3 * i + 1], scales[3 * i + 2]));
    vec3 step = R * (variance * (transpose(R) * epsilon)) * (pc.noiseScale * gate);
    positions[3 * i] += step.x;
    positions[3 * i + 1] += step.y;
    positions[3 * i + 2] += step.z;
}
