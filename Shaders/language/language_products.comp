// Dot products of feature rows with a codebook, per level:
// out[level, r, e] = rows[level * rowLevelStride + r] . codebook[level, e].
// One kernel serves three uses: the image's ground-truth rows against the
// codebook (H, training), the codebook against itself (the Gram matrix G),
// and query and canonical embeddings against it (queries). With G and H a
// pixel's cosine needs O(L^2) work instead of decoding D = 512 values.
// Twin: LanguageReference.languageProducts.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Rows { float rows[]; };         // [levels or 1, R, D] f32
layout(std430, binding = 1) readonly buffer Codebook { float codebook[]; }; // [levels, L, D] f32
layout(std430, binding = 2) writeonly buffer Products { float products[]; }; // [levels, R, L] f32
layout(push_constant) uniform Push { LanguageParams pc; };

void main() {
    uint item = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    uint L = pc.codebookSize, R = pc.rows, D = pc.dimension;
    if (item >= pc.levels * R * L) return;
    uint e = item % L;
    uint r = (item / L) % R;
    uint level = item / (L * R);
    uint a = (level * pc.rowLevelStride + r) * D;
    uint b = (level * L + e) * D;
    float sum = 0.0;
    for (uint d = 0; d < D; d++) sum += rows[a + d] * codebook[b + d];
    products[item] = sum;
}
