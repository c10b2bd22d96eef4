// Signed-distance field, the network's input points (NeuS; layouts in
// common/layouts.h, "Signed-distance fields"): for each sample u_i the
// stencil points (u_i itself, then u_i + h v_k for the tetrahedron's
// vertices; numerical gradient as Neuralangelo, Li et al. 2023, with NeuS2's
// tetrahedron of 4 points) and the position columns p = u - 0.5 of each
// point's SDF-network input row; the hash encoding fills the rest of the row.
// SDF_FLAG_CENTER_ONLY: the samples alone (occupancy updates, meshes).
// Twin: SDFField.referencePoints (Sources/Fields/SDFField.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "fields/sdf_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Samples { float samples[]; };  // [S, 3] f32 field space
layout(std430, binding = 1) writeonly buffer Points { float points[]; };   // [5S, 3] f32 (not written with CENTER_ONLY)
layout(std430, binding = 2) writeonly buffer Input { float inputRows[]; }; // [5S or S, inputStride] f32, columns 0..2
layout(push_constant) uniform Push { SDFParams pc; };

void writePoint(uint row, vec3 u, bool stencil) {
    if (stencil) {
        points[3 * row] = u.x; points[3 * row + 1] = u.y; points[3 * row + 2] = u.z;
    }
    uint o = row * pc.inputStride;
    inputRows[o] = u.x - 0.5; inputRows[o + 1] = u.y - 0.5; inputRows[o + 2] = u.z - 0.5;
}

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    vec3 u = vec3(samples[3 * i], samples[3 * i + 1], samples[3 * i + 2]);
    bool stencil = (pc.flags & SDF_FLAG_CENTER_ONLY) == 0u;
    writePoint(i, u, stencil);
    if (!stencil) return;
    for (uint k = 0u; k < 4u; ++k) writePoint(pc.count + 4u * i + k, u + pc.step * SDF_STENCIL[k], true);
}
