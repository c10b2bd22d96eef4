// Fully fused MLP, backward through the activations: from d loss / d y it
// walks the layers back, delta_{l-1} = (W_l^T delta_l) * act'(hidden_{l-1}),
// the derivative taken from the stored output h of the activation: ReLU
// [h > 0]; softplus (MLP_FLAG_SOFTPLUS) sigmoid(beta z) = 1 - e^(-beta h).
// Biases change nothing here (their gradient, the sum of the deltas, is
// mlp_weight_gradient's). BATCH points per workgroup in shared memory; each
// thread computes the deltas of 4 inputs of 4 points from weights staged
// row-major ([out, in / 4] vec4s). Every layer's delta goes to `deltas` for the
// weight gradient (mlp_weight_gradient.comp); with MLP_FLAG_INPUT_GRADIENT
// also d loss / d input (for the encoding's backward pass).
// Twin: FullyFusedMLP.referenceBackward (Sources/Fields/FullyFusedMLP.swift).
// The body of mlp_backward.comp and mlp_backward_f16.comp.
#ifndef SPLAT_MLP_BACKWARD_GLSL
#define SPLAT_MLP_BACKWARD_GLSL
#include "fields/mlp_storage.glsl"
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(std430, binding = 0) readonly buffer OutputGrad { float dy[]; };   // [N, dims[L]] f32
layout(std430, binding = 1) readonly buffer Weights { float w[]; };       // [totalWeights] f32 (weights, then biases)
layout(std430, binding = 2) readonly buffer Hidden { MLP_STORE hidden[]; };   // [L - 1, N, width] f32 (f16 with MLP_FP16)
layout(std430, binding = 3) writeonly buffer Deltas { MLP_STORE deltas[]; };  // [L, N, width] f32 (f16 with MLP_FP16)
layout(std430, binding = 4) writeonly buffer InputGrad { float dx[]; };   // [N, dims[0]] f32
layout(push_constant) uniform Push { MLPParams pc; };
#include "fields/mlp_common.glsl"

void main() {
    uint t = gl_LocalInvocationID.x;
    uint first = splatWorkgroupIndex() * BATCH;
    uint L = pc.layers;
    uint dout = pc.dims[L];
    uint dout4 = mlpRound4(dout) / 4u;
    for (uint i = t; i < BATCH * dout4; i += WORKGROUP_SIZE) {
        uint p = first + i / dout4, j4 = (i % dout4) * 4u;
        vec4 v = vec4(0.0);
        for (uint c = 0u; c < 4u; ++c) {
            if (p < pc.count && j4 + c < dout) {
                v[c] = dy[p * dout + j4 + c];
                deltas[((L - 1u) * pc.count + p) * pc.width + j4 + c] = MLP_STORE(v[c]);
            }
        }
        sAct[i] = v;
    }
    uint inOff = 0u, outOff = BATCH * MAX_DIM / 4u;  // in: this layer's output deltas; out: its input deltas
    for (uint l = L; l-- > 0u;) {
        if (l == 0u && (pc.flags & MLP_FLAG_INPUT_GRADIENT) == 0u) break;
        uint din = pc.dims[l];
        dout = pc.dims[l + 1];
        dout4 = mlpRound4(dout) / 4u;
        uint q = mlpRound4(din) / 4u;  // vec4s per weight row (= the input deltas' row)
        uint rowsPerStage = mlpRowsPerStage(din);
        for (uint row0 = 0u; row0 < dout; row0 += rowsPerStage) {
            uint rows = min(rowsPerStage, dout - row0);
            uint rows4 = mlpRound4(rows);
            barrier();
            for (uint i = t; i < rows4 * q; i += WORKGROUP_SIZE) {
                uint j = i / q, k4 = (i % q) * 4u;
                vec4 v = vec4(0.0);
                for (uint c = 0u; c < 4u; ++c) {
                    if (j < rows && k4 + c < din) v[c] = w[pc.offsets[l] + (row0 + j) * din + k4 + c];
                }
                sWeights[i] = v;
            }
            barrier();
            // Each thread owns the same (4 points, 4 inputs) in every stage, so
            // it accumulates them in shared memory without races.
            for (uint o = t; o < (BATCH / 4u) * q; o += WORKGROUP_SIZE) {
                uint b0 = (o / q) * 4u, kq = o % q;
                vec4 s0 = vec4(0.0), s1 = vec4(0.0), s2 = vec4(0.0), s3 = vec4(0.0);
                for (uint j4 = 0u; j4 < rows4 / 4u; ++j4) {
                    vec4 w0 = sWeights[(4u * j4) * q + kq], w1 = sWeights[(4u * j4 + 1u) * q + kq];
                    vec4 w2 = sWeights[(4u * j4 + 2u) * q + kq], w3 = sWeights[(4u * j4 + 3u) * q + kq];
                    uint jv = row0 / 4u + j4;  // row0 is a multiple of 4
                    vec4 d0 = sAct[inOff + b0 * dout4 + jv], d1 = sAct[inOff + (b0 + 1u) * dout4 + jv];
                    vec4 d2 = sAct[inOff + (b0 + 2u) * dout4 + jv], d3 = sAct[inOff + (b0 + 3u) * dout4 + jv];
                    s0 += w0 * d0.x + w1 * d0.y + w2 * d0.z + w3 * d0.w;
                    s1 += w0 * d1.x + w1 * d1.y + w2 * d1.z + w3 * d1.w;
                    s2 += w0 * d2.x + w1 * d2.y + w2 * d2.z + w3 * d2.w;
                    s3 += w0 * d3.x + w1 * d3.y + w2 * d3.z + w3 * d3.w;
                }
                mat4 s = mat4(s0, s1, s2, s3);
                for (uint b = 0u; b < 4u; ++b) {
                    uint a = outOff + (b0 + b) * q + kq;
                    sAct[a] = (row0 == 0u ? vec4(0.0) : sAct[a]) + s[b];
                }
            }
        }
        // Through the activation before layer l (its output is hidden[l - 1]); the owner threads again.
        bool softplus = (pc.flags & MLP_FLAG_SOFTPLUS) != 0u;
        for (uint o = t; o < (BATCH / 4u) * q; o += WORKGROUP_SIZE) {
            uint b0 = (o / q) * 4u, kq = o % q;
            for (uint b = 0u; b < 4u; ++b) {
                uint p = first + b0 + b;
                uint a = outOff + (b0 + b) * q + kq;
                vec4 d = sAct[a];
                for (uint c = 0u; c < 4u; ++c) {
                    uint k = kq * 4u + c;
                    if (k >= din) { d[c] = 0.0; continue; }
                    if (p >= pc.count) continue;
                    if (l > 0u) {
                        float h = float(hidden[((l - 1u) * pc.count + p) * pc.width + k]);
                        if (softplus) d[c] *= 1.0 - exp(-pc.softplusBeta * h);
                        else d[c] = h > 0.0 ? d[c] : 0.0;
                        deltas[((l - 1u) * pc.count + p) * pc.width + k] = MLP_STORE(d[c]);
                    } else {
                        dx[p * din + k] = d[c];
                    }
                }
                sAct[a] = d;
            }
        }
        uint swap = inOff; inOff = outOff; outOff = swap;
    }
}

#endif
