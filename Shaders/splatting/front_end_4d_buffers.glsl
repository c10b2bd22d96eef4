// The parameter buffers of 4D Gaussians, bound first by their prepare
// kernels (the "gaussians4d" schema, Sources/Datasets/Models/GaussianSchema.swift):
// the 3D groups at 0 ..< 9, then the time groups.
#ifndef SPLAT_FRONT_END_4D_BUFFERS_GLSL
#define SPLAT_FRONT_END_4D_BUFFERS_GLSL
#define FRONT_END_BINDINGS 12
#include "splatting/front_end_3d_buffers.glsl"
layout(std430, binding = 9) readonly buffer TimeMeans { float timeMeans[]; };             // [N] f32
layout(std430, binding = 10) readonly buffer TimeScales { float timeScales[]; };          // [N] f32, log
layout(std430, binding = 11) readonly buffer RotationsRight { float rotationsRight[]; };  // [N, 4] f32, w x y z

#endif
