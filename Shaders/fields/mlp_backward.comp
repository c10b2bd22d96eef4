// mlp backward, fp32 storage (the body and its notes: mlp_backward.glsl).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "fields/mlp_backward.glsl"
