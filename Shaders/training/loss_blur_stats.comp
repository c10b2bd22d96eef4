// Image loss, step 1 (horizontal pass): per pixel and channel, the 11-tap
// Gaussian sums along x of x, y, x^2, y^2 and xy (zero padding), where x is
// the render and y the target. Each thread filters PIXELS consecutive pixels
// of a row (loss_common.glsl). Twin: ImageLoss.reference.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "training/loss_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Rendered { vec4 rendered[]; };  // [H, W] RGBA f32
layout(std430, binding = 1) readonly buffer Target { uint target[]; };       // [H, W] u32 RGBA8
layout(std430, binding = 2) writeonly buffer Stats { vec4 stats[]; };        // [H, W, 4] vec4: packStats
layout(push_constant) uniform Push { LossParams pc; };

void main() {
    uint segments = (pc.width + PIXELS - 1u) / PIXELS;
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= segments * pc.height) return;
    int py = int(i / segments), px0 = int((i % segments) * PIXELS);
    vec3 sx[PIXELS], sy[PIXELS], sxx[PIXELS], syy[PIXELS], sxy[PIXELS];
    for (uint k = 0; k < PIXELS; k++) {
        sx[k] = vec3(0.0); sy[k] = vec3(0.0); sxx[k] = vec3(0.0); syy[k] = vec3(0.0); sxy[k] = vec3(0.0);
    }
    // Input column px0 + r feeds output k with weight ssimWeight(r - k).
    float weights[PIXELS];
    for (uint k = 0; k < PIXELS; k++) weights[k] = 0.0;
    for (int r = -SSIM_RADIUS; r < int(PIXELS) + SSIM_RADIUS; r++) {
        shiftWeights(weights, r);
        int qx = px0 + r;
        if (qx < 0 || qx >= int(pc.width)) continue;
        uint q = uint(py) * pc.width + uint(qx);
        vec3 x = rendered[q].rgb;
        vec3 y = targetRGB(target[q], pc);
        vec3 xx = x * x, yy = y * y, xy = x * y;
        for (int k = 0; k < int(PIXELS); k++) {
            float w = weights[k];
            sx[k] += w * x; sy[k] += w * y; sxx[k] += w * xx; syy[k] += w * yy; sxy[k] += w * xy;
        }
    }
    for (uint k = 0; k < PIXELS; k++) {
        if (px0 + int(k) >= int(pc.width)) break;
        uint o = 4u * (uint(py) * pc.width + uint(px0) + k);
        vec4 packed[4] = packStats(sx[k], sy[k], sxx[k], syy[k], sxy[k]);
        for (uint j = 0; j < 4u; j++) stats[o + j] = packed[j];
    }
}
