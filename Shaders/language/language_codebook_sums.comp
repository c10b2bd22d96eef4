// The sums the codebook gradient needs (see language_loss), per level:
//   SEGMENT_SUMS: A[m, e] = sum over pixels p of segment m of a_p w_p[e]
//   OUTER_SUMS:   B[i, j] = sum over pixels p with a feature of b_p w_p[i] w_p[j]
// so that dL/dC = -(A^T g - B C) (language_codebook_gradient). Pixels come
// grouped by segment (order, offsets: built on the host per image), so
// every thread owns one output and no atomics are needed.
// Twin: LanguageReference.languageCodebookSums.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(constant_id = SPEC_VARIANT) const uint VARIANT = LANGUAGE_VARIANT_SEGMENT_SUMS;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer WeightMap { float weightMap[]; };      // [P, mapStride] f32
layout(std430, binding = 1) readonly buffer Coefficients { vec2 coefficients[]; }; // [levels, P] (a, b)
layout(std430, binding = 2) readonly buffer Order { uint order[]; };               // [levels, P] u32: pixels by segment
layout(std430, binding = 3) readonly buffer Offsets { uint offsets[]; };           // [levels, M + 1] u32: into order
layout(std430, binding = 4) writeonly buffer Sums { float sums[]; };               // A [levels, M, L] or B [levels, L, L] f32
layout(push_constant) uniform Push { LanguageParams pc; };

void main() {
    uint item = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    uint L = pc.codebookSize, M = pc.rows, P = pc.count;
    uint columns = VARIANT == LANGUAGE_VARIANT_SEGMENT_SUMS ? M : L;
    if (item >= pc.levels * columns * L) return;
    uint e = item % L;
    uint row = (item / L) % columns;
    uint level = item / (L * columns);
    uint o0 = level * (M + 1u);
    float sum = 0.0;
    if (VARIANT == LANGUAGE_VARIANT_SEGMENT_SUMS) {
        for (uint k = offsets[o0 + row]; k < offsets[o0 + row + 1u]; k++) {
            uint p = order[k];
            sum += coefficients[level * P + p].x * weightMap[p * pc.mapStride + level * L + e];
        }
    } else {
        for (uint k = offsets[o0]; k < offsets[o0 + M]; k++) {
            uint p = order[k];
            uint m0 = p * pc.mapStride + level * L;
            sum += coefficients[level * P + p].y * weightMap[m0 + row] * weightMap[m0 + e];
        }
    }
    sums[item] = sum;
}
