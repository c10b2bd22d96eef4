// Signed-distance field -> the occupancy grid's density (NeuS2 keeps
// instant-ngp's occupancy grid for its SDF): the SDF in column 0 of each
// point's network outputs is replaced, in place, by the log of NeuS's
// opaque density for a ray meeting the surface head-on,
// rho = inv_s sigmoid(-inv_s f): log rho = log inv_s - softplus(inv_s f).
// Cells far outside the surface thus fall below the grid's threshold as
// inv_s grows; cells inside stay occupied (rays stop at the surface).
// Twin: SDFField.referenceOccupancyDensity (Sources/Fields/SDFField.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "fields/sdf_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) buffer Outputs { float outputs[]; };             // [n, 16] f32, column 0
layout(std430, binding = 1) readonly buffer Variance { float variance[]; };  // [1] f32
layout(push_constant) uniform Push { SDFParams pc; };

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    float s = sdfInverseScale(variance[0]);
    float x = s * outputs[16u * i];
    outputs[16u * i] = log(s) - (max(x, 0.0) + log(1.0 + exp(-abs(x))));
}
