// The parameter buffers of 3D Gaussians, bound first by their prepare
// kernels (the "gaussians3d" schema, Sources/Datasets/Models/GaussianSchema.swift).
#ifndef SPLAT_FRONT_END_3D_BUFFERS_GLSL
#define SPLAT_FRONT_END_3D_BUFFERS_GLSL
#ifndef FRONT_END_BINDINGS
#define FRONT_END_BINDINGS 9
#endif
layout(std430, binding = 0) readonly buffer Positions { float positions[]; };  // [N, 3] f32
layout(std430, binding = 1) readonly buffer Scales { float scales[]; };        // [N, 3] f32, log
layout(std430, binding = 2) readonly buffer Rotations { float rotations[]; };  // [N, 4] f32, w x y z
layout(std430, binding = 3) readonly buffer Opacities { float opacities[]; };  // [N] f32, logit
layout(std430, binding = 4) readonly buffer SHDC { float shDC[]; };            // [N, 3] f32
// [N, 3, K-1] f32 in RASTER_CHUNKS slices of pc.chunk Gaussians (splatting/chunks.glsl)
layout(std430, binding = 5) readonly buffer SHRest0 { float v[]; } shRest0;
layout(std430, binding = 6) readonly buffer SHRest1 { float v[]; } shRest1;
layout(std430, binding = 7) readonly buffer SHRest2 { float v[]; } shRest2;
layout(std430, binding = 8) readonly buffer SHRest3 { float v[]; } shRest3;

#endif
