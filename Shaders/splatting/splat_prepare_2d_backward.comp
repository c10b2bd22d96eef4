// Backward of stage 1 for 2D image-plane Gaussians: the shared projection
// backward gives dL/dmean and dL/dM of the flat 3D Gaussian
// (splatting/front_end_2d.glsl); the mean's x, y and M's entries l0 (row 0,
// column 0), l1 (row 1, column 0) and l2 (row 1, column 1) are the raw
// parameters, the colour's gradient is the payload's.
// Twin: GaussianImagePlane.backward (Sources/Splatting/GaussianImagePlane.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "splatting/front_end_2d_buffers.glsl"
#include "splatting/prepare_backward_stage.glsl"
#include "splatting/front_end_2d.glsl"

layout(std430, binding = FRONT_END_GRADIENT_BINDING + 0) writeonly buffer GradMeans { float gradMeans[]; };        // [N, 2]
layout(std430, binding = FRONT_END_GRADIENT_BINDING + 1) writeonly buffer GradCholesky { float gradCholesky[]; };  // [N, 3]
layout(std430, binding = FRONT_END_GRADIENT_BINDING + 2) writeonly buffer GradColors { float gradColors[]; };      // [N, 3]
layout(std430, binding = FRONT_END_GRADIENT_BINDING + 3) writeonly buffer GradOpacities { float gradOpacities[]; };// [N]

void frontEndZeroGradients(uint i) {
    for (uint k = 0; k < 2u; k++) gradMeans[2 * i + k] = 0.0;
    for (uint k = 0; k < 3u; k++) {
        gradCholesky[3 * i + k] = 0.0;
        gradColors[3 * i + k] = 0.0;
    }
    gradOpacities[i] = 0.0;
}

void frontEndBackward(uint i, vec3 mean, vec3 gMean, mat3 gM, mat3 gCov, float gOpacity) {
    gradMeans[2 * i] = gMean.x;
    gradMeans[2 * i + 1] = gMean.y;
    // gM[column][row].
    gradCholesky[3 * i] = gM[0][0];
    gradCholesky[3 * i + 1] = gM[0][1];
    gradCholesky[3 * i + 2] = gM[1][1];
    uvec2 at = payloadLocation(i);
    bool own = (pc.flags & RASTER_FLAG_SKIP_PAYLOAD) == 0u;   // else the payload was the caller's
    for (uint k = 0; k < 3u; k++) gradColors[3 * i + k] = own ? payloadGradientAt(at, k) : 0.0;
    float sigmoid = 1.0 / (1.0 + exp(-opacities[i]));
    gradOpacities[i] = gOpacity * sigmoid * (1.0 - sigmoid);
}
