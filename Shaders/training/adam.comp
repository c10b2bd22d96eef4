// Adam (Kingma & Ba 2015), one parameter group per dispatch:
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// With ADAM_FLAG_SPARSE, elements whose gradient is exactly zero (Gaussians
// no pixel saw) keep their value and moments (gsplat's "sparse" Adam).
// Twin: Adam.reference (Sources/Training/Adam.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) buffer Params { float params[]; };        // [count] f32
layout(std430, binding = 1) readonly buffer Grads { float grads[]; }; // [count] f32
layout(std430, binding = 2) buffer FirstMoment { float m[]; };        // [count] f32
layout(std430, binding = 3) buffer SecondMoment { float v[]; };       // [count] f32
layout(push_constant) uniform Push { AdamParams pc; };

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    float g = grads[i];
    if ((pc.flags & ADAM_FLAG_SPARSE) != 0u && g == 0.0) return;
    float mi = pc.beta1 * m[i] + (1.0 - pc.beta1) * g;
    float vi = pc.beta2 * v[i] + (1.0 - pc.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    float mHat = mi / pc.biasCorrection1;
    float vHat = vi / pc.biasCorrection2;
    params[i] -= pc.learningRate * mHat / (sqrt(vHat) + pc.epsilon);
}
