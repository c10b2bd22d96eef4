// Backward of stage 4 (blending), one workgroup per 16x16 tile and chunk of
// payload channels (grid z), for both blend modes and payload layouts of
// splat_blend. Each pixel walks its contributors back to front from the
// saved final transmittance and last-contributor index and accumulates the
// gradients of every splat's payload, opacity, depth, 2D mean and conic.
// Alpha mode (3DGS, Kerbl et al. 2023), with C = sum p_i alpha_i T_i + T_N bg,
// recovering T_i = T_{i+1} / (1 - alpha_i):
//   dC/dp_i = alpha_i T_i
//   dC/dalpha_i = p_i T_i - (R_i + T_N bg) / (1 - alpha_i), R_i = sum_{j>i} p_j alpha_j T_j
//   d(1 - T_N)/dalpha_i = T_N / (1 - alpha_i)
// and alpha = min(0.99, o exp(power)) (no gradient where clamped).
// Additive mode: C = sum p_i w_i + bg, alpha = sum w_i, depth = sum w_i z_i,
// so dC/dp_i = w_i and dL/dw_i = p_i . dL/dC + dL/dalpha + z_i dL/ddepth.
// Each chunk adds its channels' share of the opacity, mean and conic
// gradients (they are sums over channels); the chunk-0 workgroups add the
// alpha and depth terms.
//
// Each thread handles PIXELS_PER_THREAD consecutive pixels of a column, as
// the forward blend does (the same value: 1 on GPUs, more on CPU drivers).
// A thread sums its pixels' gradients for a splat in registers; the subgroup
// then sums its lanes' and one lane adds the result to memory (float
// atomics), so the atomics per splat and tile fall with the pixels per
// thread. Subgroups none of whose pixels a splat reaches skip the sums and
// atomics. Splats whose footprint misses a thread's pixels are skipped with
// the forward's own test (splatting/footprint.glsl), so both passes make the
// same decisions. Without a depth gradient (RASTER_FLAG_DEPTH_GRADIENT unset,
// as in training) the depth terms are skipped.
// Twin: RasterizerBackward.blend (Sources/Splatting/RasterizerBackward.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_vote : require
#extension GL_EXT_shader_atomic_float : require
#include "common/layouts.h"

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
layout(std430, binding = 12) readonly buffer Final { float transmittance[]; };     // [H, W] f32
layout(std430, binding = 13) readonly buffer Count { uint contributors[]; };       // [H, W, 2] u32: blended, last index + 1
layout(std430, binding = 14) readonly buffer GradColor { float gradColor[]; };     // [H, W, C] f32: dL/d(output channels)
layout(std430, binding = 15) readonly buffer GradAlpha { float gradAlpha[]; };     // [H, W] f32: dL/d(alpha out)
layout(std430, binding = 16) readonly buffer GradDepth { float gradDepth[]; };     // [H, W] f32: dL/d(depth out)
layout(std430, binding = 17) buffer Gradients { SplatGradient grads[]; };         // [N], accumulated
// [N, payloadStride] f32 dL/d(payload) in slices, accumulated (sparse: the weight slots)
layout(std430, binding = 18) buffer GradPayload0 { float v[]; } gradPayload0;
layout(std430, binding = 19) buffer GradPayload1 { float v[]; } gradPayload1;
layout(std430, binding = 20) buffer GradPayload2 { float v[]; } gradPayload2;
layout(std430, binding = 21) buffer GradPayload3 { float v[]; } gradPayload3;
layout(push_constant) uniform Push { RasterDispatch pc; };
#define SPLAT_CHUNKED_SPLATS_READ
#define SPLAT_CHUNKED_PAYLOAD_READ
#define SPLAT_CHUNKED_PAYLOAD_GRADIENT_ADD
#include "splatting/chunks.glsl"
#include "splatting/footprint.glsl"
#include "splatting/blend_common.glsl"

shared uint batchIndex[BLEND_BATCH];
shared uint tileLast;

// The payload entry of staged splat j for pair q: its channel within this chunk (>= CHUNK: another chunk's).
uint pairChannel(uint j, uint q, uint c0) { return floatBitsToUint(stagedFloat(j, 2u * q)) - c0; }

void main() {
    uint tile = gl_WorkGroupID.y * frame.tilesX + gl_WorkGroupID.x;
    uint t = gl_LocalInvocationIndex;
    uint c0 = gl_WorkGroupID.z * CHUNK;
    bool firstChunk = gl_WorkGroupID.z == 0u;
    bool additive = BLEND_MODE == RASTER_BLEND_ADDITIVE;
    uint start = ranges[2u * tile];
    bool depthGradient = firstChunk && (pc.flags & RASTER_FLAG_DEPTH_GRADIENT) != 0u;   // else dL/d(depth) is zero: skip its terms

    uvec2 first = gl_WorkGroupID.xy * RASTER_TILE_SIZE + uvec2(gl_LocalInvocationID.x, gl_LocalInvocationID.y * PIXELS_PER_THREAD);
    uint last[PIXELS_PER_THREAD];
    vec4 dC[PIXELS_PER_THREAD * CHUNK4];   // dL/dC of this chunk's channels, zero past C
    float dAT[PIXELS_PER_THREAD];         // alpha: dL/d(1 - T_N) T_N; additive: dL/d(alpha out)
    float dD[PIXELS_PER_THREAD];
    float T[PIXELS_PER_THREAD];
    float behindDC[PIXELS_PER_THREAD];    // dot(R_i + T_N bg, dL/dC) over this chunk: R_i, the channels blended behind the current splat
    float behindDepth[PIXELS_PER_THREAD];
    uint threadLast = 0u;                 // positions 0 ..< threadLast may reach this thread's pixels
    for (uint k = 0; k < PIXELS_PER_THREAD; k++) {
        uvec2 pixel = first + uvec2(0u, k);
        bool inside = pixel.x < frame.width && pixel.y < frame.height;
        uint p = pixel.y * frame.width + pixel.x;
        float finalT = inside ? transmittance[p] : 1.0;
        last[k] = inside ? contributors[2u * p + 1u] : 0u;
        behindDC[k] = 0.0;
        for (uint v = 0; v < CHUNK4; v++) dC[k * CHUNK4 + v] = vec4(0.0);
        for (uint ch = 0; ch < CHUNK; ch++) {
            uint c = c0 + ch;
            float g = inside && c < CHANNELS ? gradColor[CHANNELS * p + c] : 0.0;
            dC[k * CHUNK4 + ch / 4u][ch % 4u] = g;
            if (c < CHANNELS) behindDC[k] += finalT * background[c] * g;
        }
        float gAlpha = inside && firstChunk ? gradAlpha[p] : 0.0;
        dAT[k] = additive ? gAlpha : gAlpha * finalT;
        dD[k] = inside && depthGradient ? gradDepth[p] : 0.0;
        T[k] = finalT;
        behindDepth[k] = 0.0;
        threadLast = max(threadLast, last[k]);
    }

    if (t == 0u) tileLast = 0u;
    barrier();
    atomicMax(tileLast, threadLast);
    barrier();
    uint count = tileLast;  // positions 0 ..< count of the tile's list may contribute

    float columnX = float(first.x) + 0.5;
    float firstY = float(first.y) + 0.5, lastY = firstY + float(PIXELS_PER_THREAD - 1u);
    // Batches from the back of the list to the front.
    for (uint batchEnd = count; batchEnd > 0u; ) {
        uint batchStart = batchEnd > BLEND_BATCH ? batchEnd - BLEND_BATCH : 0u;
        barrier();  // the previous batch is consumed
        for (uint s = t; s < BLEND_BATCH; s += THREADS) {
            uint slot = batchStart + s;
            if (slot < batchEnd) {
                uint g = values[start + slot];
                ProjectedSplat sp = loadSplat(g);
                batchMeanOpacity[s] = vec4(sp.meanX, sp.meanY, sp.opacity, sp.depth);
                batchConic[s] = vec4(sp.conicA, sp.conicB, sp.conicC, footprintLevel(sp.opacity));
                stagePayload(s, g, c0);
                batchIndex[s] = g;
            }
        }
        barrier();
        for (uint j = batchEnd - batchStart; j > 0u; j--) {
            uint local = j - 1u;
            uint position = batchStart + local;
            vec4 mo = batchMeanOpacity[local];
            vec4 conic = batchConic[local];

            vec4 gPayload[STAGED4];   // dense: per channel of the chunk; sparse: per staged float (the weight slots)
            for (uint v = 0; v < STAGED4; v++) gPayload[v] = vec4(0.0);
            float gOpacity = 0.0, gDepth = 0.0;
            // Sums of dL/dpower times d.x, d.y, d.x^2, d.x d.y, d.y^2: the mean
            // and conic gradients follow from them once per splat, after the
            // subgroup sum, instead of per pixel.
            vec2 sD = vec2(0.0);
            vec3 sDD = vec3(0.0);
            bool contributes = false;
            // The forward's footprint test: outside it alpha < 1/255, so it skipped the splat too.
            bool near = position < threadLast
                && footprintMeetsColumn(mo.xy, conic.xyz, conic.w, columnX, firstY, lastY);
            if (near) {
                // power = -(a dx^2 + c dy^2) / 2 - b dx dy, with the column's dx fixed
                float dx = mo.x - columnX;
                float powerX = -0.5 * conic.x * dx * dx, slopeY = -conic.y * dx;
                for (uint k = 0; k < PIXELS_PER_THREAD; k++) {
                    vec2 d = vec2(dx, mo.y - (firstY + float(k)));
                    float power = powerX + d.y * (slopeY - 0.5 * conic.z * d.y);
                    float gaussian = exp(power);
                    float raw = mo.z * gaussian;
                    float alpha = additive ? raw : min(0.99, raw);
                    if (position >= last[k] || power > 0.0 || alpha < 1.0 / 255.0) continue;
                    contributes = true;
                    float invOneMinus = 1.0, Ti = 1.0, weight = alpha;
                    if (!additive) {
                        invOneMinus = 1.0 / (1.0 - alpha);
                        Ti = T[k] * invOneMinus;
                        weight = alpha * Ti;
                    }
                    // dot(p_i, dL/dC) over the chunk, and dL/dp_i += weight dL/dC.
                    float payloadDC = 0.0;
                    if (SPARSE_PAIRS > 0u) {
                        for (uint q = 0; q < GROUP_PAIRS; q++) {
                            uint ch = pairChannel(local, q, c0);
                            if (ch >= CHUNK) continue;
                            float g = dC[k * CHUNK4 + ch / 4u][ch % 4u];
                            payloadDC += stagedFloat(local, 2u * q + 1u) * g;
                            gPayload[(2u * q + 1u) / 4u][(2u * q + 1u) % 4u] += weight * g;
                        }
                    } else {
                        for (uint v = 0; v < CHUNK4; v++) {
                            // A last vec4 holding 3 channels (RGB) uses only those.
                            if (CHUNK - 4u * v == 3u) {
                                vec3 g = dC[k * CHUNK4 + v].xyz;
                                payloadDC += dot(batchPayload[local * STAGED4 + v].xyz, g);
                                gPayload[v].xyz += weight * g;
                            } else {
                                vec4 g = dC[k * CHUNK4 + v];
                                payloadDC += dot(batchPayload[local * STAGED4 + v], g);
                                gPayload[v] += weight * g;
                            }
                        }
                    }
                    float dAlpha;
                    if (additive) {
                        dAlpha = payloadDC + dAT[k];
                        if (depthGradient) {
                            gDepth += weight * dD[k];
                            dAlpha += dD[k] * mo.w;
                        }
                    } else {
                        // dC/dalpha_i . dL/dC = p_i T_i - (R_i + T_N bg) / (1 - alpha_i), dotted
                        // with dL/dC once per pixel and splat (behindDC holds the second dot).
                        dAlpha = payloadDC * Ti + (dAT[k] - behindDC[k]) * invOneMinus;
                        if (depthGradient) {
                            gDepth += weight * dD[k];
                            dAlpha += dD[k] * (mo.w * Ti - behindDepth[k] * invOneMinus);
                            behindDepth[k] += mo.w * weight;
                        }
                        behindDC[k] += payloadDC * weight;
                        T[k] = Ti;
                    }
                    float dAlphaOpen = additive || raw <= 0.99 ? dAlpha : 0.0;   // no gradient where alpha was clamped
                    gOpacity += dAlphaOpen * gaussian;
                    vec2 dPowerD = (dAlphaOpen * alpha) * d;
                    sD += dPowerD;
                    sDD += vec3(dPowerD.x * d.x, dPowerD.x * d.y, dPowerD.y * d.y);
                }
            }
            // Sum over the subgroup, then one atomic per field per subgroup;
            // nothing at all where no lane's pixels see the splat.
            if (subgroupAny(contributes)) {
                for (uint v = 0; v < STAGED4; v++) {
                    if (SPARSE_PAIRS == 0u && CHUNK - 4u * v == 3u) gPayload[v].xyz = subgroupAdd(gPayload[v].xyz);
                    else gPayload[v] = subgroupAdd(gPayload[v]);
                }
                gOpacity = subgroupAdd(gOpacity);
                sD = subgroupAdd(sD);
                sDD = subgroupAdd(sDD);
                if (depthGradient) gDepth = subgroupAdd(gDepth);
                if (subgroupElect()) {
                    uint g = batchIndex[local];
                    // power = -(a dx^2 + c dy^2) / 2 - b dx dy with d = mean - pixel
                    atomicAdd(grads[g].meanX, -(conic.x * sD.x + conic.y * sD.y));
                    atomicAdd(grads[g].meanY, -(conic.z * sD.y + conic.y * sD.x));
                    atomicAdd(grads[g].conicA, -0.5 * sDD.x);
                    atomicAdd(grads[g].conicB, -sDD.y);
                    atomicAdd(grads[g].conicC, -0.5 * sDD.z);
                    atomicAdd(grads[g].opacity, gOpacity);
                    if (depthGradient) atomicAdd(grads[g].depth, gDepth);
                    uvec2 at = payloadLocation(g);
                    if (SPARSE_PAIRS > 0u) {
                        uint first = 2u * firstPair();
                        for (uint q = 0; q < GROUP_PAIRS; q++) {
                            if (pairChannel(local, q, c0) < CHUNK) addPayloadGradient(at, first + 2u * q + 1u, gPayload[(2u * q + 1u) / 4u][(2u * q + 1u) % 4u]);
                        }
                    } else {
                        uint end = min(c0 + CHUNK, CHANNELS);
                        for (uint v = 0; v < CHUNK4; v++) addPayloadGradientQuad(at, c0 + 4u * v, end, gPayload[v]);
                    }
                }
            }
        }
        batchEnd = batchStart;
    }
}
