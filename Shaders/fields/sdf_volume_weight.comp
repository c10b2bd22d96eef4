// Signed-distance field, forward after the SDF network (NeuS, Wang et al.
// 2021, Sec. 3.3, as its code and NeuS2 compute it per sample): the
// gradient g from the stencil, the logistic-CDF alpha of the sample's
// segment from the SDF at its midpoint moved half a step each way along
// the ray,
//   cos = d . g, c' = -(relu(0.5 - 0.5 cos) (1 - r) + relu(-cos) r)   (r: cos_anneal_ratio)
//   f_prev = f - c' dt / 2, f_next = f + c' dt / 2,
//   alpha = clamp((Phi(f_prev) - Phi(f_next) + 1e-5) / (Phi(f_prev) + 1e-5), 0, 1),
// Phi(x) = sigmoid(inv_s x); the colour network's position and gradient
// columns; with SDF_FLAG_TRAINING the eikonal loss w (|g| - 1)^2 per sample.
// Twin: SDFField.referenceVolumeWeight (Sources/Fields/SDFField.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "fields/sdf_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Samples { float samples[]; };     // [S, 3] f32 field space
layout(std430, binding = 1) readonly buffer Outputs { float outputs[]; };     // [5S, 16] f32, column 0 the SDF
layout(std430, binding = 2) readonly buffer Directions { float dirs[]; };     // [S, 3] f32 unit
layout(std430, binding = 3) readonly buffer Dt { float dt[]; };               // [S] f32
layout(std430, binding = 4) readonly buffer Variance { float variance[]; };   // [1] f32
layout(std430, binding = 5) writeonly buffer Alpha { float alpha[]; };        // [S] f32
layout(std430, binding = 6) writeonly buffer Colour { float colourIn[]; };    // [S, colourStride] f32, columns 16..21
layout(std430, binding = 7) writeonly buffer Eikonal { float eikonal[]; };    // [S] f32 (training)
layout(push_constant) uniform Push { SDFParams pc; };

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    float s = sdfInverseScale(variance[0]);
    float f = outputs[16u * i];
    vec3 g = vec3(0.0);
    for (uint k = 0u; k < 4u; ++k) g += SDF_STENCIL[k] * outputs[16u * (pc.count + 4u * i + k)];
    g /= 4.0 * pc.step;
    vec3 d = vec3(dirs[3 * i], dirs[3 * i + 1], dirs[3 * i + 2]);
    float cosine = dot(d, g);
    float c = -(max(0.5 - 0.5 * cosine, 0.0) * (1.0 - pc.cosAnneal) + max(-cosine, 0.0) * pc.cosAnneal);
    float a = sdfSigmoid(s * (f - c * 0.5 * dt[i])), b = sdfSigmoid(s * (f + c * 0.5 * dt[i]));
    alpha[i] = clamp((a - b + 1e-5) / (a + 1e-5), 0.0, 1.0);
    uint o = i * pc.colourStride + 16u;
    colourIn[o] = samples[3 * i] - 0.5; colourIn[o + 1] = samples[3 * i + 1] - 0.5; colourIn[o + 2] = samples[3 * i + 2] - 0.5;
    colourIn[o + 3] = g.x; colourIn[o + 4] = g.y; colourIn[o + 5] = g.z;
    if ((pc.flags & SDF_FLAG_TRAINING) != 0u) {
        float e = length(g) - 1.0;
        eikonal[i] = pc.eikonalWeight * e * e;
    }
}
