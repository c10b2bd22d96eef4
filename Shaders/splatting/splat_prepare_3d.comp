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

bool frontEndValid(uint i) { return baseParametersValid(i); }

void frontEndPayload(uint i, vec3 mean) { shPayload(i, mean); }
