// Rasterizer stage 1 for 2D image-plane Gaussians: the 2D front end
// (splatting/front_end_2d.glsl) in the shared prepare stage; the payload is
// the colour itself.
// Twin: GaussianImagePlane.equivalent3D then RasterizerReference.project.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "splatting/front_end_2d_buffers.glsl"
#include "splatting/prepare_stage.glsl"
#include "splatting/front_end_2d.glsl"

void frontEndPayload(uint i, vec3 mean) {
    uvec2 at = payloadLocation(i);
    for (uint k = 0; k < 3u; k++) storePayload(at, k, colors[3 * i + k]);
}
