// Volume rendering, forward (NeRF quadrature, Mildenhall et al. 2020; as
// instant-ngp composites its compacted samples): one thread per ray walks
// its samples front to back, C = sum T_i alpha_i c_i + T_end background,
// alpha_i = 1 - exp(-sigma_i dt_i), and stops once T < minTransmittance.
// Also writes the opacity 1 - T_end and the expected depth sum T_i alpha_i t_i.
// With VOLUME_FLAG_ALPHA the field gives alpha itself (NeuS's logistic-CDF
// weight, sdf_volume_weight.comp): the volume weight is a stage, the
// compositing is shared.
// Twin: VolumeRenderer.reference (Sources/Fields/VolumeRenderer.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "fields/volume_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Rays { uint rays[]; };            // [R, 2] u32: first sample, count
layout(std430, binding = 1) readonly buffer Density { float density[]; };     // [S, densityStride] f32, raw in column 0
layout(std430, binding = 2) readonly buffer RGB { float rgb[]; };             // [S, 3] f32, raw
layout(std430, binding = 3) readonly buffer Dt { float dt[]; };               // [S] f32
layout(std430, binding = 4) readonly buffer T { float tSample[]; };           // [S] f32, distance along the ray
layout(std430, binding = 5) readonly buffer Background { float background[]; }; // [R, 3] f32 (per-ray flag)
layout(std430, binding = 6) writeonly buffer Out { vec4 outColour[]; };       // [R] rgb, opacity
layout(std430, binding = 7) writeonly buffer Depth { float depth[]; };        // [R] f32
layout(push_constant) uniform Push { VolumeRenderParams pc; };

void main() {
    uint r = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (r >= pc.rayCount) return;
    uint first = rays[2 * r], count = rays[2 * r + 1];
    float T = 1.0, d = 0.0;
    vec3 c = vec3(0.0);
    for (uint i = first; i < first + count; ++i) {
        if (T < pc.minTransmittance) break;
        float alpha = volumeAlpha(density[i * pc.densityStride], dt[i], pc.flags);
        float w = T * alpha;
        c += w * volumeColour(vec3(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]));
        d += w * tSample[i];
        T *= 1.0 - alpha;
    }
    vec3 bg = (pc.flags & VOLUME_FLAG_RAY_BACKGROUND) != 0u
        ? vec3(background[3 * r], background[3 * r + 1], background[3 * r + 2])
        : vec3(pc.backgroundR, pc.backgroundG, pc.backgroundB);
    outColour[r] = vec4(c + T * bg, 1.0 - T);
    depth[r] = d;
}
