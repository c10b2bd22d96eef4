// mlp forward, fp32 storage (the body and its notes: mlp_forward.glsl).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "fields/mlp_forward.glsl"
