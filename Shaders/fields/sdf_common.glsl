// Shared by the signed-distance-field kernels (NeuS, Wang et al. 2021;
// layouts in common/layouts.h, "Signed-distance fields").
#ifndef SPLAT_SDF_COMMON_GLSL
#define SPLAT_SDF_COMMON_GLSL

// The finite-difference stencil: a tetrahedron's vertices, sum v v^T = 4 I
// (instant-nsr-pl's and Neuralangelo's numerical gradient with 4 points
// instead of 6).
const vec3 SDF_STENCIL[4] = vec3[4](vec3(1.0, -1.0, -1.0), vec3(-1.0, -1.0, 1.0), vec3(-1.0, 1.0, -1.0), vec3(1.0, 1.0, 1.0));

// NeuS's sharpness inv_s = exp(10 variance), clipped as NeuS clips it.
float sdfInverseScale(float variance) { return clamp(exp(10.0 * variance), 1e-6, 1e6); }

float sdfSigmoid(float x) { return 1.0 / (1.0 + exp(-x)); }

#endif
