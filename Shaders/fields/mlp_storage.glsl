// The element types of the per-point activations and deltas that the fully
// fused MLP kernels keep between passes: fp32, or fp16 storage when the
// entry point defines MLP_FP16 (arithmetic and shared memory stay fp32).
#ifndef SPLAT_MLP_STORAGE_GLSL
#define SPLAT_MLP_STORAGE_GLSL
#ifdef MLP_FP16
#define MLP_STORE float16_t
#define MLP_STORE4 f16vec4
#else
#define MLP_STORE float
#define MLP_STORE4 vec4
#endif
#endif
