// Rasterizer stage 1 for 3D Gaussians: the 3D front end (splatting/front_end_3d.glsl)
// in the shared prepare stage (splatting/prepare_stage.glsl): projection,
// tiles, and an RGB payload from SH.
// Twin: RasterizerReference.project (Sources/Splatting/RasterizerReference.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "splatting/front_end_3d_buffers.glsl"
#include "splatting/prepare_stage.glsl"
#include "splatting/front_end_3d.glsl"

bool finite3(vec3 v) { return !any(isnan(v)) && !any(isinf(v)); }

bool frontEndValid(uint i) {
    vec3 s = vec3(scales[3 * i], scales[3 * i + 1], scales[3 * i + 2]);
    vec4 q = rotationOf(i);
    float logit = opacities[i];
    vec3 dc = vec3(shDC[3 * i], shDC[3 * i + 1], shDC[3 * i + 2]);
    bool finite = finite3(positionOf(i)) && finite3(s) && finite3(q.xyz) && !isnan(q.w) && !isinf(q.w)
        && !isnan(logit) && !isinf(logit) && finite3(dc);
    uvec2 rest = restLocation(i);
    for (uint k = 0; k < 3u * frame.restPerChannel; k++) {
        float v = restAt(rest, k);
        finite = finite && !isnan(v) && !isinf(v);
    }
    return finite && length(q) != 0.0;
}

void frontEndPayload(uint i, vec3 mean) {
    vec3 dir;
    float basis[15];
    vec3 color = max(shColor(i, mean, dir, basis), vec3(0.0));
    uvec2 at = payloadLocation(i);
    storePayload(at, 0u, color.r);
    storePayload(at, 1u, color.g);
    storePayload(at, 2u, color.b);
}
