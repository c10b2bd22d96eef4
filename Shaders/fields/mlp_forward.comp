// Fully fused MLP, forward: y = W_{L-1} relu(... relu(W_0 x)), no biases
// (as tiny-cuda-nn's FullyFusedMLP). Each workgroup carries BATCH points
// through all layers in shared memory; with MLP_FLAG_SAVE_HIDDEN the ReLU
// outputs go to `hidden` for the backward pass.
// Twin: FullyFusedMLP.reference (Sources/Fields/FullyFusedMLP.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(std430, binding = 0) readonly buffer Input { float x[]; };        // [N, dims[0]] f32
layout(std430, binding = 1) readonly buffer Weights { float w[]; };      // [sum dims[l+1] dims[l]] f32
layout(std430, binding = 2) writeonly buffer Output { float y[]; };      // [N, dims[L]] f32
layout(std430, binding = 3) writeonly buffer Hidden { float hidden[]; }; // [L - 1, N, width] f32
layout(push_constant) uniform Push { MLPParams pc; };
#include "fields/mlp_common.glsl"

void main() {
    uint t = gl_LocalInvocationID.x;
    uint first = splatWorkgroupIndex() * BATCH;
    uint din = pc.dims[0];
    for (uint i = t; i < BATCH * din; i += WORKGROUP_SIZE) {
        uint p = first + i / din;
        sActA[i] = p < pc.count ? x[p * din + i % din] : 0.0;
    }
    bool inA = true;
    for (uint l = 0u; l < pc.layers; ++l) {
        din = pc.dims[l];
        uint dout = pc.dims[l + 1];
        bool last = l + 1u == pc.layers;
        uint rowsPerStage = mlpRowsPerStage(din);
        for (uint row0 = 0u; row0 < dout; row0 += rowsPerStage) {
            uint rows = min(rowsPerStage, dout - row0);
            barrier();  // the previous stage's weights and the layer's inputs are complete
            for (uint i = t; i < rows * din; i += WORKGROUP_SIZE) sWeights[i] = w[pc.offsets[l] + row0 * din + i];
            barrier();
            for (uint o = t; o < BATCH * rows; o += WORKGROUP_SIZE) {
                uint b = o / rows, j = o % rows;
                float s = 0.0;
                for (uint k = 0u; k < din; ++k) s += sWeights[j * din + k] * (inA ? sActA[b * din + k] : sActB[b * din + k]);
                if (!last) s = max(s, 0.0);
                if (inA) sActB[b * dout + row0 + j] = s; else sActA[b * dout + row0 + j] = s;
                uint p = first + b;
                if (p < pc.count) {
                    if (last) y[p * dout + row0 + j] = s;
                    else if ((pc.flags & MLP_FLAG_SAVE_HIDDEN) != 0u) hidden[(l * pc.count + p) * pc.width + row0 + j] = s;
                }
            }
        }
        inA = !inA;
    }
}
