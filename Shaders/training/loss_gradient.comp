// Image loss, steps 3 and 4: the 11x11 Gaussian blur of the partials (one
// axis per dispatch, AXIS = SPEC_VARIANT: 0 horizontal, 1 vertical), and on
// the vertical pass the gradient w.r.t. the render:
//   dL/dx_p = (1 - lambda) sign(x_p - y_p) / (3 H W) + G*A + 2 x_p G*B + y_p G*C,
// plus the per-pixel L1 sum for the loss value. Twin: ImageLoss.reference.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "training/loss_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(constant_id = SPEC_VARIANT) const uint AXIS = 0;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Input { float partialsIn[]; };    // [H, W, 9] f32
layout(std430, binding = 1) writeonly buffer Output { float partialsOut[]; }; // [H, W, 9] f32 (horizontal pass)
layout(std430, binding = 2) readonly buffer Rendered { float rendered[]; };   // [H, W, 4] f32
layout(std430, binding = 3) readonly buffer Target { uint target[]; };        // [H, W] u32 RGBA8
layout(std430, binding = 4) writeonly buffer Grad { float grad[]; };          // [H, W, 3] f32 (vertical pass)
layout(std430, binding = 5) writeonly buffer L1Pixel { float l1Pixel[]; };    // [H, W] f32: L1 summed over channels (vertical pass)
layout(push_constant) uniform Push { LossParams pc; };

void main() {
    uint p = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (p >= pc.width * pc.height) return;
    int px = int(p % pc.width), py = int(p / pc.width);
    float b[9];
    for (int j = 0; j < 9; j++) b[j] = 0.0;
    for (int k = -SSIM_RADIUS; k <= SSIM_RADIUS; k++) {
        int qx = AXIS == 0u ? px + k : px, qy = AXIS == 0u ? py : py + k;
        if (qx < 0 || qy < 0 || qx >= int(pc.width) || qy >= int(pc.height)) continue;
        uint q = 9u * (uint(qy) * pc.width + uint(qx));
        float w = ssimWeight(k);
        for (uint j = 0; j < 9u; j++) b[j] += w * partialsIn[q + j];
    }
    if (AXIS == 0u) {
        for (uint j = 0; j < 9u; j++) partialsOut[9u * p + j] = b[j];
        return;
    }
    vec3 x = vec3(rendered[4u * p], rendered[4u * p + 1u], rendered[4u * p + 2u]);
    vec3 y = unpackRGB(target[p]);
    vec3 diff = x - y;
    vec3 g = (1.0 - pc.lambda) * pc.invCount * sign(diff);
    for (uint c = 0; c < 3u; c++) g[c] += b[c] + 2.0 * x[c] * b[3u + c] + y[c] * b[6u + c];
    grad[3u * p] = g.x;
    grad[3u * p + 1u] = g.y;
    grad[3u * p + 2u] = g.z;
    l1Pixel[p] = abs(diff.x) + abs(diff.y) + abs(diff.z);
}
