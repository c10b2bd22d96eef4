// Occupancy grid geometry shared by its kernels and the ray marcher
// (instant-ngp, Mueller et al. 2022, App. E): which cascade a unit-space
// point falls in, its cell, and the mapping to the network's field space.
// Twin: OccupancyGrid (Sources/Fields/OccupancyGrid.swift).
#ifndef SPLAT_OCCUPANCY_COMMON_GLSL
#define SPLAT_OCCUPANCY_COMMON_GLSL

// The smallest cascade whose box holds p: cascade k spans 0.5 +- 2^(k-1).
uint occupancyCascade(vec3 p, uint cascades) {
    vec3 a = abs(p - vec3(0.5));
    float m = max(a.x, max(a.y, a.z));
    int e;
    frexp(m, e);  // m = f 2^e, f in [0.5, 1)
    return uint(clamp(e + 1, 0, int(cascades) - 1));
}

// The cell of p in cascade k (coordinates clamped into the grid).
uint occupancyCell(vec3 p, uint k, uint g) {
    precise vec3 q = (p - vec3(0.5)) * exp2(-float(k)) + vec3(0.5);
    uvec3 c = uvec3(clamp(ivec3(floor(q * float(g))), ivec3(0), ivec3(int(g) - 1)));
    return c.x + g * (c.y + g * c.z) + k * g * g * g;
}

// Unit space -> field space (the outermost cascade's box -> [0, 1]^3).
vec3 occupancyToField(vec3 p, uint cascades) {
    return (p - vec3(0.5)) * exp2(-float(cascades - 1u)) + vec3(0.5);
}

// A 32-bit hash (PCG-style) for random cells and jitter.
uint occupancyHash(uint x) {
    x = x * 747796405u + 2891336453u;
    x = ((x >> ((x >> 28u) + 4u)) ^ x) * 277803737u;
    return (x >> 22u) ^ x;
}

#endif
