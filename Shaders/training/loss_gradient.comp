// Image loss, steps 3 and 4: the 11x11 Gaussian blur of the partials (one
// axis per dispatch, AXIS = SPEC_VARIANT: 0 horizontal, 1 vertical), and on
// the vertical pass the gradient w.r.t. the render:
//   dL/dx_p = (1 - lambda) sign(x_p - y_p) / (3 H W) + G*A + 2 x_p G*B + y_p G*C,
// plus the per-pixel L1 sum for the loss value. Each thread filters PIXELS
// consecutive pixels along the axis (loss_common.glsl).
// Twin: ImageLoss.reference.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "training/loss_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(constant_id = SPEC_VARIANT) const uint AXIS = 0;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Input { vec4 partialsIn[]; };     // [H, W, 3] vec4: A, B, C (w = 0)
layout(std430, binding = 1) writeonly buffer Output { vec4 partialsOut[]; };  // [H, W, 3] vec4 (horizontal pass)
layout(std430, binding = 2) readonly buffer Rendered { vec4 rendered[]; };    // [H, W] RGBA f32
layout(std430, binding = 3) readonly buffer Target { uint target[]; };        // [H, W] u32 RGBA8
layout(std430, binding = 4) writeonly buffer Grad { float grad[]; };          // [H, W, 3] f32 (vertical pass)
layout(std430, binding = 5) writeonly buffer L1Pixel { float l1Pixel[]; };    // [H, W] f32: L1 summed over channels (vertical pass)
layout(push_constant) uniform Push { LossParams pc; };

void main() {
    // Thread i filters PIXELS pixels from (px0, py0) along the axis.
    uint along = AXIS == 0u ? pc.width : pc.height;
    uint across = AXIS == 0u ? pc.height : pc.width;
    uint segments = (along + PIXELS - 1u) / PIXELS;
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= segments * across) return;
    int px0 = AXIS == 0u ? int((i % segments) * PIXELS) : int(i % pc.width);
    int py0 = AXIS == 0u ? int(i / segments) : int((i / pc.width) * PIXELS);
    int first = AXIS == 0u ? px0 : py0;
    // Per component: `AXIS == 0u ? ivec2(1, 0) : ivec2(0, 1)` gave wrong results on lavapipe.
    ivec2 axisStep = ivec2(AXIS == 0u ? 1 : 0, AXIS == 0u ? 0 : 1);
    vec3 ga[PIXELS], gb[PIXELS], gc[PIXELS];  // the blurred A, B, C
    for (uint k = 0; k < PIXELS; k++) { ga[k] = vec3(0.0); gb[k] = vec3(0.0); gc[k] = vec3(0.0); }
    // Input r along the axis feeds output k with weight ssimWeight(r - k).
    float weights[PIXELS];
    for (uint k = 0; k < PIXELS; k++) weights[k] = 0.0;
    for (int r = -SSIM_RADIUS; r < int(PIXELS) + SSIM_RADIUS; r++) {
        shiftWeights(weights, r);
        if (first + r < 0 || first + r >= int(along)) continue;
        ivec2 qq = ivec2(px0, py0) + r * axisStep;
        uint q = 3u * (uint(qq.y) * pc.width + uint(qq.x));
        vec3 a = partialsIn[q].xyz, b = partialsIn[q + 1u].xyz, c = partialsIn[q + 2u].xyz;
        for (int k = 0; k < int(PIXELS); k++) {
            float w = weights[k];
            ga[k] += w * a; gb[k] += w * b; gc[k] += w * c;
        }
    }
    for (uint k = 0; k < PIXELS; k++) {
        if (first + int(k) >= int(along)) break;
        ivec2 pp = ivec2(px0, py0) + int(k) * axisStep;
        uint p = uint(pp.y) * pc.width + uint(pp.x);
        if (AXIS == 0u) {
            partialsOut[3u * p] = vec4(ga[k], 0.0);
            partialsOut[3u * p + 1u] = vec4(gb[k], 0.0);
            partialsOut[3u * p + 2u] = vec4(gc[k], 0.0);
            continue;
        }
        vec3 x = rendered[p].rgb;
        vec3 y = targetRGB(target[p], pc);
        vec3 diff = x - y;
        vec3 g = (1.0 - pc.lambda) * pc.invCount * sign(diff);
        g += ga[k] + 2.0 * x * gb[k] + y * gc[k];
        grad[3u * p] = g.x;
        grad[3u * p + 1u] = g.y;
        grad[3u * p + 2u] = g.z;
        l1Pixel[p] = abs(diff.x) + abs(diff.y) + abs(diff.z);
    }
}
