// Occupancy grid, step 4 (instant-ngp, App. E): one bit per cell, set when
// its density exceeds the threshold (min(0.01, mean density), computed by the
// caller); one thread per 32 cells.
// Twin: OccupancyGrid.referenceBitfield (Sources/Fields/OccupancyGrid.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Grid { float grid[]; };   // [K g^3] f32
layout(std430, binding = 1) readonly buffer Sum { float total[]; };   // [1] f32: sum of grid
layout(std430, binding = 2) writeonly buffer Bits { uint bits[]; };   // [K g^3 / 32] u32
layout(push_constant) uniform Push { OccupancyParams pc; };

void main() {
    uint w = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (w >= pc.count) return;
    uint cells = pc.cascades * pc.gridSize * pc.gridSize * pc.gridSize;
    float threshold = min(pc.threshold, total[0] / float(cells));
    uint word = 0u;
    for (uint b = 0u; b < 32u; ++b) {
        if (grid[32u * w + b] > threshold) word |= 1u << b;
    }
    bits[w] = word;
}
