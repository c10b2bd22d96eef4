// Rasterizer stage 4, one workgroup per 16x16 tile and chunk of payload
// channels (grid z): blending of the tile's depth-sorted splats, staged
// through shared memory in batches. Two blend modes (SPEC_BLEND_MODE):
//   alpha (3DGS, Kerbl et al. 2023): C = sum_i p_i alpha_i T_i + T_N bg, front
//     to back, alpha = min(0.99, o exp(power)), stopping once a pixel's
//     transmittance is spent; alpha out = 1 - T_N;
//   additive (GaussianImage, Zhang et al. 2024): C = sum_i p_i w_i + bg with
//     w = o exp(power), order-independent; alpha out = sum_i w_i, T out = 1.
// Both skip weights below 1/255 (the footprint's level). The payload is C
// dense channels or K sparse (channel, weight) pairs splatted into L
// channels (SPEC_SPARSE_PAIRS). Constants of gsplat's classic mode
// (docs/conventions.md). Outputs what the backward pass needs: final T and
// the last contributor (written by the chunk-0 workgroups).
//
// Each thread blends PIXELS_PER_THREAD consecutive pixels of a column (1 on
// GPUs; more on CPU drivers, where each splat read from shared memory is then
// reused for several pixels). A splat whose footprint (splatting/footprint.glsl:
// the ellipse where alpha >= 1/255) misses a thread's column of pixels is
// skipped without evaluating them; the result is the same.
// Twins: RasterizerReference.renderTiled (3D, RGB) and RasterizerBackward.forward
// (any payload and mode; Sources/Splatting).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"

// [N] projected splats and [N, payloadStride] payload in RASTER_CHUNKS slices (splatting/chunks.glsl)
layout(std430, binding = 0) readonly buffer Splats0 { ProjectedSplat v[]; } splats0;
layout(std430, binding = 1) readonly buffer Splats1 { ProjectedSplat v[]; } splats1;
layout(std430, binding = 2) readonly buffer Splats2 { ProjectedSplat v[]; } splats2;
layout(std430, binding = 3) readonly buffer Splats3 { ProjectedSplat v[]; } splats3;
layout(std430, binding = 4) readonly buffer Payload0 { float v[]; } payload0;
layout(std430, binding = 5) readonly buffer Payload1 { float v[]; } payload1;
layout(std430, binding = 6) readonly buffer Payload2 { float v[]; } payload2;
layout(std430, binding = 7) readonly buffer Payload3 { float v[]; } payload3;
layout(std430, binding = 8) readonly buffer Values { uint values[]; };            // [I] u32, sorted
layout(std430, binding = 9) readonly buffer Ranges { uint ranges[]; };            // [tiles, 2] u32
layout(std140, binding = 10) uniform Frame { RasterFrame frame; };
layout(std430, binding = 11) readonly buffer Background { float background[]; };  // [C] f32
layout(std430, binding = 12) writeonly buffer Color { float color[]; };            // [H, W, C + 1] f32 (channels over bg, alpha)
layout(std430, binding = 13) writeonly buffer Depth { float depth[]; };            // [H, W] f32, sum T alpha z
layout(std430, binding = 14) writeonly buffer Final { float transmittance[]; };    // [H, W] f32
layout(std430, binding = 15) writeonly buffer Count { uint contributors[]; };      // [H, W, 2] u32: blended, last index + 1
layout(push_constant) uniform Push { RasterDispatch pc; };
#define SPLAT_CHUNKED_SPLATS_READ
#define SPLAT_CHUNKED_PAYLOAD_READ
#include "splatting/chunks.glsl"
#include "splatting/footprint.glsl"
#include "splatting/blend_common.glsl"

shared uint doneThreads;   // threads all of whose pixels are done

void main() {
    uint tile = gl_WorkGroupID.y * frame.tilesX + gl_WorkGroupID.x;
    uint t = gl_LocalInvocationIndex;
    uint c0 = gl_WorkGroupID.z * CHUNK;
    bool firstChunk = gl_WorkGroupID.z == 0u;
    bool additive = BLEND_MODE == RASTER_BLEND_ADDITIVE;
    uint start = ranges[2u * tile], end = ranges[2u * tile + 1u];

    uvec2 pixel[PIXELS_PER_THREAD];
    float T[PIXELS_PER_THREAD];
    // Dense payloads: vec4 accumulators (registers); sparse: one float per
    // channel, added to at data-dependent channels.
    vec4 acc[PIXELS_PER_THREAD * (SPARSE_PAIRS > 0u ? 1u : CHUNK4)];
    float sparseAcc[PIXELS_PER_THREAD * (SPARSE_PAIRS > 0u ? CHUNK : 1u)];
    float A[PIXELS_PER_THREAD];       // additive: sum of weights
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
        if (SPARSE_PAIRS > 0u) {
            for (uint ch = 0; ch < CHUNK; ch++) sparseAcc[k * CHUNK + ch] = 0.0;
        } else {
            for (uint v = 0; v < CHUNK4; v++) acc[k * CHUNK4 + v] = vec4(0.0);
        }
        A[k] = 0.0;
        D[k] = 0.0;
        blended[k] = 0u;
        last[k] = 0u;
        done[k] = pixel[k].x >= frame.width || pixel[k].y >= frame.height;
        if (!done[k]) remaining++;
    }
    // Each thread reports once, between batches, when its last pixel is done
    // (an atomic per finished pixel inside the splat loop costs more on CPU
    // drivers, where atomics run lane by lane).
    bool reported = false;

    for (uint batchStart = start; batchStart < end; batchStart += BLEND_BATCH) {
        if (remaining == 0u && !reported) {
            reported = true;
            atomicAdd(doneThreads, 1u);
        }
        barrier();  // the previous batch is consumed and doneThreads is final
        if (doneThreads == THREADS) break;
        for (uint s = t; s < BLEND_BATCH; s += THREADS) {
            uint k = batchStart + s;
            if (k < end) {
                uint g = values[k];
                ProjectedSplat sp = loadSplat(g);
                batchMeanOpacity[s] = vec4(sp.meanX, sp.meanY, sp.opacity, sp.depth);
                batchConic[s] = vec4(sp.conicA, sp.conicB, sp.conicC, footprintLevel(sp.opacity));
                stagePayload(s, g, c0);
            }
        }
        barrier();
        uint n = min(BLEND_BATCH, end - batchStart);
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
                float weight;
                if (additive) {
                    weight = mo.z * exp(power);
                    if (weight < 1.0 / 255.0) continue;
                    A[k] += weight;
                } else {
                    float alpha = min(0.99, mo.z * exp(power));
                    if (alpha < 1.0 / 255.0) continue;
                    float nextT = T[k] * (1.0 - alpha);
                    if (nextT < 1e-4) {
                        done[k] = true;
                        remaining--;
                        continue;
                    }
                    weight = alpha * T[k];
                    T[k] = nextT;
                }
                if (SPARSE_PAIRS > 0u) {
                    for (uint q = 0; q < GROUP_PAIRS; q++) {
                        uint ch = floatBitsToUint(stagedFloat(j, 2u * q)) - c0;
                        if (ch < CHUNK) sparseAcc[k * CHUNK + ch] += stagedFloat(j, 2u * q + 1u) * weight;
                    }
                } else {
                    for (uint v = 0; v < CHUNK4; v++) acc[k * CHUNK4 + v] += batchPayload[j * STAGED4 + v] * weight;
                }
                if (firstChunk) D[k] += mo.w * weight;
                blended[k]++;
                last[k] = batchStart + j - start + 1u;
            }
        }
    }
    uint stride = CHANNELS + 1u;
    for (uint k = 0; k < PIXELS_PER_THREAD; k++) {
        if (pixel[k].x >= frame.width || pixel[k].y >= frame.height) continue;
        uint p = pixel[k].y * frame.width + pixel[k].x;
        float behind = additive ? 1.0 : T[k];   // the background's weight
        for (uint ch = 0; ch < CHUNK && c0 + ch < CHANNELS; ch++) {
            float value = SPARSE_PAIRS > 0u ? sparseAcc[k * CHUNK + ch] : acc[k * CHUNK4 + ch / 4u][ch % 4u];
            color[stride * p + c0 + ch] = value + behind * background[c0 + ch];
        }
        if (!firstChunk) continue;
        color[stride * p + CHANNELS] = additive ? A[k] : 1.0 - T[k];
        depth[p] = D[k];
        transmittance[p] = T[k];
        contributors[2u * p] = blended[k];
        contributors[2u * p + 1u] = last[k];
    }
}
