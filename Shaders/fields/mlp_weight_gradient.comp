// mlp weight gradient, fp32 storage (the body and its notes: mlp_weight_gradient.glsl).
#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_shader_atomic_float : require
#include "fields/mlp_weight_gradient.glsl"
