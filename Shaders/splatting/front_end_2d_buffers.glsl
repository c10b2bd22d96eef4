// The parameter buffers of 2D image-plane Gaussians, bound first by their
// prepare kernels (the "image2d" schema, Sources/Datasets/Models/GaussianSchema.swift).
#ifndef SPLAT_FRONT_END_2D_BUFFERS_GLSL
#define SPLAT_FRONT_END_2D_BUFFERS_GLSL
#define FRONT_END_BINDINGS 4
layout(std430, binding = 0) readonly buffer Means { float means[]; };          // [N, 2] f32, pixels
layout(std430, binding = 1) readonly buffer Cholesky { float cholesky[]; };    // [N, 3] f32: L = [[l0, 0], [l1, l2]]
layout(std430, binding = 2) readonly buffer Colors { float colors[]; };        // [N, 3] f32, RGB
layout(std430, binding = 3) readonly buffer Opacities { float opacities[]; };  // [N] f32, logit

#endif
