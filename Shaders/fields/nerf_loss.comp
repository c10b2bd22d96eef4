// NeRF training loss per ray: the target composited over the ray's background
// (straight alpha), then L2 (instant-ngp's default for synthetic scenes) or
// Huber (delta 0.1), mean over rays and channels; writes each ray's loss and
// d loss / d C. With NERF_FLAG_OPACITY (NeuS with masks: the mask is the
// image's alpha) d loss / d C has a fourth column, the opacity's, and the
// loss adds maskWeight times the binary cross-entropy of the opacity
// (clipped to [1e-3, 1 - 1e-3], as NeuS) against the alpha, mean over rays.
// Twin: NerfBatch.referenceLoss (Sources/Fields/NerfBatch.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Out { vec4 rendered[]; };          // [R] rgb, opacity
layout(std430, binding = 1) readonly buffer Targets { vec4 targets[]; };       // [R] rgb, alpha
layout(std430, binding = 2) readonly buffer Background { float background[]; }; // [R, 3] f32
layout(std430, binding = 3) writeonly buffer Loss { float loss[]; };           // [R] f32
layout(std430, binding = 4) writeonly buffer DC { float dC[]; };               // [R, 3] f32 ([R, 4] with NERF_FLAG_OPACITY)
layout(push_constant) uniform Push { NerfBatchParams pc; };

void main() {
    uint r = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (r >= pc.rays) return;
    vec4 tg = targets[r];
    vec3 bg = vec3(background[3 * r], background[3 * r + 1], background[3 * r + 2]);
    vec3 target = tg.rgb * tg.a + bg * (1.0 - tg.a);
    vec3 e = rendered[r].rgb - target;
    float n = 3.0 * float(pc.rays);
    vec3 l, g;
    if ((pc.flags & NERF_FLAG_HUBER) != 0u) {
        const float delta = 0.1;
        vec3 a = abs(e);
        l = mix(a - 0.5 * delta, 0.5 * e * e / delta, lessThan(a, vec3(delta)));
        g = mix(sign(e), e / delta, lessThan(a, vec3(delta)));
    } else {
        l = e * e;
        g = 2.0 * e;
    }
    float total = (l.x + l.y + l.z) / n;
    g /= n;
    if ((pc.flags & NERF_FLAG_OPACITY) != 0u) {
        float o = rendered[r].a, m = tg.a;
        float oc = clamp(o, 1e-3, 1.0 - 1e-3);
        total -= pc.maskWeight * (m * log(oc) + (1.0 - m) * log(1.0 - oc)) / float(pc.rays);
        float dO = o == oc ? pc.maskWeight * (oc - m) / (oc * (1.0 - oc)) / float(pc.rays) : 0.0;
        dC[4 * r] = g.x; dC[4 * r + 1] = g.y; dC[4 * r + 2] = g.z; dC[4 * r + 3] = dO;
    } else {
        dC[3 * r] = g.x; dC[3 * r + 1] = g.y; dC[3 * r + 2] = g.z;
    }
    loss[r] = total;
}
