// Shared by the fully fused MLP kernels (tiny-cuda-nn's FullyFusedMLP,
// Mueller et al. 2021, "Real-time Neural Radiance Caching"): a workgroup
// takes BATCH points through every layer, their activations in shared
// memory, and stages each layer's weights in shared memory WEIGHT_FLOATS at
// a time. BATCH, MAX_DIM and WEIGHT_FLOATS are specialisation constants
// chosen from the device's shared-memory size (FullyFusedMLP.swift).
//
// Staged weights are vec4s along the output dimension, activations vec4s
// along theirs, both padded with zeros to a multiple of 4; each thread
// computes a 4 x 4 block (4 points x 4 outputs) from 4 weight and 4
// activation vec4 loads per 4 inputs: 16 vec4 multiply-adds per 8 loads,
// which is what CPU drivers (one access per SIMD lane and load) and GPUs
// (fewer shared-memory transactions) both want. BATCH is a multiple of 4.
#ifndef SPLAT_MLP_COMMON_GLSL
#define SPLAT_MLP_COMMON_GLSL

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 128;
layout(constant_id = SPEC_ITEMS_PER_THREAD) const uint BATCH = 16;
layout(constant_id = SPEC_MLP_MAX_DIM) const uint MAX_DIM = 64;
layout(constant_id = SPEC_MLP_WEIGHT_FLOATS) const uint WEIGHT_FLOATS = 4096;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

shared vec4 sWeights[WEIGHT_FLOATS / 4];
// Two activation buffers of [BATCH, dims / 4] vec4s (MAX_DIM is a multiple
// of 4): ping at 0, pong at BATCH * MAX_DIM / 4.
shared vec4 sAct[2u * BATCH * MAX_DIM / 4u];

uint mlpRound4(uint n) { return (n + 3u) & ~3u; }

// Rows of the dimension that is staged whole (a multiple of 4) per stage of
// `WEIGHT_FLOATS` floats when the other dimension is `other` long.
uint mlpRowsPerStage(uint other) { return max(4u, (WEIGHT_FLOATS / mlpRound4(other)) & ~3u); }

#endif
