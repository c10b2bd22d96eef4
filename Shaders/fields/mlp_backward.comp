// Fully fused MLP, backward through the activations: from d loss / d y it
// walks the layers back, delta_{l-1} = (W_l^T delta_l) * [hidden_{l-1} > 0],
// with BATCH points per workgroup in shared memory; each thread computes four
// inputs' deltas of one point from weights staged row-major ([out, in/4]
// vec4s). Every layer's delta goes to `deltas` for the weight gradient
// (mlp_weight_gradient.comp); with MLP_FLAG_INPUT_GRADIENT also
// d loss / d input (for the encoding's backward pass).
// Twin: FullyFusedMLP.referenceBackward (Sources/Fields/FullyFusedMLP.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(std430, binding = 0) readonly buffer OutputGrad { float dy[]; };   // [N, dims[L]] f32
layout(std430, binding = 1) readonly buffer Weights { float w[]; };       // [sum dims[l+1] dims[l]] f32
layout(std430, binding = 2) readonly buffer Hidden { float hidden[]; };   // [L - 1, N, width] f32
layout(std430, binding = 3) writeonly buffer Deltas { float deltas[]; };  // [L, N, width] f32
layout(std430, binding = 4) writeonly buffer InputGrad { float dx[]; };   // [N, dims[0]] f32
layout(push_constant) uniform Push { MLPParams pc; };
#include "fields/mlp_common.glsl"

void main() {
    uint t = gl_LocalInvocationID.x;
    uint first = splatWorkgroupIndex() * BATCH;
    uint L = pc.layers;
    uint dout = pc.dims[L];
    for (uint i = t; i < BATCH * dout; i += WORKGROUP_SIZE) {
        uint p = first + i / dout, j = i % dout;
        float d = p < pc.count ? dy[p * dout + j] : 0.0;
        sAct[i] = d;
        if (p < pc.count) deltas[((L - 1u) * pc.count + p) * pc.width + j] = d;
    }
    uint inOff = 0u, outOff = BATCH * MAX_DIM;  // in: this layer's output deltas; out: its input deltas
    for (uint l = L; l-- > 0u;) {
        if (l == 0u && (pc.flags & MLP_FLAG_INPUT_GRADIENT) == 0u) break;
        uint din = pc.dims[l];
        dout = pc.dims[l + 1];
        uint q = mlpRound4(din) / 4u;  // vec4s per weight row
        uint rowsPerStage = mlpRowsPerStage(din);
        for (uint row0 = 0u; row0 < dout; row0 += rowsPerStage) {
            uint rows = min(rowsPerStage, dout - row0);
            barrier();
            for (uint i = t; i < rows * q; i += WORKGROUP_SIZE) {
                uint j = i / q, k4 = (i % q) * 4u;
                vec4 v = vec4(0.0);
                for (uint c = 0u; c < 4u; ++c) {
                    if (k4 + c < din) v[c] = w[pc.offsets[l] + (row0 + j) * din + k4 + c];
                }
                sWeights[i] = v;
            }
            barrier();
            // Each thread owns the same (point, 4 inputs) in every stage, so it
            // accumulates them in shared memory without races.
            for (uint o = t; o < BATCH * q; o += WORKGROUP_SIZE) {
                uint b = o / q, kq = o % q;
                vec4 s = vec4(0.0);
                for (uint j = 0u; j < rows; ++j) s += sWeights[j * q + kq] * sAct[inOff + b * dout + row0 + j];
                for (uint c = 0u; c < 4u; ++c) {
                    uint k = kq * 4u + c;
                    if (k >= din) break;
                    uint a = outOff + b * din + k;
                    sAct[a] = (row0 == 0u ? 0.0 : sAct[a]) + s[c];
                }
            }
        }
        // Through the ReLU before layer l (its output is hidden[l - 1]); the owner threads again.
        for (uint o = t; o < BATCH * q; o += WORKGROUP_SIZE) {
            uint b = o / q, p = first + b;
            if (p >= pc.count) continue;
            for (uint c = 0u; c < 4u; ++c) {
                uint k = (o % q) * 4u + c;
                if (k >= din) break;
                uint a = outOff + b * din + k;
                float d = sAct[a];
                if (l > 0u) {
                    d = hidden[((l - 1u) * pc.count + p) * pc.width + k] > 0.0 ? d : 0.0;
                    deltas[((l - 1u) * pc.count + p) * pc.width + k] = d;
                    sAct[a] = d;
                } else {
                    dx[p * din + k] = d;
                }
            }
        }
        uint swap = inOff; inOff = outOff; outOff = swap;
    }
}
