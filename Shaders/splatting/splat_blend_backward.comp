// Backward of stage 4 (blending), one workgroup per 16x16 tile: each pixel
// walks its contributors back to front from the saved final transmittance and
// last-contributor index, recovering T_i = T_{i+1} / (1 - alpha_i), and
// accumulates the gradients of every splat's colour, opacity, depth, 2D mean
// and conic (3DGS, Kerbl et al. 2023). With C = sum c_i alpha_i T_i + T_N bg:
//   dC/dc_i = alpha_i T_i
//   dC/dalpha_i = c_i T_i - (R_i + T_N bg) / (1 - alpha_i), R_i = sum_{j>i} c_j alpha_j T_j
//   d(1 - T_N)/dalpha_i = T_N / (1 - alpha_i)
// and alpha = min(0.99, o exp(power)) (no gradient where clamped).
// All lanes walk the same splats, so each gradient is summed over the
// subgroup first and added to memory once per subgroup (float atomics).
// Twin: RasterizerBackward.blend (Sources/Splatting/RasterizerBackward.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_vote : require
#extension GL_EXT_shader_atomic_float : require
#include "common/layouts.h"

layout(local_size_x = 16, local_size_y = 16) in;

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
shared vec4 batchConic[RASTER_BATCH];         // a, b, c, -
shared vec4 batchColor[RASTER_BATCH];         // r, g, b, -
shared uint batchIndex[RASTER_BATCH];
shared uint tileLast;

void main() {
    uint tile = gl_WorkGroupID.y * pc.tilesX + gl_WorkGroupID.x;
    uvec2 pixel = gl_WorkGroupID.xy * RASTER_TILE_SIZE + gl_LocalInvocationID.xy;
    bool inside = pixel.x < pc.width && pixel.y < pc.height;
    uint p = pixel.y * pc.width + pixel.x;
    uint t = gl_LocalInvocationIndex;
    uint start = ranges[2u * tile], end = ranges[2u * tile + 1u];

    float finalT = inside ? transmittance[p] : 1.0;
    uint last = inside ? contributors[2u * p + 1u] : 0u;
    vec3 dC = inside ? vec3(gradColor[3u * p], gradColor[3u * p + 1u], gradColor[3u * p + 2u]) : vec3(0.0);
    float dA = inside ? gradAlpha[p] : 0.0;
    float dD = inside ? gradDepth[p] : 0.0;
    vec3 bg = vec3(pc.bgR, pc.bgG, pc.bgB);
    vec2 centre = vec2(pixel) + 0.5;

    if (t == 0u) tileLast = 0u;
    barrier();
    atomicMax(tileLast, last);
    barrier();
    uint count = tileLast;  // positions 0 ..< count of the tile's list may contribute

    float T = finalT;
    vec3 behind = vec3(0.0);   // R_i: colour blended behind the current splat
    float behindDepth = 0.0;
    // Batches from the back of the list to the front.
    for (uint batchEnd = count; batchEnd > 0u; ) {
        uint batchStart = batchEnd > RASTER_BATCH ? batchEnd - RASTER_BATCH : 0u;
        barrier();  // the previous batch is consumed
        uint slot = batchStart + t;
        if (t < RASTER_BATCH && slot < batchEnd) {
            uint g = values[start + slot];
            ProjectedSplat s = loadSplat(g);
            batchMeanOpacity[t] = vec4(s.meanX, s.meanY, s.opacity, s.depth);
            batchConic[t] = vec4(s.conicA, s.conicB, s.conicC, 0.0);
            batchColor[t] = vec4(s.colorR, s.colorG, s.colorB, 0.0);
            batchIndex[t] = g;
        }
        barrier();
        for (uint j = batchEnd - batchStart; j > 0u; j--) {
            uint local = j - 1u;
            uint position = batchStart + local;
            vec4 mo = batchMeanOpacity[local];
            vec4 conic = batchConic[local];
            vec3 color = batchColor[local].rgb;
            vec2 d = mo.xy - centre;
            float power = -0.5 * (conic.x * d.x * d.x + conic.z * d.y * d.y) - conic.y * d.x * d.y;
            float gaussian = exp(power);
            float raw = mo.z * gaussian;
            float alpha = min(0.99, raw);
            bool contributes = inside && position < last && power <= 0.0 && alpha >= 1.0 / 255.0;

            vec3 gColor = vec3(0.0);
            float gOpacity = 0.0, gDepth = 0.0;
            vec2 gMean = vec2(0.0);
            vec3 gConic = vec3(0.0);
            if (contributes) {
                float Ti = T / (1.0 - alpha);
                float weight = alpha * Ti;
                gColor = weight * dC;
                gDepth = weight * dD;
                float dAlpha = dot(color * Ti - (behind + finalT * bg) / (1.0 - alpha), dC)
                    + dA * finalT / (1.0 - alpha)
                    + dD * (mo.w * Ti - behindDepth / (1.0 - alpha));
                behind += color * weight;
                behindDepth += mo.w * weight;
                T = Ti;
                if (raw <= 0.99) {
                    gOpacity = dAlpha * gaussian;
                    float dPower = dAlpha * alpha;
                    gMean = dPower * vec2(-(conic.x * d.x + conic.y * d.y), -(conic.z * d.y + conic.y * d.x));
                    gConic = dPower * vec3(-0.5 * d.x * d.x, -d.x * d.y, -0.5 * d.y * d.y);
                }
            }
            // Sum over the subgroup, then one atomic per field per subgroup.
            gColor = subgroupAdd(gColor);
            gOpacity = subgroupAdd(gOpacity);
            gDepth = subgroupAdd(gDepth);
            gMean = subgroupAdd(gMean);
            gConic = subgroupAdd(gConic);
            bool anyContributes = subgroupAny(contributes);
            if (anyContributes && subgroupElect()) {
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
        batchEnd = batchStart;
    }
}
