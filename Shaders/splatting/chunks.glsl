// Per-Gaussian buffers that may exceed one binding's range
// (maxStorageBufferRange: 128 MiB on lavapipe) are bound as RASTER_CHUNKS
// consecutive slices of pc.chunk Gaussians each: SH rest coefficients and the
// projected splats. A branch picks the slice, so no descriptor-indexing
// feature is needed. Unused slices are bound to the first one.
#ifndef SPLAT_CHUNKS_GLSL
#define SPLAT_CHUNKS_GLSL

#ifdef SPLAT_CHUNKED_REST
// Where Gaussian g's SH rest coefficients live: (slice, first index in it).
uvec2 restLocation(uint g) {
    uint c = min(g / pc.chunk, RASTER_CHUNKS - 1u);
    return uvec2(c, (g - c * pc.chunk) * 3u * pc.restPerChannel);
}

// Coefficient k (0 ..< 3 (K-1), channel-major as in the PLY) at `at`.
float restAt(uvec2 at, uint k) {
    uint l = at.y + k;
    if (at.x == 0u) return shRest0.v[l];
    if (at.x == 1u) return shRest1.v[l];
    if (at.x == 2u) return shRest2.v[l];
    return shRest3.v[l];
}
#endif

#ifdef SPLAT_CHUNKED_SPLATS_READ
ProjectedSplat loadSplat(uint g) {
    uint c = min(g / pc.chunk, RASTER_CHUNKS - 1u);
    uint l = g - c * pc.chunk;
    if (c == 0u) return splats0.v[l];
    if (c == 1u) return splats1.v[l];
    if (c == 2u) return splats2.v[l];
    return splats3.v[l];
}
#endif

#ifdef SPLAT_CHUNKED_SPLATS_WRITE
void storeSplat(uint g, ProjectedSplat s) {
    uint c = min(g / pc.chunk, RASTER_CHUNKS - 1u);
    uint l = g - c * pc.chunk;
    if (c == 0u) splats0.v[l] = s;
    else if (c == 1u) splats1.v[l] = s;
    else if (c == 2u) splats2.v[l] = s;
    else splats3.v[l] = s;
}
#endif

#endif
