// Fully fused MLP, forward: y = W_{L-1} relu(... relu(W_0 x)), no biases
// (as tiny-cuda-nn's FullyFusedMLP). Each workgroup carries BATCH points
// through all layers in shared memory; each thread computes four outputs of
// one point from weights staged transposed ([in, out/4] vec4s). With
// MLP_FLAG_SAVE_HIDDEN the ReLU outputs go to `hidden` for the backward pass.
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
        sAct[i] = p < pc.count ? x[p * din + i % din] : 0.0;
    }
    uint inOff = 0u, outOff = BATCH * MAX_DIM;
    for (uint l = 0u; l < pc.layers; ++l) {
        din = pc.dims[l];
        uint dout = pc.dims[l + 1];
        bool last = l + 1u == pc.layers;
        uint rowsPerStage = mlpRowsPerStage(din);
        for (uint row0 = 0u; row0 < dout; row0 += rowsPerStage) {
            uint rows = min(rowsPerStage, dout - row0);
            uint q = mlpRound4(rows) / 4u;  // vec4s per input
            barrier();  // the previous stage's weights and the layer's inputs are complete
            // Transpose while staging: sWeights[k q + j / 4][j % 4] = W[row0 + j][k].
            for (uint i = t; i < din * q; i += WORKGROUP_SIZE) {
                uint k = i / q, j4 = (i % q) * 4u;
                vec4 v = vec4(0.0);
                for (uint c = 0u; c < 4u; ++c) {
                    if (j4 + c < rows) v[c] = w[pc.offsets[l] + (row0 + j4 + c) * din + k];
                }
                sWeights[i] = v;
            }
            barrier();
            for (uint o = t; o < BATCH * q; o += WORKGROUP_SIZE) {
                uint b = o / q, jq = o % q;
                vec4 s = vec4(0.0);
                for (uint k = 0u; k < din; ++k) s += sWeights[k * q + jq] * sAct[inOff + b * din + k];
                if (!last) s = max(s, vec4(0.0));
                uint p = first + b;
                for (uint c = 0u; c < 4u; ++c) {
                    uint j = row0 + jq * 4u + c;
                    if (jq * 4u + c >= rows) break;
                    sAct[outOff + b * dout + j] = s[c];
                    if (p < pc.count) {
                        if (last) y[p * dout + j] = s[c];
                        else if ((pc.flags & MLP_FLAG_SAVE_HIDDEN) != 0u) hidden[(l * pc.count + p) * pc.width + j] = s[c];
                    }
                }
            }
        }
        uint swap = inOff; inOff = outOff; outOff = swap;
    }
}
