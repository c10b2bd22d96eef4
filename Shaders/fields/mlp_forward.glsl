// Fully fused MLP, forward: y = W_{L-1} relu(... relu(W_0 x)), no biases
// (as tiny-cuda-nn's FullyFusedMLP); with MLP_FLAG_BIASES each layer adds
// its biases before the activation (and the last layer too), with
// MLP_FLAG_SOFTPLUS the activation is softplus (NeuS's SDF network). Both
// are branches on push constants, so the plain network runs as before.
// Each workgroup carries BATCH points through all layers in shared memory;
// each thread computes 4 outputs of 4 points from weights staged transposed
// ([in, out / 4] vec4s). With MLP_FLAG_SAVE_HIDDEN the activations' outputs
// go to `hidden` for the backward pass.
// Twin: FullyFusedMLP.reference (Sources/Fields/FullyFusedMLP.swift).
// The body of mlp_forward.comp and mlp_forward_f16.comp.
#ifndef SPLAT_MLP_FORWARD_GLSL
#define SPLAT_MLP_FORWARD_GLSL
#include "fields/mlp_storage.glsl"
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(std430, binding = 0) readonly buffer Input { float x[]; };        // [N, dims[0]] f32
layout(std430, binding = 1) readonly buffer Weights { float w[]; };      // [totalWeights] f32 (weights, then biases)
layout(std430, binding = 2) writeonly buffer Output { float y[]; };      // [N, dims[L]] f32
layout(std430, binding = 3) writeonly buffer Hidden { MLP_STORE hidden[]; }; // [L - 1, N, width] f32 (f16 with MLP_FP16)
layout(push_constant) uniform Push { MLPParams pc; };
#include "fields/mlp_common.glsl"

// softplus(beta z) / beta without overflow: max(z, 0) + log(1 + e^(-beta |z|)) / beta.
vec4 mlpSoftplus(vec4 z, float beta) { return max(z, vec4(0.0)) + log(vec4(1.0) + exp(-beta * abs(z))) / beta; }

void main() {
    uint t = gl_LocalInvocationID.x;
    uint first = splatWorkgroupIndex() * BATCH;
    uint din = pc.dims[0];
    uint din4 = mlpRound4(din) / 4u;
    for (uint i = t; i < BATCH * din4; i += WORKGROUP_SIZE) {
        uint p = first + i / din4, k4 = (i % din4) * 4u;
        vec4 v = vec4(0.0);
        for (uint c = 0u; c < 4u; ++c) {
            if (p < pc.count && k4 + c < din) v[c] = x[p * din + k4 + c];
        }
        sAct[i] = v;
    }
    uint inOff = 0u, outOff = BATCH * MAX_DIM / 4u;
    for (uint l = 0u; l < pc.layers; ++l) {
        din = pc.dims[l];
        din4 = mlpRound4(din) / 4u;
        uint dout = pc.dims[l + 1];
        uint dout4 = mlpRound4(dout) / 4u;
        bool last = l + 1u == pc.layers;
        uint rowsPerStage = mlpRowsPerStage(din);
        for (uint row0 = 0u; row0 < dout; row0 += rowsPerStage) {
            uint rows = min(rowsPerStage, dout - row0);
            uint q = mlpRound4(rows) / 4u;  // vec4s per input
            barrier();  // the previous stage's weights and the layer's inputs are complete
            // Transpose while staging: sWeights[k q + j / 4][j % 4] = W[row0 + j][k], zero-padded.
            for (uint i = t; i < din4 * 4u * q; i += WORKGROUP_SIZE) {
                uint k = i / q, j4 = (i % q) * 4u;
                vec4 v = vec4(0.0);
                for (uint c = 0u; c < 4u; ++c) {
                    if (k < din && j4 + c < rows) v[c] = w[pc.offsets[l] + (row0 + j4 + c) * din + k];
                }
                sWeights[i] = v;
            }
            barrier();
            for (uint o = t; o < (BATCH / 4u) * q; o += WORKGROUP_SIZE) {
                uint b0 = (o / q) * 4u, jq = o % q;
                vec4 s0 = vec4(0.0), s1 = vec4(0.0), s2 = vec4(0.0), s3 = vec4(0.0);
                for (uint k4 = 0u; k4 < din4; ++k4) {
                    vec4 w0 = sWeights[(4u * k4) * q + jq], w1 = sWeights[(4u * k4 + 1u) * q + jq];
                    vec4 w2 = sWeights[(4u * k4 + 2u) * q + jq], w3 = sWeights[(4u * k4 + 3u) * q + jq];
                    vec4 a0 = sAct[inOff + b0 * din4 + k4], a1 = sAct[inOff + (b0 + 1u) * din4 + k4];
                    vec4 a2 = sAct[inOff + (b0 + 2u) * din4 + k4], a3 = sAct[inOff + (b0 + 3u) * din4 + k4];
                    s0 += w0 * a0.x + w1 * a0.y + w2 * a0.z + w3 * a0.w;
                    s1 += w0 * a1.x + w1 * a1.y + w2 * a1.z + w3 * a1.w;
                    s2 += w0 * a2.x + w1 * a2.y + w2 * a2.z + w3 * a2.w;
                    s3 += w0 * a3.x + w1 * a3.y + w2 * a3.z + w3 * a3.w;
                }
                mat4 s = mat4(s0, s1, s2, s3);  // column b: point b0 + b
                uint jv = row0 / 4u + jq;       // row0 is a multiple of 4
                vec4 bias = vec4(0.0);
                if ((pc.flags & MLP_FLAG_BIASES) != 0u) {
                    for (uint c = 0u; c < 4u; ++c) {
                        if (jq * 4u + c < rows) bias[c] = w[pc.biasOffset + l * pc.width + row0 + jq * 4u + c];
                    }
                }
                bool softplus = (pc.flags & MLP_FLAG_SOFTPLUS) != 0u;
                for (uint b = 0u; b < 4u; ++b) {
                    vec4 z = s[b] + bias;
                    vec4 v = last ? z : softplus ? mlpSoftplus(z, pc.softplusBeta) : max(z, vec4(0.0));
                    sAct[outOff + (b0 + b) * dout4 + jv] = v;
                    uint p = first + b0 + b;
                    if (p >= pc.count) continue;
                    for (uint c = 0u; c < 4u; ++c) {
                        uint j = row0 + jq * 4u + c;
                        if (jq * 4u + c >= rows) break;
                        if (last) y[p * dout + j] = v[c];
                        else if ((pc.flags & MLP_FLAG_SAVE_HIDDEN) != 0u) hidden[(l * pc.count + p) * pc.width + j] = MLP_STORE(v[c]);
                    }
                }
            }
        }
        uint swap = inOff; inOff = outOff; outOff = swap;
    }
}

#endif
