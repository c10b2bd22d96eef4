// NeRF training batch: one ray per thread through a random pixel centre of
// a random training image (instant-ngp draws pixels uniformly over all
// images), with its target colour and, for images with alpha, a random
// background colour (instant-ngp's trick that keeps transparent regions empty).
// Twin: NerfBatch.referenceRays (Sources/Fields/NerfBatch.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "fields/occupancy_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Cameras { NerfCamera cameras[]; };  // [V]
layout(std430, binding = 1) readonly buffer Pixels { uint pixels[]; };          // [sum W H] u32 RGBA8
layout(std430, binding = 2) writeonly buffer Rays { float rays[]; };            // [R, 6] f32
layout(std430, binding = 3) writeonly buffer Targets { vec4 targets[]; };       // [R] rgb, alpha
layout(std430, binding = 4) writeonly buffer Background { float background[]; }; // [R, 3] f32
layout(push_constant) uniform Push { NerfBatchParams pc; };

float unitFloat(uint h) { return float(h >> 8) * (1.0 / 16777216.0); }

void main() {
    uint r = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (r >= pc.rays) return;
    uint h = occupancyHash(pc.seed ^ occupancyHash(r));
    NerfCamera cam = cameras[h % pc.cameras];
    uint h1 = occupancyHash(h), h2 = occupancyHash(h1);
    uint x = h1 % cam.width, y = h2 % cam.height;
    vec3 d = vec3((float(x) + 0.5 - cam.cx) / cam.fx, (float(y) + 0.5 - cam.cy) / cam.fy, 1.0);
    vec3 w = vec3(dot(vec3(cam.r00, cam.r01, cam.r02), d), dot(vec3(cam.r10, cam.r11, cam.r12), d),
                  dot(vec3(cam.r20, cam.r21, cam.r22), d));
    w = normalize(w);
    rays[6 * r] = cam.px; rays[6 * r + 1] = cam.py; rays[6 * r + 2] = cam.pz;
    rays[6 * r + 3] = w.x; rays[6 * r + 4] = w.y; rays[6 * r + 5] = w.z;
    targets[r] = unpackUnorm4x8(pixels[cam.pixelOffset + y * cam.width + x]);
    vec3 bg = vec3(pc.backgroundR, pc.backgroundG, pc.backgroundB);
    if ((pc.flags & NERF_FLAG_RANDOM_BACKGROUND) != 0u) {
        uint h3 = occupancyHash(h2), h4 = occupancyHash(h3), h5 = occupancyHash(h4);
        bg = vec3(unitFloat(h3), unitFloat(h4), unitFloat(h5));
    }
    background[3 * r] = bg.x; background[3 * r + 1] = bg.y; background[3 * r + 2] = bg.z;
}
