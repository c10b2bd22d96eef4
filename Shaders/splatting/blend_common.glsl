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
// Splats staged per round: RASTER_BATCH unless a wide payload would not fit
// the device's shared memory (the host picks it).
layout(constant_id = SPEC_BLEND_BATCH) const uint BLEND_BATCH = RASTER_BATCH;
// Grouped sparse payloads (several sparse fields side by side, e.g. one per
// language level): the pairs come in SPARSE_GROUPS equal groups and group z
// only names channels of chunk z, so the workgroup of chunk z stages and
// visits its GROUP_PAIRS pairs alone.
layout(constant_id = SPEC_SPARSE_GROUPS) const uint SPARSE_GROUPS = 1;
const uint GROUP_PAIRS = SPARSE_PAIRS / SPARSE_GROUPS;
const uint ROWS = RASTER_TILE_SIZE / PIXELS_PER_THREAD;    // thread rows per tile
const uint THREADS = RASTER_TILE_SIZE * ROWS;
// Channels are handled four at a time (vec4), so that per-pixel
// accumulators stay in a few registers (RGB: one vec4 per pixel) rather than
// in an array a compiler indexes at run time.
const uint CHUNK4 = (CHUNK + 3u) / 4u;
// Payload vec4s staged per splat: this chunk's channels, or every pair.
const uint STAGED4 = SPARSE_PAIRS > 0u ? (2u * GROUP_PAIRS + 3u) / 4u : CHUNK4;
layout(local_size_x = 16, local_size_y_id = SPEC_ITEMS_PER_THREAD) in;  // y = ROWS, set by the host

shared vec4 batchMeanOpacity[BLEND_BATCH];   // mean.x, mean.y, opacity, depth
shared vec4 batchConic[BLEND_BATCH];         // a, b, c, footprint level
shared vec4 batchPayload[BLEND_BATCH * STAGED4];

// The first sparse pair this workgroup (chunk z) visits.
uint firstPair() { return SPARSE_GROUPS > 1u ? gl_WorkGroupID.z * GROUP_PAIRS : 0u; }

// Stages splat g's payload for this workgroup's chunk (channels c0 ..< c0 +
// CHUNK; sparse: its group's 2 GROUP_PAIRS floats) at slot s, zero-padded to whole vec4s.
void stagePayload(uint s, uint g, uint c0) {
    uvec2 at = payloadLocation(g);
    uint first = SPARSE_PAIRS > 0u ? 2u * firstPair() : c0;
    uint end = SPARSE_PAIRS > 0u ? first + 2u * GROUP_PAIRS : min(c0 + CHUNK, CHANNELS);
    for (uint v = 0; v < STAGED4; v++) batchPayload[s * STAGED4 + v] = payloadQuad(at, first + 4u * v, end);
}

// Float k of staged splat j's payload (sparse pairs: 2q is the channel's bits,
// 2q + 1 the weight, q counted from firstPair()).
float stagedFloat(uint j, uint k) { return batchPayload[j * STAGED4 + k / 4u][k % 4u]; }

#endif
