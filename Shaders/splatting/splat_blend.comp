// Rasterizer stage 4, one workgroup per 16x16 tile: front-to-back alpha
// blending of the tile's depth-sorted splats, staged through shared memory in
// batches, stopping once every pixel's transmittance is spent (3DGS, Kerbl et
// al. 2023; constants of gsplat's classic mode, docs/conventions.md).
// Outputs what the backward pass needs: final T and the last contributor.
//
// Each thread blends PIXELS_PER_THREAD consecutive pixels of a column (1 on
// GPUs; more on CPU drivers, where each splat read from shared memory is then
// reused for several pixels). A splat whose footprint (splatting/footprint.glsl:
// the ellipse where alpha >= 1/255) misses a thread's column of pixels is
// skipped without evaluating them; the result is the same.
// Twin: RasterizerReference.renderTiled (Sources/Splatting/RasterizerReference.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"

layout(constant_id = SPEC_VARIANT) const uint PIXELS_PER_THREAD = 1;
const uint ROWS = RASTER_TILE_SIZE / PIXELS_PER_THREAD;    // thread rows per tile
const uint THREADS = RASTER_TILE_SIZE * ROWS;
layout(local_size_x = 16, local_size_y_id = SPEC_ITEMS_PER_THREAD) in;  // y = ROWS, set by the host

// [N] projected splats in RASTER_CHUNKS slices (splatting/chunks.glsl)
layout(std430, binding = 0) readonly buffer Splats0 { ProjectedSplat v[]; } splats0;
layout(std430, binding = 1) readonly buffer Splats1 { ProjectedSplat v[]; } splats1;
layout(std430, binding = 2) readonly buffer Splats2 { ProjectedSplat v[]; } splats2;
layout(std430, binding = 3) readonly buffer Splats3 { ProjectedSplat v[]; } splats3;
layout(std430, binding = 4) readonly buffer Values { uint values[]; };            // [I] u32, sorted
layout(std430, binding = 5) readonly buffer Ranges { uint ranges[]; };            // [tiles, 2] u32
layout(std430, binding = 6) writeonly buffer Color { float color[]; };            // [H, W, 4] f32 (rgb over bg, alpha)
layout(std430, binding = 7) writeonly buffer Depth { float depth[]; };            // [H, W] f32, sum T alpha z
layout(std430, binding = 8) writeonly buffer Final { float transmittance[]; };    // [H, W] f32
layout(std430, binding = 9) writeonly buffer Count { uint contributors[]; };      // [H, W, 2] u32: blended, last index + 1
layout(push_constant) uniform Push { RasterParams pc; };
#define SPLAT_CHUNKED_SPLATS_READ
#include "splatting/chunks.glsl"
#include "splatting/footprint.glsl"

shared vec4 batchMeanOpacity[RASTER_BATCH];   // mean.x, mean.y, opacity, depth
shared vec4 batchConic[RASTER_BATCH];         // a, b, c, footprint level
shared vec4 batchColor[RASTER_BATCH];         // r, g, b, -
shared uint doneThreads;   // threads all of whose pixels are done

void main() {
    uint tile = gl_WorkGroupID.y * pc.tilesX + gl_WorkGroupID.x;
    uint t = gl_LocalInvocationIndex;
    uint start = ranges[2u * tile], end = ranges[2u * tile + 1u];

    uvec2 pixel[PIXELS_PER_THREAD];
    float T[PIXELS_PER_THREAD];
    vec3 C[PIXELS_PER_THREAD];
    float D[PIXELS_PER_THREAD];
    uint blended[PIXELS_PER_THREAD];
    uint last[PIXELS_PER_THREAD];
    bool done[PIXELS_PER_THREAD];
    uint remaining = 0u;   // this thread's pixels still blending
    if (t == 0u) doneThreads = 0u;
    barrier();
    for (uint k = 0; k < PIXELS_PER_THREAD; k++) {
        pixel[k] = gl_WorkGroupID.xy * RASTER_TILE_SIZE + uvec2(gl_LocalInvocationID.x, gl_LocalInvocationID.y * PIXELS_PER_THREAD + k);
        T[k] = 1.0;
        C[k] = vec3(0.0);
        D[k] = 0.0;
        blended[k] = 0u;
        last[k] = 0u;
        done[k] = pixel[k].x >= pc.width || pixel[k].y >= pc.height;
        if (!done[k]) remaining++;
    }
    // Each thread reports once, between batches, when its last pixel is done
    // (an atomic per finished pixel inside the splat loop costs more on CPU
    // drivers, where atomics run lane by lane).
    bool reported = false;

    for (uint batchStart = start; batchStart < end; batchStart += RASTER_BATCH) {
        if (remaining == 0u && !reported) {
            reported = true;
            atomicAdd(doneThreads, 1u);
        }
        barrier();  // the previous batch is consumed and doneThreads is final
        if (doneThreads == THREADS) break;
        for (uint s = t; s < RASTER_BATCH; s += THREADS) {
            uint k = batchStart + s;
            if (k < end) {
                ProjectedSplat g = loadSplat(values[k]);
                batchMeanOpacity[s] = vec4(g.meanX, g.meanY, g.opacity, g.depth);
                batchConic[s] = vec4(g.conicA, g.conicB, g.conicC, footprintLevel(g.opacity));
                batchColor[s] = vec4(g.colorR, g.colorG, g.colorB, 0.0);
            }
        }
        barrier();
        uint n = min(RASTER_BATCH, end - batchStart);
        float columnX = float(pixel[0].x) + 0.5;
        float firstY = float(pixel[0].y) + 0.5, lastY = firstY + float(PIXELS_PER_THREAD - 1u);
        for (uint j = 0; j < n; j++) {
            vec4 mo = batchMeanOpacity[j];
            vec4 conic = batchConic[j];
            if (remaining == 0u) break;
            if (!footprintMeetsColumn(mo.xy, conic.xyz, conic.w, columnX, firstY, lastY)) continue;
            // power = -(a dx^2 + c dy^2) / 2 - b dx dy, with the column's dx fixed
            float dx = mo.x - columnX;
            float powerX = -0.5 * conic.x * dx * dx, slopeY = -conic.y * dx;
            for (uint k = 0; k < PIXELS_PER_THREAD; k++) {
                float dy = mo.y - (firstY + float(k));
                float power = powerX + dy * (slopeY - 0.5 * conic.z * dy);
                if (done[k] || power > 0.0) continue;
                float alpha = min(0.99, mo.z * exp(power));
                if (alpha < 1.0 / 255.0) continue;
                float nextT = T[k] * (1.0 - alpha);
                if (nextT < 1e-4) {
                    done[k] = true;
                    remaining--;
                    continue;
                }
                C[k] += batchColor[j].rgb * (alpha * T[k]);
                D[k] += mo.w * (alpha * T[k]);
                blended[k]++;
                last[k] = batchStart + j - start + 1u;
                T[k] = nextT;
            }
        }
    }
    vec3 bg = vec3(pc.bgR, pc.bgG, pc.bgB);
    for (uint k = 0; k < PIXELS_PER_THREAD; k++) {
        if (pixel[k].x >= pc.width || pixel[k].y >= pc.height) continue;
        uint p = pixel[k].y * pc.width + pixel[k].x;
        color[4u * p] = C[k].r + T[k] * bg.r;
        color[4u * p + 1u] = C[k].g + T[k] * bg.g;
        color[4u * p + 2u] = C[k].b + T[k] * bg.b;
        color[4u * p + 3u] = 1.0 - T[k];
        depth[p] = D[k];
        transmittance[p] = T[k];
        contributors[2u * p] = blended[k];
        contributors[2u * p + 1u] = last[k];
    }
}
