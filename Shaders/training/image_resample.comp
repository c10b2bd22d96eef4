// Resamples an image by two sparse matrices, one per axis (CSR: offsets,
// source indices, weights): out[y, x] = sum_a Rows[y, a] sum_b Columns[x, b]
// in[a, b]. With Pillow's bicubic weights (BicubicResize.weights) this is the
// antialiased bicubic downscale that made the super-resolution sets' LR
// images, in floating point; with the transposed matrices it is that
// operator's adjoint, i.e. its backward pass (ImageResample.transposed).
// One thread per output pixel. Twin: ImageResample.reference.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Input { float inputs[]; };          // [inHeight, inWidth, inStride] f32
layout(std430, binding = 1) readonly buffer RowOffsets { uint rowOffsets[]; };  // [outHeight + 1]
layout(std430, binding = 2) readonly buffer RowIndices { uint rowIndices[]; };  // [nnz] input rows
layout(std430, binding = 3) readonly buffer RowWeights { float rowWeights[]; }; // [nnz]
layout(std430, binding = 4) readonly buffer ColumnOffsets { uint columnOffsets[]; };  // [outWidth + 1]
layout(std430, binding = 5) readonly buffer ColumnIndices { uint columnIndices[]; };  // [nnz] input columns
layout(std430, binding = 6) readonly buffer ColumnWeights { float columnWeights[]; }; // [nnz]
layout(std430, binding = 7) buffer Output { float outputs[]; };                 // [outHeight, outWidth, outStride] f32
layout(push_constant) uniform Push { ResampleParams pc; };

void main() {
    uint p = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (p >= pc.outWidth * pc.outHeight) return;
    uint x = p % pc.outWidth, y = p / pc.outWidth;
    vec4 sum = vec4(0.0);
    for (uint a = rowOffsets[y]; a < rowOffsets[y + 1u]; a++) {
        uint row = rowIndices[a];
        vec4 line = vec4(0.0);
        for (uint b = columnOffsets[x]; b < columnOffsets[x + 1u]; b++) {
            uint at = (row * pc.inWidth + columnIndices[b]) * pc.inStride;
            vec4 v = vec4(inputs[at], pc.channels > 1u ? inputs[at + 1u] : 0.0, pc.channels > 2u ? inputs[at + 2u] : 0.0,
                          pc.channels > 3u ? inputs[at + 3u] : 0.0);
            line += columnWeights[b] * v;
        }
        sum += rowWeights[a] * line;
    }
    for (uint c = 0; c < min(pc.channels, 4u); c++) outputs[p * pc.outStride + c] = sum[c];
}
