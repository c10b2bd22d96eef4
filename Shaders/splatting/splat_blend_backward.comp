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
// atomics. Splats whose extent misses a thread's pixels are skipped with the
// forward's own test, so both passes make the same decisions.
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

shared vec4 batchMeanOpacity[RASTER_BATCH];   // mean.x, mean.y, opacity, depth
shared vec4 batchConic[RASTER_BATCH];         // a, b, c, radius x
shared vec4 batchColor[RASTER_BATCH];         // r, g, b, radius y
shared uint batchIndex[RASTER_BATCH];
shared uint tileLast;

void main() {
    uint tile = gl_WorkGroupID.y * pc.tilesX + gl_WorkGroupID.x;
    uint t = gl_LocalInvocationIndex;
    uint start = ranges[2u * tile];
    vec3 bg = vec3(pc.bgR, pc.bgG, pc.bgB);

    uvec2 first = gl_WorkGroupID.xy * RASTER_TILE_SIZE + uvec2(gl_LocalInvocationID.x, gl_LocalInvocationID.y * PIXELS_PER_THREAD);
    float finalT[PIXELS_PER_THREAD];
    uint last[PIXELS_PER_THREAD];
    vec3 dC[PIXELS_PER_THREAD];
    float dA[PIXELS_PER_THREAD];
    float dD[PIXELS_PER_THREAD];
    float T[PIXELS_PER_THREAD];
    vec3 behind[PIXELS_PER_THREAD];       // R_i: colour blended behind the current splat
    float behindDepth[PIXELS_PER_THREAD];
    uint threadLast = 0u;                 // positions 0 ..< threadLast may reach this thread's pixels
    for (uint k = 0; k < PIXELS_PER_THREAD; k++) {
        uvec2 pixel = first + uvec2(0u, k);
        bool inside = pixel.x < pc.width && pixel.y < pc.height;
        uint p = pixel.y * pc.width + pixel.x;
        finalT[k] = inside ? transmittance[p] : 1.0;
        last[k] = inside ? contributors[2u * p + 1u] : 0u;
        dC[k] = inside ? vec3(gradColor[3u * p], gradColor[3u * p + 1u], gradColor[3u * p + 2u]) : vec3(0.0);
        dA[k] = inside ? gradAlpha[p] : 0.0;
        dD[k] = inside ? gradDepth[p] : 0.0;
        T[k] = finalT[k];
        behind[k] = vec3(0.0);
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
                batchConic[s] = vec4(sp.conicA, sp.conicB, sp.conicC, sp.radiusX);
                batchColor[s] = vec4(sp.colorR, sp.colorG, sp.colorB, sp.radiusY);
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
            vec2 gMean = vec2(0.0);
            vec3 gConic = vec3(0.0);
            bool contributes = false;
            // The forward's extent test: outside it alpha < 1/255, so it skipped the splat too.
            bool near = position < threadLast
                && !(abs(mo.x - columnX) > conic.w || mo.y + colorRadius.w < firstY || mo.y - colorRadius.w > lastY);
            if (near) {
                for (uint k = 0; k < PIXELS_PER_THREAD; k++) {
                    if (position >= last[k]) continue;
                    vec2 d = mo.xy - vec2(columnX, firstY + float(k));
                    float power = -0.5 * (conic.x * d.x * d.x + conic.z * d.y * d.y) - conic.y * d.x * d.y;
                    if (power > 0.0) continue;
                    float gaussian = exp(power);
                    float raw = mo.z * gaussian;
                    float alpha = min(0.99, raw);
                    if (alpha < 1.0 / 255.0) continue;
                    contributes = true;
                    float oneMinus = 1.0 - alpha;
                    float Ti = T[k] / oneMinus;
                    float weight = alpha * Ti;
                    gColor += weight * dC[k];
                    gDepth += weight * dD[k];
                    float dAlpha = dot(colorRadius.rgb * Ti - (behind[k] + finalT[k] * bg) / oneMinus, dC[k])
                        + dA[k] * finalT[k] / oneMinus
                        + dD[k] * (mo.w * Ti - behindDepth[k] / oneMinus);
                    behind[k] += colorRadius.rgb * weight;
                    behindDepth[k] += mo.w * weight;
                    T[k] = Ti;
                    if (raw <= 0.99) {
                        gOpacity += dAlpha * gaussian;
                        float dPower = dAlpha * alpha;
                        gMean += dPower * vec2(-(conic.x * d.x + conic.y * d.y), -(conic.z * d.y + conic.y * d.x));
                        gConic += dPower * vec3(-0.5 * d.x * d.x, -d.x * d.y, -0.5 * d.y * d.y);
                    }
                }
            }
            // Sum over the subgroup, then one atomic per field per subgroup;
            // nothing at all where no lane's pixels see the splat.
            if (subgroupAny(contributes)) {
                gColor = subgroupAdd(gColor);
                gOpacity = subgroupAdd(gOpacity);
                gDepth = subgroupAdd(gDepth);
                gMean = subgroupAdd(gMean);
                gConic = subgroupAdd(gConic);
                if (subgroupElect()) {
                    uint g = batchIndex[local];
                    atomicAdd(grads[g].meanX, gMean.x);
                    atomicAdd(grads[g].meanY, gMean.y);
                    atomicAdd(grads[g].conicA, gConic.x);
                    atomicAdd(grads[g].conicB, gConic.y);
                    atomicAdd(grads[g].conicC, gConic.z);
                    atomicAdd(grads[g].opacity, gOpacity);
                    atomicAdd(grads[g].colorR, gColor.r);
                    atomicAdd(grads[g].colorG, gColor.g);
                    atomicAdd(grads[g].colorB, gColor.b);
                    atomicAdd(grads[g].depth, gDepth);
                }
            }
        }
        batchEnd = batchStart;
    }
}
