// Rasterizer stage 1, per Gaussian, shared by every kind: the kind's front
// end turns its parameters into a world-space mean, a covariance factor and
// an opacity (frontEndGeometry); the shared projection (projection.glsl)
// gives the 2D splat and its tiles; for splats that survive, the front end
// writes the payload channels (frontEndPayload: RGB from SH for 3D).
//
// A kind's prepare kernel declares its parameter buffers at bindings
// 0 ..< FRONT_END_BINDINGS, defines FRONT_END_BINDINGS, includes this file
// and then defines the three front-end functions declared below.
#ifndef SPLAT_PREPARE_STAGE_GLSL
#define SPLAT_PREPARE_STAGE_GLSL
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std140, binding = FRONT_END_BINDINGS) uniform Frame { RasterFrame frame; };
// [N] projected splats in RASTER_CHUNKS slices (splatting/chunks.glsl)
layout(std430, binding = FRONT_END_BINDINGS + 1) writeonly buffer Splats0 { ProjectedSplat v[]; } splats0;
layout(std430, binding = FRONT_END_BINDINGS + 2) writeonly buffer Splats1 { ProjectedSplat v[]; } splats1;
layout(std430, binding = FRONT_END_BINDINGS + 3) writeonly buffer Splats2 { ProjectedSplat v[]; } splats2;
layout(std430, binding = FRONT_END_BINDINGS + 4) writeonly buffer Splats3 { ProjectedSplat v[]; } splats3;
// [N, payloadStride] f32 payload, in slices likewise
layout(std430, binding = FRONT_END_BINDINGS + 5) writeonly buffer Payload0 { float v[]; } payload0;
layout(std430, binding = FRONT_END_BINDINGS + 6) writeonly buffer Payload1 { float v[]; } payload1;
layout(std430, binding = FRONT_END_BINDINGS + 7) writeonly buffer Payload2 { float v[]; } payload2;
layout(std430, binding = FRONT_END_BINDINGS + 8) writeonly buffer Payload3 { float v[]; } payload3;
layout(std430, binding = FRONT_END_BINDINGS + 9) writeonly buffer Touched { uint tilesTouched[]; };    // [N] u32
layout(std430, binding = FRONT_END_BINDINGS + 10) buffer Counters { uint counters[]; };  // [2] u32: [0] intersections (the scan writes it), [1] non-finite Gaussians
layout(push_constant) uniform Push { RasterDispatch pc; };
#define SPLAT_CHUNKED_SPLATS_WRITE
#define SPLAT_CHUNKED_PAYLOAD_WRITE
#include "splatting/chunks.glsl"
#include "splatting/projection.glsl"

// Whether Gaussian i's parameters are all finite (and usable); others are
// skipped and counted.
bool frontEndValid(uint i);
// Gaussian i's world-space mean, covariance factor (Sigma = M M^T) and opacity.
void frontEndGeometry(uint i, out vec3 mean, out mat3 M, out float opacity);
// Writes Gaussian i's payload (pc.payloadStride floats at payloadLocation(i)).
void frontEndPayload(uint i, vec3 mean);

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    tilesTouched[i] = 0u;
    if (!frontEndValid(i)) {
        atomicAdd(counters[1], 1u);
        return;
    }
    vec3 mean;
    mat3 M;
    float opacity;
    frontEndGeometry(i, mean, M, opacity);
    // Faint before projection stays faint after (the antialiasing factor is
    // at most 1): culled here, before any projection work. 4D Gaussians far
    // from the frame's time arrive here with opacity 0.
    if (!(opacity >= 1.0 / 255.0)) return;
    ProjectedSplat o;
    uint touched = projectGaussian(mean, M, opacity, (pc.flags & RASTER_FLAG_ANTIALIAS) != 0u, o);
    if (touched == 0u) return;
    if ((pc.flags & RASTER_FLAG_SKIP_PAYLOAD) == 0u) frontEndPayload(i, mean);
    storeSplat(i, o);
    tilesTouched[i] = touched;
}

#endif
