// Backward of stage 1 for 3D Gaussians: the shared projection backward
// (splatting/prepare_backward_stage.glsl), then the 3D front end's chain rule
// to the raw parameters: position (also through the SH view direction),
// log-scales, unnormalised quaternion, opacity logit and SH coefficients
// (masked where the colour was clamped at 0).
// Twin: ProjectionBackward.backward (Sources/Splatting/ProjectionBackward.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "splatting/front_end_3d_buffers.glsl"
#include "splatting/prepare_backward_stage.glsl"
#include "splatting/front_end_3d.glsl"
#include "splatting/front_end_common_backward.glsl"

void frontEndZeroGradients(uint i) { zeroBaseGradients(i); }

void frontEndBackward(uint i, vec3 mean, vec3 gMean, mat3 gM, mat3 gCov, float gOpacity) {
    vec3 gPosition = colorBackward(i, mean) + gMean;

    // Opacity: sigmoid of the logit.
    float sigmoid = 1.0 / (1.0 + exp(-opacities[i]));
    float gLogit = gOpacity * sigmoid * (1.0 - sigmoid);

    // M = R_q S: scales (log) and the quaternion (normalised from qRaw).
    vec3 s = exp(vec3(scales[3 * i], scales[3 * i + 1], scales[3 * i + 2]));
    vec4 qRaw = rotationOf(i);
    mat3 Rq = quaternionRotation(qRaw / length(qRaw));
    vec3 gS = vec3(dot(gM[0], Rq[0]), dot(gM[1], Rq[1]), dot(gM[2], Rq[2]));  // columns k
    vec4 gRaw4 = quaternionBackward(qRaw, mat3(gM[0] * s.x, gM[1] * s.y, gM[2] * s.z));

    for (uint k = 0; k < 3u; k++) {
        gradPositions[3 * i + k] = gPosition[k];
        gradScales[3 * i + k] = gS[k] * s[k];
    }
    for (uint k = 0; k < 4u; k++) gradRotations[4 * i + k] = gRaw4[k];
    gradOpacities[i] = gLogit;
}
