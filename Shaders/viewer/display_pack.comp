// Viewer: packs a rendered frame into the window's 8-bit pixels (the values
// are already sRGB-encoded, so the window's format is UNORM), scaling a
// reduced-resolution frame up by nearest neighbour, and showing depth or
// alpha instead of colour on request. Rounding as the PNG writer's
// (floor(v * 255 + 0.5), clamped), so a screenshot equals `splat render`.
// Twin: DisplayPack.reference (Sources/Viewer/DisplayPack.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Color { vec4 color[]; };     // [srcH, srcW] RGBA f32
layout(std430, binding = 1) readonly buffer Depth { float depth[]; };    // [srcH, srcW] f32: sum T alpha z
layout(std430, binding = 2) writeonly buffer Pixels { uint pixels[]; };  // [H, W] u32, 8 bits per channel
layout(push_constant) uniform Push { DisplayParams pc; };

uint byteOf(float v) { return uint(clamp(floor(v * 255.0 + 0.5), 0.0, 255.0)); }

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.width * pc.height) return;
    uint x = i % pc.width, y = i / pc.width;
    uint sx = min(x * pc.srcWidth / pc.width, pc.srcWidth - 1u);
    uint sy = min(y * pc.srcHeight / pc.height, pc.srcHeight - 1u);
    uint s = sy * pc.srcWidth + sx;
    vec4 c = color[s];
    vec3 rgb = c.rgb;
    if (pc.mode == DISPLAY_MODE_ALPHA) {
        rgb = vec3(c.a);
    } else if (pc.mode == DISPLAY_MODE_DEPTH) {
        float z = c.a > 1e-6 ? depth[s] / c.a : pc.depthFar;
        rgb = vec3(c.a > 1e-6 ? 1.0 - clamp(z / pc.depthFar, 0.0, 1.0) : 0.0);
    }
    uvec3 b = uvec3(byteOf(rgb.r), byteOf(rgb.g), byteOf(rgb.b));
    if ((pc.flags & DISPLAY_FLAG_BGRA) != 0u) b = b.bgr;
    pixels[i] = b.x | (b.y << 8) | (b.z << 16) | (255u << 24);
}
