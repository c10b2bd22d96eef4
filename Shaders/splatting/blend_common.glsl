// Declarations shared by the blend kernels (forward and backward): the
// payload's specialisation (dense C channels or K sparse (channel, weight)
// pairs over L channels), the channel chunk a workgroup handles (grid z), the
// blend mode, and the splats staged in shared memory per batch.
#ifndef SPLAT_BLEND_COMMON_GLSL
#define SPLAT_BLEND_COMMON_GLSL

layout(constant_id = SPEC_VARIANT) const uint PIXELS_PER_THREAD = 1;
layout(constant_id = SPEC_CHANNELS) const uint CHANNELS = 3;
layout(constant_id = SPEC_CHANNEL_CHUNK) const uint CHUNK = 3;
layout(constant_id = SPEC_SPARSE_PAIRS) const uint SPARSE_PAIRS = 0;
layout(constant_id = SPEC_BLEND_MODE) const uint BLEND_MODE = RASTER_BLEND_ALPHA;
const uint ROWS = RASTER_TILE_SIZE / PIXELS_PER_THREAD;    // thread rows per tile
const uint THREADS = RASTER_TILE_SIZE * ROWS;
// Payload floats staged per splat: this chunk's channels, or every pair.
const uint STAGED = SPARSE_PAIRS > 0u ? 2u * SPARSE_PAIRS : CHUNK;
layout(local_size_x = 16, local_size_y_id = SPEC_ITEMS_PER_THREAD) in;  // y = ROWS, set by the host

shared vec4 batchMeanOpacity[RASTER_BATCH];   // mean.x, mean.y, opacity, depth
shared vec4 batchConic[RASTER_BATCH];         // a, b, c, footprint level
shared float batchPayload[RASTER_BATCH * STAGED];

// Stages splat g's payload for this workgroup's chunk (channels c0 ..< c0 + CHUNK) at slot s.
void stagePayload(uint s, uint g, uint c0) {
    uvec2 at = payloadLocation(g);
    for (uint k = 0; k < STAGED; k++) {
        uint c = SPARSE_PAIRS > 0u ? k : c0 + k;
        batchPayload[s * STAGED + k] = SPARSE_PAIRS > 0u || c < CHANNELS ? payloadAt(at, c) : 0.0;
    }
}

#endif
