// mlp weight gradient, fp16 storage of activations and deltas (body: mlp_weight_gradient.glsl).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_atomic_float : require
#define MLP_FP16 1
#include "fields/mlp_weight_gradient.glsl"
