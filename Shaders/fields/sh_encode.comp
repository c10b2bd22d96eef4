// Spherical-harmonics direction encoding (instant-ngp's colour network input,
// "degree 4": 16 values), with the same basis, constants and signs as the
// Gaussian rasterizer's colour (common/sh.glsl). One thread per direction.
// Twin: SphericalHarmonicsEncoding.reference (Sources/Fields/SphericalHarmonicsEncoding.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "common/sh.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Directions { float dirs[]; };  // [N, 3] f32, normalised here
layout(std430, binding = 1) writeonly buffer Encoded { float encoded[]; }; // [N, stride] f32, 16 values at column `column`
layout(push_constant) uniform Push { SHEncodeParams pc; };

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    vec3 d = vec3(dirs[3 * i], dirs[3 * i + 1], dirs[3 * i + 2]);
    float len = length(d);
    d = len > 0.0 ? d / len : vec3(0.0, 0.0, 1.0);
    float b[15];
    shBasis(d, 3u, b);
    uint o = i * pc.stride + pc.column;
    encoded[o] = SH_C0;
    for (uint k = 0u; k < 15u; ++k) encoded[o + 1u + k] = b[k];
}
