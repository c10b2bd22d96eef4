// Occupancy grid update, steps 2 and 3 (instant-ngp, App. E). Variant 0
// ("splat"): each evaluated point's optical thickness sigma dtMin goes to its
// cell's scratch slot by an atomic max on the float's bits (non-negative
// floats order like their bits). Variant 1 ("decay"), one thread per update
// point again: the first thread to take its cell's scratch value (an atomic
// exchange with 0) sets the cell to max(old decay, value); the others find 0.
// Only sampled cells change, so this pass costs the points, not the grid.
// instant-ngp samples every cell in each of its first 256 updates and half
// of them later, so its decay is per visit in effect; an update that samples
// fewer cells (a CPU device's budget) must not decay the cells it did not
// visit, or the grid empties before the network has seen them.
// Twin: OccupancyGrid.referenceUpdate (Sources/Fields/OccupancyGrid.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "fields/volume_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(constant_id = SPEC_VARIANT) const uint VARIANT = 0;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Cells { uint cells[]; };        // [n] u32
layout(std430, binding = 1) readonly buffer Density { float raw[]; };       // [n, densityStride] f32 (splat), raw in column 0
layout(std430, binding = 2) buffer Scratch { uint scratch[]; };             // [K g^3] u32
layout(std430, binding = 3) buffer Grid { float grid[]; };                  // [K g^3] f32 (decay)
layout(push_constant) uniform Push { OccupancyParams pc; };

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    if (VARIANT == 0u) {
        float thickness = volumeDensity(raw[i * pc.densityStride]) * pc.dtMin;
        atomicMax(scratch[cells[i]], floatBitsToUint(max(thickness, 0.0)));
    } else {
        uint cell = cells[i];
        uint fresh = atomicExchange(scratch[cell], 0u);
        if (fresh != 0u) grid[cell] = max(grid[cell] * pc.decay, uintBitsToFloat(fresh));
    }
}
