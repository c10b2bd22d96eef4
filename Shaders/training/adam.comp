// Adam (Kingma & Ba 2015), one parameter group per dispatch:
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// with g = gradient + l2 p (L2 regularisation, as tiny-cuda-nn's Adam).
// With ADAM_FLAG_SPARSE, elements whose gradient is exactly zero (Gaussians
// no pixel saw) keep their value and moments (gsplat's "sparse" Adam).
// Twin: Adam.reference (Sources/Training/Adam.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

// Each thread updates 4 consecutive elements through vec4 views of the same
// buffers (bindings 4-7): CPU drivers (lavapipe) load and store one vec4 per
// lane where they would issue four scalar accesses; the last thread takes
// the count % 4 tail through the scalar views.
layout(std430, binding = 0) buffer Params { float params[]; };        // [count] f32
layout(std430, binding = 1) readonly buffer Grads { float grads[]; }; // [count] f32
layout(std430, binding = 2) buffer FirstMoment { float m[]; };        // [count] f32
layout(std430, binding = 3) buffer SecondMoment { float v[]; };       // [count] f32
layout(std430, binding = 4) buffer Params4 { vec4 params4[]; };        // [count / 4] vec4: binding 0
layout(std430, binding = 5) readonly buffer Grads4 { vec4 grads4[]; }; // binding 1
layout(std430, binding = 6) buffer FirstMoment4 { vec4 m4[]; };        // binding 2
layout(std430, binding = 7) buffer SecondMoment4 { vec4 v4[]; };       // binding 3
layout(push_constant) uniform Push { AdamParams pc; };

void main() {
    uint t = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    uint full = pc.count / 4u;
    if (t < full) {
        vec4 g = grads4[t];
        bool sparse = (pc.flags & ADAM_FLAG_SPARSE) != 0u;
        if (sparse && all(equal(g, vec4(0.0)))) return;
        bvec4 zero = equal(g, vec4(0.0));
        g += pc.l2 * params4[t];
        vec4 mi = pc.beta1 * m4[t] + (1.0 - pc.beta1) * g;
        vec4 vi = pc.beta2 * v4[t] + (1.0 - pc.beta2) * g * g;
        vec4 step = pc.learningRate * (mi / pc.biasCorrection1) / (sqrt(vi / pc.biasCorrection2) + pc.epsilon);
        if (sparse) {
            // Elements with a zero gradient keep value and moments.
            vec4 m0 = m4[t], v0 = v4[t];
            mi = mix(mi, m0, zero); vi = mix(vi, v0, zero); step = mix(step, vec4(0.0), zero);
        }
        m4[t] = mi;
        v4[t] = vi;
        params4[t] -= step;
        return;
    }
    if (t != full) return;
    for (uint i = 4u * full; i < pc.count; i++) {
        float g = grads[i];
        if ((pc.flags & ADAM_FLAG_SPARSE) != 0u && g == 0.0) continue;
        g += pc.l2 * params[i];
        float mi = pc.beta1 * m[i] + (1.0 - pc.beta1) * g;
        float vi = pc.beta2 * v[i] + (1.0 - pc.beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] -= pc.learningRate * (mi / pc.biasCorrection1) / (sqrt(vi / pc.biasCorrection2) + pc.epsilon);
    }
}
