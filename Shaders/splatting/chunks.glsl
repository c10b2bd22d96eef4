// Per-Gaussian buffers that may exceed one binding's range
// (maxStorageBufferRange: 128 MiB on lavapipe) are bound as RASTER_CHUNKS
// consecutive slices of pc.chunk Gaussians each: SH rest coefficients, the
// projected splats, the payload and its gradient. A branch picks the slice,
// so no descriptor-indexing feature is needed. Unused slices are bound to the
// first one. Each user declares the slices it binds, then defines the
// matching SPLAT_CHUNKED_* macros before including this file.
#ifndef SPLAT_CHUNKS_GLSL
#define SPLAT_CHUNKS_GLSL

// Which slice holds Gaussian g, and g's index within it.
uvec2 chunkLocation(uint g) {
    uint c = min(g / pc.chunk, RASTER_CHUNKS - 1u);
    return uvec2(c, g - c * pc.chunk);
}

#ifdef SPLAT_CHUNKED_SPLATS_READ
ProjectedSplat loadSplat(uint g) {
    uvec2 at = chunkLocation(g);
    if (at.x == 0u) return splats0.v[at.y];
    if (at.x == 1u) return splats1.v[at.y];
    if (at.x == 2u) return splats2.v[at.y];
    return splats3.v[at.y];
}
#endif

#ifdef SPLAT_CHUNKED_SPLATS_WRITE
void storeSplat(uint g, ProjectedSplat s) {
    uvec2 at = chunkLocation(g);
    if (at.x == 0u) splats0.v[at.y] = s;
    else if (at.x == 1u) splats1.v[at.y] = s;
    else if (at.x == 2u) splats2.v[at.y] = s;
    else splats3.v[at.y] = s;
}
#endif

#if defined(SPLAT_CHUNKED_PAYLOAD_READ) || defined(SPLAT_CHUNKED_PAYLOAD_WRITE) || defined(SPLAT_CHUNKED_PAYLOAD_GRADIENT_ADD) || defined(SPLAT_CHUNKED_PAYLOAD_GRADIENT_READ)
// The payload [N, pc.payloadStride] f32: (slice, first float of Gaussian g).
uvec2 payloadLocation(uint g) {
    uvec2 at = chunkLocation(g);
    return uvec2(at.x, at.y * pc.payloadStride);
}
#endif

#ifdef SPLAT_CHUNKED_PAYLOAD_READ
// Floats first ..< min(first + 4, end) at `at`, zero-padded: one slice
// choice for four loads.
vec4 payloadQuad(uvec2 at, uint first, uint end) {
    vec4 value = vec4(0.0);
    uint l = at.y + first;
    uint n = min(4u, end - min(first, end));
    if (at.x == 0u) { for (uint i = 0; i < n; i++) value[i] = payload0.v[l + i]; }
    else if (at.x == 1u) { for (uint i = 0; i < n; i++) value[i] = payload1.v[l + i]; }
    else if (at.x == 2u) { for (uint i = 0; i < n; i++) value[i] = payload2.v[l + i]; }
    else { for (uint i = 0; i < n; i++) value[i] = payload3.v[l + i]; }
    return value;
}
#endif

#ifdef SPLAT_CHUNKED_PAYLOAD_WRITE
void storePayload(uvec2 at, uint k, float value) {
    uint l = at.y + k;
    if (at.x == 0u) payload0.v[l] = value;
    else if (at.x == 1u) payload1.v[l] = value;
    else if (at.x == 2u) payload2.v[l] = value;
    else payload3.v[l] = value;
}
#endif

#ifdef SPLAT_CHUNKED_PAYLOAD_GRADIENT_ADD
void addPayloadGradient(uvec2 at, uint k, float value) {
    uint l = at.y + k;
    if (at.x == 0u) atomicAdd(gradPayload0.v[l], value);
    else if (at.x == 1u) atomicAdd(gradPayload1.v[l], value);
    else if (at.x == 2u) atomicAdd(gradPayload2.v[l], value);
    else atomicAdd(gradPayload3.v[l], value);
}
#endif

#ifdef SPLAT_CHUNKED_PAYLOAD_GRADIENT_ADD
// Adds value's first min(4, end - first) components to floats first ... at `at`.
void addPayloadGradientQuad(uvec2 at, uint first, uint end, vec4 value) {
    uint l = at.y + first;
    uint n = min(4u, end - min(first, end));
    if (at.x == 0u) { for (uint i = 0; i < n; i++) atomicAdd(gradPayload0.v[l + i], value[i]); }
    else if (at.x == 1u) { for (uint i = 0; i < n; i++) atomicAdd(gradPayload1.v[l + i], value[i]); }
    else if (at.x == 2u) { for (uint i = 0; i < n; i++) atomicAdd(gradPayload2.v[l + i], value[i]); }
    else { for (uint i = 0; i < n; i++) atomicAdd(gradPayload3.v[l + i], value[i]); }
}
#endif

#ifdef SPLAT_CHUNKED_PAYLOAD_GRADIENT_READ
float payloadGradientAt(uvec2 at, uint k) {
    uint l = at.y + k;
    if (at.x == 0u) return gradPayload0.v[l];
    if (at.x == 1u) return gradPayload1.v[l];
    if (at.x == 2u) return gradPayload2.v[l];
    return gradPayload3.v[l];
}
#endif

#endif
