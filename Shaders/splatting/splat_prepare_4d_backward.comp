// Backward of stage 1 for 4D space-time Gaussians: the shared projection
// backward (splatting/prepare_backward_stage.glsl) gives the gradients of the
// sliced mean, covariance (gCov = dL/dSigma3) and opacity; this takes them
// through the slice (splatting/front_end_4d.glsl) to every 4D parameter: the
// mean and time mean, the four log-scales, both quaternions, the opacity logit
// and, through the colour, the SH coefficients.
// Twin: GaussianSlice.backward (Sources/Splatting/GaussianSlice.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "splatting/front_end_4d_buffers.glsl"
#include "splatting/prepare_backward_stage.glsl"
#include "splatting/front_end_4d.glsl"
#include "splatting/front_end_common_backward.glsl"

layout(std430, binding = FRONT_END_GRADIENT_BINDING + 9) writeonly buffer GradTimeMeans { float gradTimeMeans[]; };    // [N]
layout(std430, binding = FRONT_END_GRADIENT_BINDING + 10) writeonly buffer GradTimeScales { float gradTimeScales[]; };  // [N]
layout(std430, binding = FRONT_END_GRADIENT_BINDING + 11) writeonly buffer GradRotationsRight { float gradRotationsRight[]; };  // [N, 4]

void frontEndZeroGradients(uint i) {
    zeroBaseGradients(i);
    gradTimeMeans[i] = 0.0;
    gradTimeScales[i] = 0.0;
    for (uint k = 0; k < 4u; k++) gradRotationsRight[4 * i + k] = 0.0;
}

void frontEndBackward(uint i, vec3 mean, vec3 gMean, mat3 gM, mat3 gCov, float gOpacity) {
    vec3 gMean3 = colorBackward(i, mean) + gMean;
    vec4 scale;
    mat4 Lq, Rq;
    mat4 F = sliceFactor(i, scale, Lq, Rq);
    vec4 b = timeRow(F);
    float W = dot(b, b);
    float d = frame.time - timeMeans[i];
    float p = exp(-0.5 * d * d / W);
    float sigmoid = 1.0 / (1.0 + exp(-opacities[i]));
    vec3 Ab = (F * b).xyz;
    // Symmetrised dL/dSigma3 (the projection's is symmetric already).
    mat3 G = 0.5 * (gCov + transpose(gCov));

    vec3 gA[4];     // dL/d(column c of A)
    vec4 gb = vec4(0.0);
    float gd = 0.0, gW = 0.0;
    // Sigma3 = A P A^T: dA = 2 G A P (column c of A P = A_c - A b b_c / W);
    // dP = A^T G A, and d b = -2 P (A^T G A) b / W.
    vec3 GAb = G * Ab;
    vec4 gPb;
    for (int c = 0; c < 4; c++) {
        vec3 Ac = F[c].xyz;
        gA[c] = 2.0 * (G * (Ac - Ab * (b[c] / W)));
        gPb[c] = dot(Ac, GAb);
    }
    gb += -2.0 / W * (gPb - b * (dot(b, gPb) / W));
    // mean3 = mu + A b s, s = d / W.
    float s = d / W;
    for (int c = 0; c < 4; c++) {
        gA[c] += gMean3 * (b[c] * s);
        gb[c] += dot(F[c].xyz, gMean3) * s;
    }
    float gs = dot(gMean3, Ab);
    gd += gs / W;
    gW += -gs * d / (W * W);
    // opacity = sigmoid(logit) p, p = exp(-d^2 / (2 W)).
    float gLogit = gOpacity * p * sigmoid * (1.0 - sigmoid);
    float gp = gOpacity * sigmoid;
    gd += -gp * p * d / W;
    gW += gp * p * 0.5 * d * d / (W * W);
    // W = b.b
    gb += 2.0 * gW * b;

    // F = R4 diag(scale): columns (A_c, b_c).
    mat4 gF;
    for (int c = 0; c < 4; c++) gF[c] = vec4(gA[c], gb[c]);
    vec4 gLogScale, gLeft, gRight;
    factor4Backward(gF, rotationOf(i), rotationRightOf(i), scale, Lq, Rq, gLogScale, gLeft, gRight);

    for (uint k = 0; k < 3u; k++) {
        gradPositions[3 * i + k] = gMean3[k];
        gradScales[3 * i + k] = gLogScale[k];
    }
    for (uint k = 0; k < 4u; k++) {
        gradRotations[4 * i + k] = gLeft[k];
        gradRotationsRight[4 * i + k] = gRight[k];
    }
    gradOpacities[i] = gLogit;
    gradTimeMeans[i] = -gd;
    gradTimeScales[i] = gLogScale.w;
}
