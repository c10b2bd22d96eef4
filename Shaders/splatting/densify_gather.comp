// Adaptive density control, one parameter group (pc.dim floats per Gaussian)
// rebuilt in its new order with its Adam moments: kept Gaussians carry their
// moments, new ones (clones, split children) start from zero moments as in
// the original (its optimiser state is extended with zeros). Split children
// (3DGS, Kerbl et al. 2023): mean + R(q) (exp(s) * z) with z ~ N(0, I), and
// log-scale minus ln 1.6; 4D Gaussians' children also sample their time
// mean, mu_t + exp(s_t) z (splitting in time as well as in space); every
// other parameter is copied.
// One thread per output float; pc.count is the new Gaussian count.
// Twin: GaussianDensification.gather (Sources/Splatting/GaussianDensification.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "splatting/densify_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Source { uint source[]; };      // [M] u32
layout(std430, binding = 1) readonly buffer Kinds { uint kinds[]; };        // [M] u32
layout(std430, binding = 2) readonly buffer InParams { float inParams[]; }; // [N, dim] f32
layout(std430, binding = 3) readonly buffer InM { float inM[]; };           // [N, dim] f32
layout(std430, binding = 4) readonly buffer InV { float inV[]; };           // [N, dim] f32
layout(std430, binding = 5) writeonly buffer OutParams { float outParams[]; }; // [M, dim] f32
layout(std430, binding = 6) writeonly buffer OutM { float outM[]; };        // [M, dim] f32
layout(std430, binding = 7) writeonly buffer OutV { float outV[]; };        // [M, dim] f32
layout(std430, binding = 8) readonly buffer Scales { float scales[]; };     // [N, 3] f32, log (positions); [N] time log-scales (time)
layout(std430, binding = 9) readonly buffer Rotations { float rotations[]; }; // [N, 4] f32 (positions only)
layout(push_constant) uniform Push { DensifyParams pc; };

void main() {
    uint e = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (e >= pc.count * pc.dim) return;
    uint j = e / pc.dim, c = e - j * pc.dim;
    uint i = source[j];
    uint kind = kinds[j];
    uint from = i * pc.dim + c;
    float value = inParams[from];
    bool child = kind == DENSIFY_KIND_SPLIT0 || kind == DENSIFY_KIND_SPLIT1;
    if (child && pc.field == DENSIFY_FIELD_SCALES) value -= log(1.6);
    if (child && pc.field == DENSIFY_FIELD_POSITIONS) {
        vec4 q = vec4(rotations[4 * i], rotations[4 * i + 1], rotations[4 * i + 2], rotations[4 * i + 3]);
        q /= max(length(q), 1e-12);
        float w = q.x, x = q.y, y = q.z, z = q.w;
        // Row c of the rotation matrix of (w, x, y, z).
        vec3 row = c == 0u ? vec3(1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - w * z), 2.0 * (x * z + w * y))
                 : c == 1u ? vec3(2.0 * (x * y + w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - w * x))
                           : vec3(2.0 * (x * z - w * y), 2.0 * (y * z + w * x), 1.0 - 2.0 * (x * x + y * y));
        uint childIndex = kind == DENSIFY_KIND_SPLIT0 ? 0u : 1u;
        vec3 sample3 = vec3(exp(scales[3 * i]) * densifyNormal(pc.seed, i, childIndex, 0u),
                            exp(scales[3 * i + 1]) * densifyNormal(pc.seed, i, childIndex, 1u),
                            exp(scales[3 * i + 2]) * densifyNormal(pc.seed, i, childIndex, 2u));
        value += dot(row, sample3);
    }
    if (child && pc.field == DENSIFY_FIELD_TIME) {
        value += exp(scales[i]) * densifyNormal(pc.seed, i, kind == DENSIFY_KIND_SPLIT0 ? 0u : 1u, 3u);
    }
    bool fresh = kind != DENSIFY_KIND_KEEP;
    outParams[e] = value;
    outM[e] = fresh ? 0.0 : inM[from];
    outV[e] = fresh ? 0.0 : inV[from];
}
