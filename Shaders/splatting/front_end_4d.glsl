// The front end of 4D space-time Gaussians (Yang et al., ICLR 2024, "Real-time
// Photorealistic Dynamic Scene Representation and Rendering with 4D Gaussian
// Splatting", Sec. 3.2): slicing a 4D Gaussian at the frame's time gives a 3D
// Gaussian, which the shared projection then handles.
//
// A 4D Gaussian has a mean (mu, mu_t), log-scales (s, s_t) and a rotation
// R4 = L(q_left) R(q_right), the product of the left- and right-isoclinic
// matrices of two unit quaternions. With the factor F = R4 diag(exp(s, s_t))
// (Sigma4 = F F^T), rows 0..2 of F are A (3x4) and row 3 is b (4), so
// Sigma4 = [[U, V], [V^T, W]] with U = A A^T, V = A b, W = b.b. At time t:
//   mean3   = mu + V (t - mu_t) / W
//   Sigma3  = U - V V^T / W = A P A^T,  P = I - b b^T / W
//   opacity = sigmoid(logit) exp(-(t - mu_t)^2 / (2 W))
// P projects onto the complement of b, so with Q (4x3) an orthonormal basis of
// that complement (three columns of the Householder reflection that maps b to
// the last axis), M = A Q is a 3x3 factor of Sigma3 for the projection. The
// projection depends on M M^T only, so which basis is chosen does not matter,
// and the backward pass uses dL/dSigma3 instead of differentiating Q.
// Twin: GaussianSlice (Sources/Splatting/GaussianSlice.swift).
#ifndef SPLAT_FRONT_END_4D_GLSL
#define SPLAT_FRONT_END_4D_GLSL
#include "splatting/front_end_common.glsl"
#include "splatting/rotation_4d.glsl"

// Gaussians whose time weight exp(-x) has x above this are skipped.
#define SLICE_CUTOFF 16.0

vec4 rotationRightOf(uint i) {
    return vec4(rotationsRight[4 * i], rotationsRight[4 * i + 1], rotationsRight[4 * i + 2], rotationsRight[4 * i + 3]);
}

// The factor F = R4 diag(scale) of Gaussian i (columns), and the scales.
mat4 sliceFactor(uint i, out vec4 scale, out mat4 Lq, out mat4 Rq) {
    scale = exp(vec4(scales[3 * i], scales[3 * i + 1], scales[3 * i + 2], timeScales[i]));
    return factor4(rotationOf(i), rotationRightOf(i), scale, Lq, Rq);
}

void frontEndGeometry(uint i, out vec3 mean, out mat3 M, out float opacity) {
    vec4 scale;
    mat4 Lq, Rq;
    mat4 F = sliceFactor(i, scale, Lq, Rq);
    vec4 b = timeRow(F);
    float W = dot(b, b);
    float d = frame.time - timeMeans[i];
    float x = 0.5 * d * d / W;
    mean = positionOf(i);
    M = mat3(0.0);
    opacity = 0.0;
    if (!(W > 1e-30) || !(x <= SLICE_CUTOFF)) return;   // culled (prepare_stage.glsl skips opacity 0)
    vec3 Ab = (F * b).xyz;
    mean += Ab * (d / W);
    // Householder: u = b + sign(b_3) |b| e_3 reflects b onto the last axis;
    // columns 0..2 of I - 2 u u^T / (u.u) span the complement of b.
    vec4 u = b;
    u.w += (b.w >= 0.0 ? 1.0 : -1.0) * sqrt(W);
    float uu = dot(u, u);
    vec3 Au = (F * u).xyz;
    for (int c = 0; c < 3; c++) M[c] = F[c].xyz - (2.0 * u[c] / uu) * Au;
    opacity = exp(-x) / (1.0 + exp(-opacities[i]));
}

#endif
