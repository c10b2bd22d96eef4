// Backward of stage 4 (blending), one workgroup per 16x16 tile: each pixel
// walks its contributors back to front from the saved final transmittance and
// last-contributor index, recovering T_i = T_{i+1} / (1 - alpha_i), and
// accumulates the gradients of every splat's colour, opacity, depth, 2D mean
// and conic (3DGS, Kerbl et al. 2023). With C = sum c_i alpha_i T_i + T_N bg:
//   dC/dc_i = alpha_i T_i
//   dC/dalpha_i = c_i T_i - (R_i + T_N bg) / (1 - alpha_i), R_i = sum_{j>i} c_j alpha_j T_j
//   d(1 - T_N)/dalpha_i = T_N / (1 - alpha_i)
// and alpha = min(0.99, o exp(power)) (no gradient where clamped).
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

layout(constant_id = SPEC_VARIANT) const uint PIXELS_PER_THREAD = 1;
const uint ROWS = RASTER_TILE_SIZE / PIXELS_PER_THREAD;    // thread rows per tile
const uint THREADS = RASTER_TILE_SIZE * ROWS;
layout(local_size_x = 16, local_size_y_id = SPEC_ITEMS_PER_THREAD) in;  // y = ROWS, set by the host

layout(std430, binding = 0) readonly buffer Splats0 { ProjectedSplat v[]; } splats0;
layout(std430, binding = 1) readonly buffer Splats1 { ProjectedSplat v[]; } splats1;
layout(std430, binding = 2) readonly buffer Splats2 { ProjectedSplat v[]; } splats2;
layout(std430, binding = 3) readonly buffer Splats3 { ProjectedSplat v[]; } splats3;
layout(std430, binding = 4) readonly buffer Values { uint values[]; };            // [I] u32, sorted
layout(std430, binding = 5) readonly buffer Ranges { uint ranges[]; };            // [tiles, 2] u32
layout(std430, binding = 6) readonly buffer Final { float transmittance[]; };     // [H, W] f32
layout(std430, binding = 7) readonly buffer Count { uint contributors[]; };       // [H, W, 2] u32: blended, last index + 1
layout(std430, binding = 8) readonly buffer GradColor { float gradColor[]; };     // [H, W, 3] f32: dL/d(output colour)
layout(std430, binding = 9) readonly buffer GradAlpha { float gradAlpha[]; };     // [H, W] f32: dL/d(1 - T)
layout(std430, binding = 10) readonly buffer GradDepth { float gradDepth[]; };    // [H, W] f32: dL/d(sum T alpha z)
layout(std430, binding = 11) buffer Gradients { SplatGradient grads[]; };         // [N], accumulated
layout(push_constant) uniform Push { RasterParams pc; };
#define SPLAT_CHUNKED_SPLATS_READ
#include "splatting/chunks.glsl"
#include "splatting/footprint.glsl"

shared vec4 batchMeanOpacity[RASTER_BATCH];   // mean.x, mean.y, opacity, depth
shared vec4 batchConic[RASTER_BATCH];         // a, b, c, footprint level
shared vec4 batchColor[RASTER_BATCH];         // r, g, b, -
shared uint batchIndex[RASTER_BATCH];
shared uint tileLast;

void main() {
    uint tile = gl_WorkGroupID.y * pc.tilesX + gl_WorkGroupID.x;
    uint t = gl_LocalInvocationIndex;
    uint start = ranges[2u * tile];
    vec3 bg = vec3(pc.bgR, pc.bgG, pc.bgB);
    bool depthGradient = (pc.flags & RASTER_FLAG_DEPTH_GRADIENT) != 0u;   // else dL/d(depth) is zero: skip its terms

    uvec2 first = gl_WorkGroupID.xy * RASTER_TILE_SIZE + uvec2(gl_LocalInvocationID.x, gl_LocalInvocationID.y * PIXELS_PER_THREAD);
    float finalT[PIXELS_PER_THREAD];
    uint last[PIXELS_PER_THREAD];
    vec3 dC[PIXELS_PER_THREAD];
    float dAT[PIXELS_PER_THREAD];         // dL/d(1 - T_N) T_N
    float dD[PIXELS_PER_THREAD];
    float T[PIXELS_PER_THREAD];
    float behindDC[PIXELS_PER_THREAD];    // dot(R_i + T_N bg, dL/dC): R_i, the colour blended behind the current splat
    float behindDepth[PIXELS_PER_THREAD];
    uint threadLast = 0u;                 // positions 0 ..< threadLast may reach this thread's pixels
    for (uint k = 0; k < PIXELS_PER_THREAD; k++) {
        uvec2 pixel = first + uvec2(0u, k);
        bool inside = pixel.x < pc.width && pixel.y < pc.height;
        uint p = pixel.y * pc.width + pixel.x;
        finalT[k] = inside ? transmittance[p] : 1.0;
        last[k] = inside ? contributors[2u * p + 1u] : 0u;
        dC[k] = inside ? vec3(gradColor[3u * p], gradColor[3u * p + 1u], gradColor[3u * p + 2u]) : vec3(0.0);
        dAT[k] = inside ? gradAlpha[p] * finalT[k] : 0.0;
        dD[k] = inside ? gradDepth[p] : 0.0;
        T[k] = finalT[k];
        behindDC[k] = dot(finalT[k] * bg, dC[k]);
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
        uint batchStart = batchEnd > RASTER_BATCH ? batchEnd - RASTER_BATCH : 0u;
        barrier();  // the previous batch is consumed
        for (uint s = t; s < RASTER_BATCH; s += THREADS) {
            uint slot = batchStart + s;
            if (slot < batchEnd) {
                uint g = values[start + slot];
                ProjectedSplat sp = loadSplat(g);
                batchMeanOpacity[s] = vec4(sp.meanX, sp.meanY, sp.opacity, sp.depth);
                batchConic[s] = vec4(sp.conicA, sp.conicB, sp.conicC, footprintLevel(sp.opacity));
                batchColor[s] = vec4(sp.colorR, sp.colorG, sp.colorB, 0.0);
                batchIndex[s] = g;
            }
        }
        barrier();
        for (uint j = batchEnd - batchStart; j > 0u; j--) {
            uint local = j - 1u;
            uint position = batchStart + local;
            vec4 mo = batchMeanOpacity[local];
            vec4 conic = batchConic[local];
            vec4 colorRadius = batchColor[local];

            vec3 gColor = vec3(0.0);
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
                    float alpha = min(0.99, raw);
                    if (position >= last[k] || power > 0.0 || alpha < 1.0 / 255.0) continue;
                    contributes = true;
                    float invOneMinus = 1.0 / (1.0 - alpha);
                    float Ti = T[k] * invOneMinus;
                    float weight = alpha * Ti;
                    gColor += weight * dC[k];
                    // dC/dalpha_i . dL/dC = c_i T_i - (R_i + T_N bg) / (1 - alpha_i), dotted
                    // with dL/dC once per pixel and splat (behindDC holds the second dot).
                    float colorDC = dot(colorRadius.rgb, dC[k]);
                    float dAlpha = colorDC * Ti + (dAT[k] - behindDC[k]) * invOneMinus;
                    if (depthGradient) {
                        gDepth += weight * dD[k];
                        dAlpha += dD[k] * (mo.w * Ti - behindDepth[k] * invOneMinus);
                        behindDepth[k] += mo.w * weight;
                    }
                    behindDC[k] += colorDC * weight;
                    T[k] = Ti;
                    float dAlphaOpen = raw <= 0.99 ? dAlpha : 0.0;   // no gradient where alpha was clamped
                    gOpacity += dAlphaOpen * gaussian;
                    vec2 dPowerD = (dAlphaOpen * alpha) * d;
                    sD += dPowerD;
                    sDD += vec3(dPowerD.x * d.x, dPowerD.x * d.y, dPowerD.y * d.y);
                }
            }
            // Sum over the subgroup, then one atomic per field per subgroup;
            // nothing at all where no lane's pixels see the splat.
            if (subgroupAny(contributes)) {
                gColor = subgroupAdd(gColor);
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
                    atomicAdd(grads[g].colorR, gColor.r);
                    atomicAdd(grads[g].colorG, gColor.g);
                    atomicAdd(grads[g].colorB, gColor.b);
                    if (depthGradient) atomicAdd(grads[g].depth, gDepth);
                }
            }
        }
        batchEnd = batchStart;
    }
}
