// Volume rendering, backward (NeRF quadrature; instant-ngp's compositing
// backward): from d loss / d C of each ray, one thread walks the ray's
// samples front to back again and uses the saved C to get what lies behind
// each sample, C - C_{<=i} (background included):
//   d C / d c_i     = T_i alpha_i
//   d C / d sigma_i = dt_i (T_{i+1} c_i - (C - C_{<=i}))
// then through the activations (sigmoid, exponential with its clamp).
// Samples past the early termination get zero gradient, as they had no effect.
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
layout(std430, binding = 5) readonly buffer DOut { float dOut[]; };           // [R, 3] f32: d loss / d C
layout(std430, binding = 6) writeonly buffer DDensity { float dDensity[]; };  // [S, densityStride] f32, column 0
layout(std430, binding = 7) writeonly buffer DRGB { float dRGB[]; };          // [S, 3] f32
layout(push_constant) uniform Push { VolumeRenderParams pc; };

void main() {
    uint r = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (r >= pc.rayCount) return;
    uint first = rays[2 * r], count = rays[2 * r + 1];
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
