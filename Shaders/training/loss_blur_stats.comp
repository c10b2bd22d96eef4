// Image loss, step 1 (horizontal pass): per pixel and channel, the 11-tap
// Gaussian sums along x of x, y, x^2, y^2 and xy (zero padding), where x is
// the render and y the target. Twin: ImageLoss.reference.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "training/loss_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Rendered { float rendered[]; };  // [H, W, 4] f32
layout(std430, binding = 1) readonly buffer Target { uint target[]; };       // [H, W] u32 RGBA8
layout(std430, binding = 2) writeonly buffer Stats { float stats[]; };       // [H, W, 15] f32
layout(push_constant) uniform Push { LossParams pc; };

void main() {
    uint p = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (p >= pc.width * pc.height) return;
    int px = int(p % pc.width), py = int(p / pc.width);
    vec3 sx = vec3(0.0), sy = vec3(0.0), sxx = vec3(0.0), syy = vec3(0.0), sxy = vec3(0.0);
    for (int k = -SSIM_RADIUS; k <= SSIM_RADIUS; k++) {
        int qx = px + k;
        if (qx < 0 || qx >= int(pc.width)) continue;
        uint q = uint(py) * pc.width + uint(qx);
        vec3 x = vec3(rendered[4u * q], rendered[4u * q + 1u], rendered[4u * q + 2u]);
        vec3 y = unpackRGB(target[q]);
        float w = ssimWeight(k);
        sx += w * x; sy += w * y; sxx += w * x * x; syy += w * y * y; sxy += w * x * y;
    }
    uint o = 15u * p;
    for (uint c = 0; c < 3u; c++) {
        stats[o + c] = sx[c]; stats[o + 3u + c] = sy[c]; stats[o + 6u + c] = sxx[c];
        stats[o + 9u + c] = syy[c]; stats[o + 12u + c] = sxy[c];
    }
}
