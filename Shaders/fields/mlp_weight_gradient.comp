// Fully fused MLP, weight gradients: dW_l[j][k] = sum over points of
// delta_l[p][j] a_l[p][k], a_0 the input and a_l = hidden[l - 1]. One thread
// per weight and slice of `slicePoints` points; each adds its slice's sum
// with one float atomic (the same weight's slices run in other workgroups).
// Twin: FullyFusedMLP.referenceBackward (Sources/Fields/FullyFusedMLP.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_atomic_float : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Input { float x[]; };         // [N, dims[0]] f32
layout(std430, binding = 1) readonly buffer Hidden { float hidden[]; };   // [L - 1, N, width] f32
layout(std430, binding = 2) readonly buffer Deltas { float deltas[]; };   // [L, N, width] f32
layout(std430, binding = 3) buffer WeightGrad { float dw[]; };            // [sum dims[l+1] dims[l]] f32, accumulated
layout(push_constant) uniform Push { MLPParams pc; };

void main() {
    uint groupsPerSlice = (pc.totalWeights + WORKGROUP_SIZE - 1u) / WORKGROUP_SIZE;
    uint g = splatWorkgroupIndex();
    uint slice = g / groupsPerSlice;
    uint e = (g % groupsPerSlice) * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (e >= pc.totalWeights) return;
    uint l = 0u;
    while (l + 1u < pc.layers && e >= pc.offsets[l + 1u]) ++l;
    uint din = pc.dims[l];
    uint j = (e - pc.offsets[l]) / din, k = (e - pc.offsets[l]) % din;
    uint p0 = slice * pc.slicePoints, p1 = min(pc.count, p0 + pc.slicePoints);
    float s = 0.0;
    for (uint p = p0; p < p1; ++p) {
        float a = l == 0u ? x[p * din + k] : hidden[((l - 1u) * pc.count + p) * pc.width + k];
        s += deltas[(l * pc.count + p) * pc.width + j] * a;
    }
    if (s != 0.0) atomicAdd(dw[e], s);
}
