// Rasterizer stage 2, per Gaussian: one (tile | depth) key per touched tile,
// written at the Gaussian's scanned offset, tiles in row-major order. Keys are
// 64-bit (low word: depth's float bits, which order like the floats since
// depth > 0; high word: tile id), values the Gaussian's index, so a stable
// sort orders each tile's list by depth, then index (3DGS, Kerbl et al. 2023).
// Twin: RasterizerReference.renderTiled (Sources/Splatting/RasterizerReference.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

// [N] projected splats in RASTER_CHUNKS slices (splatting/chunks.glsl)
layout(std430, binding = 0) readonly buffer Splats0 { ProjectedSplat v[]; } splats0;
layout(std430, binding = 1) readonly buffer Splats1 { ProjectedSplat v[]; } splats1;
layout(std430, binding = 2) readonly buffer Splats2 { ProjectedSplat v[]; } splats2;
layout(std430, binding = 3) readonly buffer Splats3 { ProjectedSplat v[]; } splats3;
layout(std430, binding = 4) readonly buffer Touched { uint tilesTouched[]; };      // [N] u32
layout(std430, binding = 5) readonly buffer Offsets { uint offsets[]; };           // [N] u32, exclusive scan
layout(std430, binding = 6) writeonly buffer Keys { uint keys[]; };                // [I, 2] u32 (low, high)
layout(std430, binding = 7) writeonly buffer Values { uint values[]; };            // [I] u32
layout(std140, binding = 8) uniform Frame { RasterFrame frame; };
layout(push_constant) uniform Push { RasterDispatch pc; };
#define SPLAT_CHUNKED_SPLATS_READ
#include "splatting/chunks.glsl"

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count || tilesTouched[i] == 0u) return;
    ProjectedSplat s = loadSplat(i);
    uint depthBits = floatBitsToUint(s.depth);
    uint minX = s.tileMin & 0xffffu, minY = s.tileMin >> 16;
    uint maxX = s.tileMax & 0xffffu, maxY = s.tileMax >> 16;
    uint slot = offsets[i];
    for (uint ty = minY; ty < maxY; ty++) {
        for (uint tx = minX; tx < maxX; tx++) {
            keys[2u * slot] = depthBits;
            keys[2u * slot + 1u] = ty * frame.tilesX + tx;
            values[slot] = i;
            slot++;
        }
    }
}
