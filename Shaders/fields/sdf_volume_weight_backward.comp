// Signed-distance field, backward of sdf_volume_weight.comp (NeuS): from
// d loss / d alpha (the volume renderer's, alpha mode) and the colour
// network's input gradient in the gradient columns, plus the eikonal loss
// (Gropp et al. 2020) w (|g| - 1)^2, it writes d loss / d SDF of each
// stencil point into column 0 of the SDF outputs' gradient (the centre's
// features are added by nerf_concat's backward) and d loss / d variance per
// sample (summed by a reduction). Through the finite-difference gradient
// every term is first order: no second derivative of the network is needed
// (the issue allows it when measured; docs/neus.md).
// Twin: SDFField.referenceVolumeWeightBackward (Sources/Fields/SDFField.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "fields/sdf_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Outputs { float outputs[]; };     // [5S, 16] f32
layout(std430, binding = 1) readonly buffer Directions { float dirs[]; };     // [S, 3] f32
layout(std430, binding = 2) readonly buffer Dt { float dt[]; };               // [S] f32
layout(std430, binding = 3) readonly buffer Variance { float variance[]; };   // [1] f32
layout(std430, binding = 4) readonly buffer DAlpha { float dAlpha[]; };       // [S] f32
layout(std430, binding = 5) readonly buffer DColour { float dColourIn[]; };   // [S, colourStride] f32
layout(std430, binding = 6) writeonly buffer DOutputs { float dOutputs[]; };  // [5S, 16] f32, column 0 written
layout(std430, binding = 7) writeonly buffer DVariance { float dVariance[]; }; // [S] f32
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
    float r = pc.cosAnneal;
    float c = -(max(0.5 - 0.5 * cosine, 0.0) * (1.0 - r) + max(-cosine, 0.0) * r);
    float halfStep = 0.5 * dt[i];
    float fp = f - c * halfStep, fn = f + c * halfStep;
    float a = sdfSigmoid(s * fp), b = sdfSigmoid(s * fn);
    float raw = (a - b + 1e-5) / (a + 1e-5);
    float dRaw = raw >= 0.0 && raw <= 1.0 ? dAlpha[i] : 0.0;
    float da = dRaw * b / ((a + 1e-5) * (a + 1e-5)), db = -dRaw / (a + 1e-5);
    float dfp = da * s * a * (1.0 - a), dfn = db * s * b * (1.0 - b);
    float ds = da * fp * a * (1.0 - a) + db * fn * b * (1.0 - b);
    // inv_s = exp(10 variance) (its clip is not differentiated: NeuS trains it unclipped in practice).
    dVariance[i] = ds * 10.0 * s;
    float dc = (dfn - dfp) * halfStep;
    float dCos = dc * ((cosine < 1.0 ? 0.5 * (1.0 - r) : 0.0) + (cosine < 0.0 ? r : 0.0));
    uint o = i * pc.colourStride + 19u;
    vec3 dg = dCos * d + vec3(dColourIn[o], dColourIn[o + 1], dColourIn[o + 2]);
    float n = length(g);
    if (n > 0.0) dg += pc.eikonalWeight * 2.0 * (n - 1.0) / n * g;
    dOutputs[16u * i] = dfp + dfn;
    for (uint k = 0u; k < 4u; ++k) dOutputs[16u * (pc.count + 4u * i + k)] = dot(SDF_STENCIL[k], dg) / (4.0 * pc.step);
}
