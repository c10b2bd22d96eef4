// Rasterizer stage 4, one workgroup per 16x16 tile: front-to-back alpha
// blending of the tile's depth-sorted splats, staged through shared memory in
// batches, stopping once every pixel's transmittance is spent (3DGS, Kerbl et
// al. 2023; constants of gsplat's classic mode, CONVENTIONS.md).
// Outputs what the backward pass needs: final T and the last contributor.
// Twin: RasterizerReference.renderTiled (Sources/Splatting/RasterizerReference.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"

layout(local_size_x = 16, local_size_y = 16) in;  // RASTER_TILE_SIZE^2 threads, one per pixel

layout(std430, binding = 0) readonly buffer Splats { ProjectedSplat splats[]; };  // [N]
layout(std430, binding = 1) readonly buffer Values { uint values[]; };            // [I] u32, sorted
layout(std430, binding = 2) readonly buffer Ranges { uint ranges[]; };            // [tiles, 2] u32
layout(std430, binding = 3) writeonly buffer Color { float color[]; };            // [H, W, 4] f32 (rgb over bg, alpha)
layout(std430, binding = 4) writeonly buffer Depth { float depth[]; };            // [H, W] f32, sum T alpha z
layout(std430, binding = 5) writeonly buffer Final { float transmittance[]; };    // [H, W] f32
layout(std430, binding = 6) writeonly buffer Count { uint contributors[]; };      // [H, W, 2] u32: blended, last index + 1
layout(push_constant) uniform Push { RasterParams pc; };

shared vec4 batchMeanOpacity[RASTER_BATCH];   // mean.x, mean.y, opacity, depth
shared vec4 batchConic[RASTER_BATCH];         // a, b, c, -
shared vec4 batchColor[RASTER_BATCH];         // r, g, b, -
shared uint doneCount;

void main() {
    uint tile = gl_WorkGroupID.y * pc.tilesX + gl_WorkGroupID.x;
    uvec2 pixel = gl_WorkGroupID.xy * RASTER_TILE_SIZE + gl_LocalInvocationID.xy;
    bool inside = pixel.x < pc.width && pixel.y < pc.height;
    vec2 centre = vec2(pixel) + 0.5;
    uint start = ranges[2u * tile], end = ranges[2u * tile + 1u];
    uint t = gl_LocalInvocationIndex;

    float T = 1.0;
    vec3 C = vec3(0.0);
    float D = 0.0;
    uint blended = 0u, last = 0u;
    bool done = !inside;
    if (t == 0u) doneCount = 0u;
    barrier();
    if (done) atomicAdd(doneCount, 1u);

    for (uint batchStart = start; batchStart < end; batchStart += RASTER_BATCH) {
        barrier();  // the previous batch is consumed and doneCount is final
        if (doneCount == RASTER_TILE_SIZE * RASTER_TILE_SIZE) break;
        uint k = batchStart + t;
        if (k < end) {
            ProjectedSplat s = splats[values[k]];
            batchMeanOpacity[t] = vec4(s.meanX, s.meanY, s.opacity, s.depth);
            batchConic[t] = vec4(s.conicA, s.conicB, s.conicC, 0.0);
            batchColor[t] = vec4(s.colorR, s.colorG, s.colorB, 0.0);
        }
        barrier();
        uint n = min(RASTER_BATCH, end - batchStart);
        for (uint j = 0; j < n && !done; j++) {
            vec4 mo = batchMeanOpacity[j];
            vec4 conic = batchConic[j];
            vec2 d = mo.xy - centre;
            float power = -0.5 * (conic.x * d.x * d.x + conic.z * d.y * d.y) - conic.y * d.x * d.y;
            if (power > 0.0) continue;
            float alpha = min(0.99, mo.z * exp(power));
            if (alpha < 1.0 / 255.0) continue;
            float nextT = T * (1.0 - alpha);
            if (nextT < 1e-4) {
                done = true;
                atomicAdd(doneCount, 1u);
                break;
            }
            C += batchColor[j].rgb * (alpha * T);
            D += mo.w * (alpha * T);
            blended++;
            last = batchStart + j - start + 1u;
            T = nextT;
        }
    }
    if (!inside) return;
    uint p = pixel.y * pc.width + pixel.x;
    vec3 bg = vec3(pc.bgR, pc.bgG, pc.bgB);
    color[4u * p] = C.r + T * bg.r;
    color[4u * p + 1u] = C.g + T * bg.g;
    color[4u * p + 2u] = C.b + T * bg.b;
    color[4u * p + 3u] = 1.0 - T;
    depth[p] = D;
    transmittance[p] = T;
    contributors[2u * p] = blended;
    contributors[2u * p + 1u] = last;
}
