// Multiresolution hash grid lookup shared by the encoding's forward, backward
// and position-gradient kernels (instant-ngp, Mueller et al. 2022, Sec. 3):
// a point's eight surrounding grid vertices at one level, their table entries
// and trilinear weights (and the weights' slopes).
// Twin: HashGridEncoding.corners (Sources/Fields/HashGridEncoding.swift).
#ifndef SPLAT_HASH_GRID_GLSL
#define SPLAT_HASH_GRID_GLSL

// The table entry of grid vertex c at a level: dense levels index the grid
// row-major (x fastest); hashed levels XOR the coordinates times the primes.
// Either is taken modulo the level's entries (a dense level's vertex at
// coordinate `resolution`, reached by the upper corner of a point at 1, wraps).
uint hashGridEntry(HashGridLevel level, uvec3 c) {
    uint i = level.hashed != 0u
        ? (c.x ^ (c.y * HASH_PRIME_Y) ^ (c.z * HASH_PRIME_Z))
        : c.x + level.resolution * (c.y + level.resolution * c.z);
    return level.offset + i % level.entries;
}

// The lower grid vertex of point x (clamped to [0, 1]^3) and its fractional
// position. `precise` keeps scale * x + 0.5 unfused, as in the Swift twin,
// so both pick the same cell at cell borders.
void hashGridCell(HashGridLevel level, vec3 x, out uvec3 cell, out vec3 frac) {
    precise vec3 pos = level.scale * clamp(x, vec3(0.0), vec3(1.0)) + vec3(0.5);
    vec3 lower = floor(pos);
    cell = uvec3(lower);
    frac = pos - lower;
}

// Corner k (bit 0: x, bit 1: y, bit 2: z) of the cell: its vertex and weight.
float hashGridCorner(uvec3 cell, vec3 frac, uint k, out uvec3 vertex) {
    uvec3 bits = uvec3(k & 1u, (k >> 1) & 1u, (k >> 2) & 1u);
    vertex = cell + bits;
    vec3 w = mix(vec3(1.0) - frac, frac, vec3(bits));
    return w.x * w.y * w.z;
}

// d weight / d frac of corner k: each factor of the product has slope +1
// (upper vertex on that axis) or -1 (lower vertex); the product rule gives
// the rest. Chained with d frac / d x = scale (inside the box; the clamp is
// flat outside), this is the encoding's derivative with respect to position.
vec3 hashGridCornerWeightGradient(vec3 frac, uint k) {
    vec3 bits = vec3(uvec3(k & 1u, (k >> 1) & 1u, (k >> 2) & 1u));
    vec3 w = mix(vec3(1.0) - frac, frac, bits);
    vec3 slope = 2.0 * bits - vec3(1.0);
    return slope * vec3(w.y * w.z, w.x * w.z, w.x * w.y);
}

#endif
