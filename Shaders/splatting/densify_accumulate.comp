// Adaptive density control, statistics (3DGS, Kerbl et al. 2023, Sec. 5.2),
// after each backward pass: for every Gaussian the frame saw, add the norm of
// its screen-space mean gradient in NDC units (pixel gradient times W/2, H/2,
// as the original's view-space gradient), count the view, and keep the
// largest screen radius (px of the training size: rendered px times
// pc.radiusScale while the resolution schedule renders smaller images).
// Twin: GaussianDensification.accumulate (Sources/Splatting/GaussianDensification.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

// [N] projected splats of the frame in RASTER_CHUNKS slices (splatting/chunks.glsl)
layout(std430, binding = 0) readonly buffer Splats0 { ProjectedSplat v[]; } splats0;
layout(std430, binding = 1) readonly buffer Splats1 { ProjectedSplat v[]; } splats1;
layout(std430, binding = 2) readonly buffer Splats2 { ProjectedSplat v[]; } splats2;
layout(std430, binding = 3) readonly buffer Splats3 { ProjectedSplat v[]; } splats3;
layout(std430, binding = 4) readonly buffer Touched { uint tilesTouched[]; };   // [N] u32
layout(std430, binding = 5) readonly buffer Gradients { SplatGradient grads[]; }; // [N]
layout(std430, binding = 6) buffer GradAccum { float gradAccum[]; };          // [N] f32
layout(std430, binding = 7) buffer Views { float views[]; };                  // [N] f32
layout(std430, binding = 8) buffer MaxRadius { float maxRadius[]; };          // [N] f32
layout(push_constant) uniform Push { DensifyParams pc; };
#define SPLAT_CHUNKED_SPLATS_READ
#include "splatting/chunks.glsl"

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count || tilesTouched[i] == 0u) return;
    vec2 g = vec2(grads[i].meanX * pc.halfWidth, grads[i].meanY * pc.halfHeight);
    gradAccum[i] += length(g);
    views[i] += 1.0;
    ProjectedSplat s = loadSplat(i);
    maxRadius[i] = max(maxRadius[i], max(s.radiusX, s.radiusY) * pc.radiusScale);
}
