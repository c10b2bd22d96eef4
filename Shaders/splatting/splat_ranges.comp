// Rasterizer stage 3, per sorted intersection: each tile's [start, end) in
// the sorted key list (ranges are zeroed before, so empty tiles stay empty).
// Twin: RasterizerReference.renderTiled (Sources/Splatting/RasterizerReference.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Keys { uint keys[]; };     // [I, 2] u32, sorted
layout(std430, binding = 1) writeonly buffer Ranges { uint ranges[]; }; // [tiles, 2] u32
layout(push_constant) uniform Push { RasterDispatch pc; };  // count = I

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    uint tile = keys[2u * i + 1u];
    if (i == 0u || keys[2u * i - 1u] != tile) ranges[2u * tile] = i;
    if (i == pc.count - 1u || keys[2u * i + 3u] != tile) ranges[2u * tile + 1u] = i + 1u;
}
