// Fully fused MLP, weight gradients: dW_l[j][k] = sum over points of
// delta_l[p][j] a_l[p][k], a_0 the input and a_l = hidden[l - 1]. Each thread
// takes a 4 x 4 block of one layer's weights and a slice of `slicePoints`
// points: per point one vec4 of deltas and one of activations make 16
// products (an outer product), then one float atomic per weight adds the
// slice's sum (the other slices of the same block run in other workgroups).
// With MLP_FLAG_BIASES, blocks of 4 biases follow all weight blocks: a
// bias's input is the constant 1, so its gradient is the sum of its deltas.
// Twin: FullyFusedMLP.referenceBackward (Sources/Fields/FullyFusedMLP.swift).
// The body of mlp_weight_gradient.comp and mlp_weight_gradient_f16.comp.
#ifndef SPLAT_MLP_WEIGHT_GRADIENT_GLSL
#define SPLAT_MLP_WEIGHT_GRADIENT_GLSL
#include "fields/mlp_storage.glsl"
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Input { float x[]; };         // [N, dims[0]] f32
layout(std430, binding = 1) readonly buffer Hidden4 { MLP_STORE4 hidden4[]; };  // [L - 1, N, width / 4] vec4 (f16 with MLP_FP16)
layout(std430, binding = 2) readonly buffer Deltas4 { MLP_STORE4 deltas4[]; };  // [L, N, width / 4] vec4 (f16 with MLP_FP16)
layout(std430, binding = 3) buffer WeightGrad { float dw[]; };            // [totalWeights] f32 (weights, then biases), accumulated
layout(std430, binding = 4) readonly buffer Input4 { vec4 x4[]; };        // binding 0 as vec4s (when dims[0] % 4 == 0)
layout(push_constant) uniform Push { MLPParams pc; };

uint blocksOf(uint l) { return ((pc.dims[l + 1] + 3u) / 4u) * ((pc.dims[l] + 3u) / 4u); }
uint biasBlocksOf(uint l) { return (pc.dims[l + 1] + 3u) / 4u; }

void main() {
    bool biases = (pc.flags & MLP_FLAG_BIASES) != 0u;
    uint weightBlocks = 0u, totalBlocks = 0u;
    for (uint l = 0u; l < pc.layers; ++l) weightBlocks += blocksOf(l);
    totalBlocks = weightBlocks;
    if (biases) for (uint l = 0u; l < pc.layers; ++l) totalBlocks += biasBlocksOf(l);
    uint groupsPerSlice = (totalBlocks + WORKGROUP_SIZE - 1u) / WORKGROUP_SIZE;
    uint g = splatWorkgroupIndex();
    uint slice = g / groupsPerSlice;
    uint e = (g % groupsPerSlice) * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (e >= totalBlocks) return;
    uint w4 = pc.width / 4u;
    uint p0 = slice * pc.slicePoints, p1 = min(pc.count, p0 + pc.slicePoints);
    uint l = 0u;
    if (e >= weightBlocks) {
        // Biases jb * 4 ... jb * 4 + 3 of layer l.
        uint jb = e - weightBlocks;
        while (jb >= biasBlocksOf(l)) { jb -= biasBlocksOf(l); ++l; }
        vec4 acc = vec4(0.0);
        for (uint p = p0; p < p1; ++p) acc += vec4(deltas4[(l * pc.count + p) * w4 + jb]);
        for (uint r = 0u; r < 4u; ++r) {
            uint j = jb * 4u + r;
            if (j >= pc.dims[l + 1]) break;
            if (acc[r] != 0.0) atomicAdd(dw[pc.biasOffset + l * pc.width + j], acc[r]);
        }
        return;
    }
    while (e >= blocksOf(l)) { e -= blocksOf(l); ++l; }
    uint din = pc.dims[l], dout = pc.dims[l + 1];
    uint cols4 = (din + 3u) / 4u;
    uint jb = e / cols4, kb = e % cols4;
    bool vecInput = (din & 3u) == 0u;
    vec4 acc0 = vec4(0.0), acc1 = vec4(0.0), acc2 = vec4(0.0), acc3 = vec4(0.0);
    for (uint p = p0; p < p1; ++p) {
        vec4 a;
        if (l > 0u) {
            a = vec4(hidden4[((l - 1u) * pc.count + p) * w4 + kb]);
        } else if (vecInput) {
            a = x4[p * cols4 + kb];
        } else {
            for (uint c = 0u; c < 4u; ++c) a[c] = kb * 4u + c < din ? x[p * din + kb * 4u + c] : 0.0;
        }
        vec4 d = vec4(deltas4[(l * pc.count + p) * w4 + jb]);
        acc0 += d.x * a;
        acc1 += d.y * a;
        acc2 += d.z * a;
        acc3 += d.w * a;
    }
    mat4 acc = mat4(acc0, acc1, acc2, acc3);
    for (uint r = 0u; r < 4u; ++r) {
        uint j = jb * 4u + r;
        if (j >= dout) break;
        for (uint c = 0u; c < 4u; ++c) {
            uint k = kb * 4u + c;
            if (k < din && acc[r][c] != 0.0) atomicAdd(dw[pc.offsets[l] + j * din + k], acc[r][c]);
        }
    }
}

#endif
