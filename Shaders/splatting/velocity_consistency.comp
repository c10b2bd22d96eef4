// The 4D consistency regulariser of 4D-Rotor Gaussian Splatting (Duan et
// al., SIGGRAPH 2024): neighbouring Gaussians should move alike. A 4D
// Gaussian's sliced mean moves with the constant velocity v = V / W (Sigma4 =
// [[U, V], [V^T, W]], see splatting/front_end_4d.glsl), and the loss is
//   lambda / N sum_i | v_i - (1/K) sum_{j in nbr(i)} v_j |_1
// over K nearest neighbours in space-time (found on the host every few
// hundred steps). Three variants, run in order:
//   VELOCITY: v_i = A b / W  (F = R4 diag(scale), A = rows 0..2, b = row 3)
//   RESIDUAL: g = lambda/N sign(r_i); dL/dv_i += g, dL/dv_j -= g / K (float atomics)
//   CHAIN:    dL/dv_i into the log-scales and both quaternions (added to the
//             gradients of the last backward pass before the optimiser)
// Twin: VelocityConsistency.reference (Sources/Splatting/VelocityConsistency.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_atomic_float : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "splatting/rotation_4d.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(constant_id = SPEC_VARIANT) const uint VARIANT = CONSISTENCY_VARIANT_VELOCITY;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Rotations { float rotations[]; };             // [N, 4] f32, w x y z
layout(std430, binding = 1) readonly buffer RotationsRight { float rotationsRight[]; };   // [N, 4] f32
layout(std430, binding = 2) readonly buffer Scales { float scales[]; };                   // [N, 3] f32, log
layout(std430, binding = 3) readonly buffer TimeScales { float timeScales[]; };           // [N] f32, log
layout(std430, binding = 4) readonly buffer Neighbours { uint neighbours[]; };            // [N, K] u32
layout(std430, binding = 5) buffer Velocities { float velocities[]; };                    // [N, 3] f32
layout(std430, binding = 6) buffer VelocityGradients { float gVelocities[]; };            // [N, 3] f32 (zeroed by the host)
layout(std430, binding = 7) buffer GradRotations { float gradRotations[]; };              // [N, 4] f32
layout(std430, binding = 8) buffer GradRotationsRight { float gradRotationsRight[]; };    // [N, 4] f32
layout(std430, binding = 9) buffer GradScales { float gradScales[]; };                    // [N, 3] f32
layout(std430, binding = 10) buffer GradTimeScales { float gradTimeScales[]; };           // [N] f32
layout(push_constant) uniform Push { ConsistencyParams pc; };

vec4 quaternion(uint i, bool right) {
    return right ? vec4(rotationsRight[4 * i], rotationsRight[4 * i + 1], rotationsRight[4 * i + 2], rotationsRight[4 * i + 3])
                 : vec4(rotations[4 * i], rotations[4 * i + 1], rotations[4 * i + 2], rotations[4 * i + 3]);
}

vec3 velocityOf(uint i) { return vec3(velocities[3 * i], velocities[3 * i + 1], velocities[3 * i + 2]); }

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    if (VARIANT == CONSISTENCY_VARIANT_RESIDUAL) {
        uint K = pc.neighbours;
        vec3 mean = vec3(0.0);
        for (uint k = 0; k < K; k++) mean += velocityOf(neighbours[i * K + k]);
        vec3 r = velocityOf(i) - mean / float(K);
        vec3 g = pc.weight * sign(r);
        for (uint c = 0; c < 3u; c++) atomicAdd(gVelocities[3 * i + c], g[c]);
        for (uint k = 0; k < K; k++) {
            uint j = neighbours[i * K + k];
            for (uint c = 0; c < 3u; c++) atomicAdd(gVelocities[3 * j + c], -g[c] / float(K));
        }
        return;
    }
    vec4 ql = quaternion(i, false), qr = quaternion(i, true);
    vec4 scale = exp(vec4(scales[3 * i], scales[3 * i + 1], scales[3 * i + 2], timeScales[i]));
    mat4 Lq, Rq;
    mat4 F = factor4(ql, qr, scale, Lq, Rq);
    vec4 b = timeRow(F);
    float W = dot(b, b);
    vec3 Ab = (F * b).xyz;
    if (VARIANT == CONSISTENCY_VARIANT_VELOCITY) {
        vec3 v = W > 1e-30 ? Ab / W : vec3(0.0);
        for (uint c = 0; c < 3u; c++) velocities[3 * i + c] = v[c];
        return;
    }
    // CHAIN: v = A b / W; dA_c = gv b_c / W, db_c = A_c . gv / W, dW = -gv . A b / W^2, db += 2 dW b.
    if (!(W > 1e-30)) return;
    vec3 gv = vec3(gVelocities[3 * i], gVelocities[3 * i + 1], gVelocities[3 * i + 2]);
    float gW = -dot(gv, Ab) / (W * W);
    mat4 gF;
    for (int c = 0; c < 4; c++) gF[c] = vec4(gv * (b[c] / W), dot(F[c].xyz, gv) / W + 2.0 * gW * b[c]);
    vec4 gLogScale, gLeft, gRight;
    factor4Backward(gF, ql, qr, scale, Lq, Rq, gLogScale, gLeft, gRight);
    for (uint k = 0; k < 3u; k++) gradScales[3 * i + k] += gLogScale[k];
    gradTimeScales[i] += gLogScale.w;
    for (uint k = 0; k < 4u; k++) {
        gradRotations[4 * i + k] += gLeft[k];
        gradRotationsRight[4 * i + k] += gRight[k];
    }
}
