// Ray marching through the occupancy grid (instant-ngp, Mueller et al. 2022,
// App. E): from the ray's entry into the outermost cascade, step
// dt = clamp(t coneAngle, dtMin, dtMax); a step in an occupied cell (of the
// finest cascade holding the point) is a sample, an empty cell is skipped to
// where the ray leaves it (rounded up to whole steps); at most maxSamples
// per ray. Two passes with the same walk: count (OCC_FLAG_WRITE off), then,
// after an exclusive scan of the counts, write the samples at each ray's offset.
// With OCC_FLAG_RAY_NEAR each ray starts at its own t (binding 8) and the
// write pass stores where it stopped there (-1: the ray left the grid), so
// that a renderer can march in rounds of a few samples per ray and drop the
// rays that became opaque (instant-ngp's compacted inference).
// Twin: OccupancyGrid.referenceMarch (Sources/Fields/OccupancyGrid.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "fields/occupancy_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Rays { float rays[]; };          // [R, 6] f32: origin, unit direction
layout(std430, binding = 1) readonly buffer Bits { uint bits[]; };           // [K g^3 / 32] u32
layout(std430, binding = 2) buffer Counts { uint counts[]; };                // [R] u32: written (count), read as offsets (write)
layout(std430, binding = 3) writeonly buffer Ranges { uint ranges[]; };      // [R, 2] u32 (write)
layout(std430, binding = 4) writeonly buffer Points { float points[]; };     // [S, 3] f32, field space (write)
layout(std430, binding = 5) writeonly buffer Dirs { float dirs[]; };         // [S, 3] f32 (write)
layout(std430, binding = 6) writeonly buffer Dt { float dts[]; };            // [S] f32 (write)
layout(std430, binding = 7) writeonly buffer T { float ts[]; };              // [S] f32 (write)
layout(std430, binding = 8) buffer Near { float rayNear[]; };             // [R] f32 (OCC_FLAG_RAY_NEAR): start t in, stop t out (write)
layout(push_constant) uniform Push { OccupancyParams pc; };

void main() {
    uint r = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (r >= pc.count) return;
    bool write = (pc.flags & OCC_FLAG_WRITE) != 0u;
    vec3 o = vec3(rays[6 * r], rays[6 * r + 1], rays[6 * r + 2]);
    vec3 d = vec3(rays[6 * r + 3], rays[6 * r + 4], rays[6 * r + 5]);
    float half_ = 0.5 * exp2(float(pc.cascades - 1u));
    // Axis-parallel rays: a tiny direction instead of 0 keeps the plane distances finite.
    vec3 inv = 1.0 / vec3(d.x == 0.0 ? 1e-9 : d.x, d.y == 0.0 ? 1e-9 : d.y, d.z == 0.0 ? 1e-9 : d.z);
    vec3 ta = (vec3(0.5 - half_) - o) * inv, tb = (vec3(0.5 + half_) - o) * inv;
    vec3 tlo = min(ta, tb), thi = max(ta, tb);
    float tEnter = max(max(tlo.x, tlo.y), tlo.z), tExit = min(min(thi.x, thi.y), thi.z);
    bool perRay = (pc.flags & OCC_FLAG_RAY_NEAR) != 0u;
    float t = max(tEnter, perRay ? rayNear[r] : pc.near);
    uint first = write ? counts[r] : 0u;
    uint n = 0u;
    uint g = pc.gridSize;
    while (t < tExit && n < pc.maxSamples) {
        precise vec3 p = o + t * d;
        float dt = clamp(t * pc.coneAngle, pc.dtMin, pc.dtMax);
        uint k = occupancyCascade(p, pc.cascades);
        uint cell = occupancyCell(p, k, g);
        if ((bits[cell >> 5] & (1u << (cell & 31u))) != 0u) {
            if (write) {
                uint s = first + n;
                vec3 f = occupancyToField(p, pc.cascades);
                points[3 * s] = f.x; points[3 * s + 1] = f.y; points[3 * s + 2] = f.z;
                dirs[3 * s] = d.x; dirs[3 * s + 1] = d.y; dirs[3 * s + 2] = d.z;
                dts[s] = dt;
                ts[s] = t;
            }
            ++n;
            t += dt;
        } else {
            // Leave the empty cell: its far planes in cascade k, back in unit space.
            float scale = exp2(float(k));
            precise vec3 q = (p - vec3(0.5)) * exp2(-float(k)) + vec3(0.5);
            vec3 c = clamp(floor(q * float(g)), vec3(0.0), vec3(float(g) - 1.0));
            vec3 plane = ((c + step(vec3(0.0), d)) / float(g) - vec3(0.5)) * scale + vec3(0.5);
            vec3 tp = (plane - o) * inv;
            float tLeave = min(min(tp.x, tp.y), tp.z);
            t += dt * max(1.0, ceil((tLeave - t) / dt));
        }
    }
    if (write) {
        ranges[2 * r] = first; ranges[2 * r + 1] = n;
        if (perRay) rayNear[r] = t < tExit ? t : -1.0;
    }
    else counts[r] = n;
}
