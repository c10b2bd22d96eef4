// Shared by the fully fused MLP kernels (tiny-cuda-nn's FullyFusedMLP,
// Mueller et al. 2021, "Real-time Neural Radiance Caching"): a workgroup
// takes BATCH points through every layer, their activations in shared
// memory, and stages each layer's weights in shared memory WEIGHT_FLOATS at
// a time (whole rows). BATCH, MAX_DIM and WEIGHT_FLOATS are specialisation
// constants chosen from the device's shared-memory size (FullyFusedMLP.swift).
#ifndef SPLAT_MLP_COMMON_GLSL
#define SPLAT_MLP_COMMON_GLSL

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 128;
layout(constant_id = SPEC_ITEMS_PER_THREAD) const uint BATCH = 16;
layout(constant_id = SPEC_MLP_MAX_DIM) const uint MAX_DIM = 64;
layout(constant_id = SPEC_MLP_WEIGHT_FLOATS) const uint WEIGHT_FLOATS = 4096;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

shared float sWeights[WEIGHT_FLOATS];
shared float sActA[BATCH * MAX_DIM];
shared float sActB[BATCH * MAX_DIM];

// Rows of layer weights [dout, din] that fit the stage at once.
uint mlpRowsPerStage(uint din) { return max(1u, WEIGHT_FLOATS / din); }

#endif
