// Compile-time checks that the shared layouts have the sizes GLSL's std430
// rules give them (16-byte multiples of 32-bit fields).
#include "ShaderLayouts.h"

_Static_assert(sizeof(struct ScanParams) == 16, "ScanParams must be 16 bytes");
_Static_assert(sizeof(struct ReduceParams) == 16, "ReduceParams must be 16 bytes");
_Static_assert(sizeof(struct CompactParams) == 16, "CompactParams must be 16 bytes");
_Static_assert(sizeof(struct RadixSortParams) == 16, "RadixSortParams must be 16 bytes");
_Static_assert(sizeof(struct RasterFrame) == 128, "RasterFrame must be 128 bytes");
_Static_assert(sizeof(struct RasterDispatch) == 16, "RasterDispatch must be 16 bytes");
_Static_assert(sizeof(struct ProjectedSplat) == 48, "ProjectedSplat must be 48 bytes");
_Static_assert(sizeof(struct SplatGradient) == 32, "SplatGradient must be 32 bytes");
_Static_assert(sizeof(struct AdamParams) == 48, "AdamParams must be 48 bytes");
_Static_assert(sizeof(struct LossParams) == 32, "LossParams must be 32 bytes");
_Static_assert(sizeof(struct DensifyParams) == 64, "DensifyParams must be 64 bytes");
_Static_assert(sizeof(struct MCMCParams) == 32, "MCMCParams must be 32 bytes");
_Static_assert(sizeof(struct HashGridLevel) == 32, "HashGridLevel must be 32 bytes");
_Static_assert(sizeof(struct HashEncodeParams) == 32, "HashEncodeParams must be 32 bytes");
_Static_assert(sizeof(struct MLPParams) == 112, "MLPParams must be 112 bytes");
_Static_assert(sizeof(struct SHEncodeParams) == 16, "SHEncodeParams must be 16 bytes");
_Static_assert(sizeof(struct VolumeRenderParams) == 32, "VolumeRenderParams must be 32 bytes");
_Static_assert(sizeof(struct OccupancyParams) == 64, "OccupancyParams must be 64 bytes");
_Static_assert(sizeof(struct NerfCamera) == 80, "NerfCamera must be 80 bytes");
_Static_assert(sizeof(struct NerfBatchParams) == 48, "NerfBatchParams must be 48 bytes");
_Static_assert(sizeof(struct SDFParams) == 32, "SDFParams must be 32 bytes");
