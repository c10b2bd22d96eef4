// Helpers of the adaptive density control kernels (densify_*.comp).
#ifndef SPLAT_DENSIFY_COMMON_GLSL
#define SPLAT_DENSIFY_COMMON_GLSL

// lowbias32 (Chris Wellons' integer hash): a counter-based random source,
// so a split child's sample depends only on (seed, index, child, axis).
// Twin: GaussianDensification.hash (Sources/Splatting/GaussianDensification.swift).
uint densifyHash(uint x) {
    x ^= x >> 16; x *= 0x7feb352du;
    x ^= x >> 15; x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

// Uniform in (0, 1) from 24 random bits.
float densifyUniform(uint h) { return (float(h >> 8) + 0.5) * (1.0 / 16777216.0); }

// A standard normal sample for (seed, index, child, axis), Box-Muller.
float densifyNormal(uint seed, uint index, uint child, uint axis) {
    uint base = densifyHash(densifyHash(seed) ^ index);
    uint stream = child * 3u + axis;
    float u1 = densifyUniform(densifyHash(base ^ (2u * stream + 1u) * 0x9e3779b9u));
    float u2 = densifyUniform(densifyHash(base ^ (2u * stream + 2u) * 0x9e3779b9u));
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

float densifySigmoid(float x) { return 1.0 / (1.0 + exp(-x)); }

#endif
