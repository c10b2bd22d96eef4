// dL/d(codebook) of the language loss from the sums of
// language_codebook_sums: dC[e, d] = -(sum_m A[m, e] g[m, d] - sum_j B[e, j] C[j, d]),
// per level; g the image's unit feature rows. One thread per (level, e, d).
// Twin: LanguageReference.languageCodebookGradient.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer SegmentSums { float segmentSums[]; }; // A [levels, M, L] f32
layout(std430, binding = 1) readonly buffer OuterSums { float outerSums[]; };     // B [levels, L, L] f32
layout(std430, binding = 2) readonly buffer Rows { float rows[]; };               // g [M, D] f32
layout(std430, binding = 3) readonly buffer Codebook { float codebook[]; };       // [levels, L, D] f32
layout(std430, binding = 4) writeonly buffer Gradient { float gradient[]; };      // [levels, L, D] f32
layout(push_constant) uniform Push { LanguageParams pc; };

void main() {
    uint item = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    uint L = pc.codebookSize, M = pc.rows, D = pc.dimension;
    if (item >= pc.levels * L * D) return;
    uint d = item % D;
    uint e = (item / D) % L;
    uint level = item / (D * L);
    float sum = 0.0;
    for (uint m = 0; m < M; m++) sum += segmentSums[(level * M + m) * L + e] * rows[m * D + d];
    for (uint j = 0; j < L; j++) sum -= outerSums[(level * L + e) * L + j] * codebook[(level * L + j) * D + d];
    gradient[item] = -sum;
}
