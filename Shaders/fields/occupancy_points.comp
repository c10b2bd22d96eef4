// Occupancy grid update, step 1 (instant-ngp, App. E): pick `count` random
// cells (uniform over every cascade) and a random point in each, in field
// space, for the density network to evaluate.
// Twin: OccupancyGrid.referencePoints (Sources/Fields/OccupancyGrid.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "fields/occupancy_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) writeonly buffer Cells { uint cells[]; };    // [n] u32
layout(std430, binding = 1) writeonly buffer Points { float points[]; }; // [n, 3] f32, field space
layout(push_constant) uniform Push { OccupancyParams pc; };

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    uint g = pc.gridSize, g3 = g * g * g;
    uint h = occupancyHash(pc.seed ^ occupancyHash(i));
    uint cell = h % (pc.cascades * g3);
    uint k = cell / g3, r = cell % g3;
    uvec3 c = uvec3(r % g, (r / g) % g, r / (g * g));
    uint h1 = occupancyHash(h), h2 = occupancyHash(h1), h3 = occupancyHash(h2);
    vec3 jitter = vec3(h1 >> 8, h2 >> 8, h3 >> 8) * (1.0 / 16777216.0);
    vec3 q = (vec3(c) + jitter) / float(g);          // in cascade k's [0, 1]^3
    vec3 p = (q - vec3(0.5)) * exp2(float(k)) + vec3(0.5);  // unit space
    cells[i] = cell;
    vec3 f = occupancyToField(p, pc.cascades);
    points[3 * i] = f.x; points[3 * i + 1] = f.y; points[3 * i + 2] = f.z;
}
