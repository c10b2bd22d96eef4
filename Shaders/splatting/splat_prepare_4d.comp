// Rasterizer stage 1 for 4D space-time Gaussians: the 4D front end
// (splatting/front_end_4d.glsl: the slice at the frame's time) in the shared
// prepare stage (splatting/prepare_stage.glsl), with the 3D kind's SH payload.
// Twin: GaussianSlice.slice then RasterizerReference.project (Sources/Splatting).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "splatting/front_end_4d_buffers.glsl"
#include "splatting/prepare_stage.glsl"
#include "splatting/front_end_4d.glsl"

bool frontEndValid(uint i) {
    vec4 qr = rotationRightOf(i);
    float mt = timeMeans[i], st = timeScales[i];
    return baseParametersValid(i) && finite4(qr) && length(qr) != 0.0 && !isnan(mt) && !isinf(mt) && !isnan(st) && !isinf(st);
}

void frontEndPayload(uint i, vec3 mean) { shPayload(i, mean); }
