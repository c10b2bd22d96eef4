// Volume rendering, backward (NeRF quadrature; instant-ngp's compositing
// backward): from d loss / d C of each ray, one thread walks the ray's
// samples front to back again and uses the saved C to get what lies behind
// each sample, C - C_{<=i} (background included):
//   d C / d c_i     = T_i alpha_i
//   d C / d sigma_i = dt_i (T_{i+1} c_i - (C - C_{<=i}))
// then through the activations (sigmoid, exponential with its clamp).
// Samples past the early termination get zero gradient, as they had no effect.
// With VOLUME_FLAG_ALPHA (NeuS: the field gives alpha) d loss / d alpha_i is
// written instead, for colour and opacity (dOut is [R, 4]):
//   d C / d alpha_i = T_i (c_i - B_i), B_i = what lies behind sample i seen
// through it alone (B = background after the last sample, then
// B_{i-1} = alpha_i c_i + (1 - alpha_i) B_i, opacity likewise with c = 1,
// background 0). A second walk, back to front, builds B without dividing by
// 1 - alpha_i (NeuS's alpha reaches 1 inside a surface), and a third
// multiplies by T_i.
// Twin: VolumeRenderer.referenceBackward (Sources/Fields/VolumeRenderer.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "fields/volume_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Rays { uint rays[]; };            // [R, 2] u32
layout(std430, binding = 1) readonly buffer Density { float density[]; };     // [S, densityStride] f32
layout(std430, binding = 2) readonly buffer RGB { float rgb[]; };             // [S, 3] f32
layout(std430, binding = 3) readonly buffer Dt { float dt[]; };               // [S] f32
layout(std430, binding = 4) readonly buffer Out { vec4 outColour[]; };        // [R] the forward's rgb, opacity
layout(std430, binding = 5) readonly buffer DOut { float dOut[]; };           // [R, 3] f32: d loss / d C ([R, 4] with the opacity's in alpha mode)
layout(std430, binding = 6) buffer DDensity { float dDensity[]; };  // [S, densityStride] f32, column 0
layout(std430, binding = 7) writeonly buffer DRGB { float dRGB[]; };          // [S, 3] f32
layout(std430, binding = 8) readonly buffer Background { float background[]; }; // [R, 3] f32 (per-ray flag; alpha mode)
layout(push_constant) uniform Push { VolumeRenderParams pc; };

void alphaBackward(uint r, uint first, uint count) {
    vec4 g = vec4(dOut[4 * r], dOut[4 * r + 1], dOut[4 * r + 2], dOut[4 * r + 3]);
    // Pass 1: the samples the forward composited (until T < minTransmittance).
    float T = 1.0;
    uint end = first;
    for (; end < first + count; ++end) {
        if (T < pc.minTransmittance) break;
        T *= 1.0 - clamp(density[end * pc.densityStride], 0.0, 1.0);
    }
    for (uint i = end; i < first + count; ++i) {
        dDensity[i * pc.densityStride] = 0.0;
        dRGB[3 * i] = 0.0; dRGB[3 * i + 1] = 0.0; dRGB[3 * i + 2] = 0.0;
    }
    // Pass 2, back to front: d loss / d alpha_i / T_i = g . (c_i - B_i).
    vec3 bg = (pc.flags & VOLUME_FLAG_RAY_BACKGROUND) != 0u
        ? vec3(background[3 * r], background[3 * r + 1], background[3 * r + 2])
        : vec3(pc.backgroundR, pc.backgroundG, pc.backgroundB);
    vec4 B = vec4(bg, 0.0);
    for (uint i = end; i-- > first;) {
        float alpha = clamp(density[i * pc.densityStride], 0.0, 1.0);
        vec4 c = vec4(volumeColour(vec3(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2])), 1.0);
        float raw = density[i * pc.densityStride];
        dDensity[i * pc.densityStride] = raw >= 0.0 && raw <= 1.0 ? dot(g, c - B) : 0.0;
        B = alpha * c + (1.0 - alpha) * B;
    }
    // Pass 3, front to back: times T_i, and the colours' gradient.
    T = 1.0;
    for (uint i = first; i < end; ++i) {
        float alpha = clamp(density[i * pc.densityStride], 0.0, 1.0);
        vec3 c = volumeColour(vec3(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]));
        dDensity[i * pc.densityStride] *= T;
        vec3 dc = T * alpha * g.rgb * c * (1.0 - c);
        dRGB[3 * i] = dc.x; dRGB[3 * i + 1] = dc.y; dRGB[3 * i + 2] = dc.z;
        T *= 1.0 - alpha;
    }
}

void main() {
    uint r = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (r >= pc.rayCount) return;
    uint first = rays[2 * r], count = rays[2 * r + 1];
    if ((pc.flags & VOLUME_FLAG_ALPHA) != 0u) {
        alphaBackward(r, first, count);
        return;
    }
    vec3 C = outColour[r].rgb;
    vec3 g = vec3(dOut[3 * r], dOut[3 * r + 1], dOut[3 * r + 2]);
    float T = 1.0;
    vec3 front = vec3(0.0);  // C_{<=i}
    for (uint i = first; i < first + count; ++i) {
        if (T < pc.minTransmittance) {
            dDensity[i * pc.densityStride] = 0.0;
            dRGB[3 * i] = 0.0; dRGB[3 * i + 1] = 0.0; dRGB[3 * i + 2] = 0.0;
            continue;
        }
        float raw = density[i * pc.densityStride];
        float sigma = volumeDensity(raw);
        float alpha = 1.0 - exp(-sigma * dt[i]);
        float w = T * alpha;
        vec3 c = volumeColour(vec3(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]));
        front += w * c;
        float Tnext = T * (1.0 - alpha);
        float dSigma = dt[i] * dot(g, Tnext * c - (C - front));
        dDensity[i * pc.densityStride] = dSigma * volumeDensityDerivative(raw);
        vec3 dc = w * g * c * (1.0 - c);
        dRGB[3 * i] = dc.x; dRGB[3 * i + 1] = dc.y; dRGB[3 * i + 2] = dc.z;
        T = Tnext;
    }
}
