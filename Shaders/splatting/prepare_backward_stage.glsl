// Backward of stage 1, per Gaussian, shared by every kind: from the gradients
// of its splat (summed by splat_blend_backward) through the shared
// projection to the mean, covariance factor and opacity, then the kind's
// front end takes those and the payload's gradient back to its raw
// parameters (frontEndBackward). Culled Gaussians get zero gradients
// (frontEndZeroGradients).
//
// A kind's prepare-backward kernel declares its parameter buffers at
// 0 ..< FRONT_END_BINDINGS and its gradient outputs from
// FRONT_END_GRADIENT_BINDING (= FRONT_END_BINDINGS + 7), includes this file
// and defines the front-end functions declared below.
#ifndef SPLAT_PREPARE_BACKWARD_STAGE_GLSL
#define SPLAT_PREPARE_BACKWARD_STAGE_GLSL
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

#define FRONT_END_GRADIENT_BINDING (FRONT_END_BINDINGS + 7)
layout(std140, binding = FRONT_END_BINDINGS) uniform Frame { RasterFrame frame; };
layout(std430, binding = FRONT_END_BINDINGS + 1) readonly buffer Touched { uint tilesTouched[]; };   // [N] u32 (0: culled)
layout(std430, binding = FRONT_END_BINDINGS + 2) readonly buffer Upstream { SplatGradient up[]; };  // [N]
// [N, payloadStride] f32: dL/d(payload), in RASTER_CHUNKS slices
layout(std430, binding = FRONT_END_BINDINGS + 3) readonly buffer GradPayload0 { float v[]; } gradPayload0;
layout(std430, binding = FRONT_END_BINDINGS + 4) readonly buffer GradPayload1 { float v[]; } gradPayload1;
layout(std430, binding = FRONT_END_BINDINGS + 5) readonly buffer GradPayload2 { float v[]; } gradPayload2;
layout(std430, binding = FRONT_END_BINDINGS + 6) readonly buffer GradPayload3 { float v[]; } gradPayload3;
layout(push_constant) uniform Push { RasterDispatch pc; };
#define SPLAT_CHUNKED_PAYLOAD_GRADIENT_READ
#include "splatting/chunks.glsl"
#include "splatting/projection.glsl"

void frontEndGeometry(uint i, out vec3 mean, out mat3 M, out float opacity);
// Writes zero gradients for Gaussian i (culled in this frame).
void frontEndZeroGradients(uint i);
// Writes Gaussian i's raw-parameter gradients from those of its mean,
// covariance factor M (or, equivalently, covariance Sigma = M M^T: gCov),
// opacity and (read here) payload.
void frontEndBackward(uint i, vec3 mean, vec3 gMean, mat3 gM, mat3 gCov, float gOpacity);

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    if (tilesTouched[i] == 0u) {
        frontEndZeroGradients(i);
        return;
    }
    vec3 mean;
    mat3 M;
    float opacity;
    frontEndGeometry(i, mean, M, opacity);
    vec3 gMean;
    mat3 gM, gCov;
    float gOpacity;
    projectGaussianBackward(mean, M, opacity, (pc.flags & RASTER_FLAG_ANTIALIAS) != 0u, up[i], gMean, gM, gCov, gOpacity);
    frontEndBackward(i, mean, gMean, gM, gCov, gOpacity);
}

#endif
