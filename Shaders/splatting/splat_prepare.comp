// Rasterizer stage 1, per Gaussian: projection with EWA splatting (Zwicker et
// al. 2001) as gsplat's "classic" mode does it (docs/conventions.md: near plane
// 0.01, clamped Jacobian, +0.3 dilation, opacity-aware per-axis extents),
// SH colour, and the tile rectangle it touches.
// Twin: RasterizerReference.project (Sources/Splatting/RasterizerReference.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "common/sh.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Positions { float positions[]; };  // [N, 3] f32
layout(std430, binding = 1) readonly buffer Scales { float scales[]; };        // [N, 3] f32, log
layout(std430, binding = 2) readonly buffer Rotations { float rotations[]; };  // [N, 4] f32, w x y z
layout(std430, binding = 3) readonly buffer Opacities { float opacities[]; };  // [N] f32, logit
layout(std430, binding = 4) readonly buffer SHDC { float shDC[]; };            // [N, 3] f32
// [N, 3, K-1] f32 in RASTER_CHUNKS slices of pc.chunk Gaussians (splatting/chunks.glsl)
layout(std430, binding = 5) readonly buffer SHRest0 { float v[]; } shRest0;
layout(std430, binding = 6) readonly buffer SHRest1 { float v[]; } shRest1;
layout(std430, binding = 7) readonly buffer SHRest2 { float v[]; } shRest2;
layout(std430, binding = 8) readonly buffer SHRest3 { float v[]; } shRest3;
// [N] projected splats, in slices likewise
layout(std430, binding = 9) writeonly buffer Splats0 { ProjectedSplat v[]; } splats0;
layout(std430, binding = 10) writeonly buffer Splats1 { ProjectedSplat v[]; } splats1;
layout(std430, binding = 11) writeonly buffer Splats2 { ProjectedSplat v[]; } splats2;
layout(std430, binding = 12) writeonly buffer Splats3 { ProjectedSplat v[]; } splats3;
layout(std430, binding = 13) writeonly buffer Touched { uint tilesTouched[]; };    // [N] u32
layout(std430, binding = 14) buffer Counters { uint counters[]; };  // [2] u32: [0] intersections (the scan writes it), [1] non-finite Gaussians
layout(push_constant) uniform Push { RasterParams pc; };
#define SPLAT_CHUNKED_REST
#define SPLAT_CHUNKED_SPLATS_WRITE
#include "splatting/chunks.glsl"

bool finite3(vec3 v) { return !any(isnan(v)) && !any(isinf(v)); }

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    tilesTouched[i] = 0u;

    vec3 p = vec3(positions[3 * i], positions[3 * i + 1], positions[3 * i + 2]);
    vec3 s = vec3(scales[3 * i], scales[3 * i + 1], scales[3 * i + 2]);
    vec4 q = vec4(rotations[4 * i], rotations[4 * i + 1], rotations[4 * i + 2], rotations[4 * i + 3]);
    float logit = opacities[i];
    vec3 dc = vec3(shDC[3 * i], shDC[3 * i + 1], shDC[3 * i + 2]);
    bool finite = finite3(p) && finite3(s) && finite3(q.xyz) && !isnan(q.w) && !isinf(q.w)
        && !isnan(logit) && !isinf(logit) && finite3(dc);
    uvec2 rest = restLocation(i);
    for (uint k = 0; k < 3u * pc.restPerChannel; k++) {
        float v = restAt(rest, k);
        finite = finite && !isnan(v) && !isinf(v);
    }
    float qn = length(q);
    if (!finite || qn == 0.0) {
        atomicAdd(counters[1], 1u);
        return;
    }

    // View space (OpenCV axes). Rows of the world-to-camera rotation.
    // GLSL fills matrices column by column: this is R (world-to-camera).
    mat3 R = mat3(pc.r00, pc.r10, pc.r20, pc.r01, pc.r11, pc.r21, pc.r02, pc.r12, pc.r22);
    vec3 v = R * p + vec3(pc.tx, pc.ty, pc.tz);
    if (v.z <= 0.01) return;

    // 3D covariance R_q S S R_q^T, then into view space.
    q /= qn;
    float w = q.x, x = q.y, y = q.z, z = q.w;
    mat3 Rq = mat3(  // column-major: columns of the rotation matrix
        1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + w * z), 2.0 * (x * z - w * y),
        2.0 * (x * y - w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z + w * x),
        2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y));
    mat3 M = Rq * mat3(exp(s.x), 0.0, 0.0, 0.0, exp(s.y), 0.0, 0.0, 0.0, exp(s.z));

    // EWA Jacobian with gsplat's clamping of x/z, y/z to the extended frustum.
    float W = float(pc.width), H = float(pc.height);
    float tanX = 0.5 * W / pc.fx, tanY = 0.5 * H / pc.fy;
    float limXPos = (W - pc.cx) / pc.fx + 0.3 * tanX, limXNeg = pc.cx / pc.fx + 0.3 * tanX;
    float limYPos = (H - pc.cy) / pc.fy + 0.3 * tanY, limYNeg = pc.cy / pc.fy + 0.3 * tanY;
    float rz = 1.0 / v.z;
    float tx = v.z * min(limXPos, max(-limXNeg, v.x * rz));
    float ty = v.z * min(limYPos, max(-limYNeg, v.y * rz));
    // J, 2 rows x 3 columns (GLSL mat3x2 is 3 columns of 2).
    mat3x2 J = mat3x2(pc.fx * rz, 0.0,
                      0.0, pc.fy * rz,
                      -pc.fx * tx * rz * rz, -pc.fy * ty * rz * rz);
    // cov2d = J R Sigma R^T J^T = A A^T with A = J R M (2x3). Its entries and
    // determinant (Cauchy-Binet: the sum of the squared 2x2 minors of A) are
    // sums of squares: gsplat's quantities without the cancellation of
    // a c - b^2 for needle-like Gaussians.
    mat3x2 A = J * R * M;
    vec3 row0 = vec3(A[0][0], A[1][0], A[2][0]), row1 = vec3(A[0][1], A[1][1], A[2][1]);
    float a = dot(row0, row0), b = dot(row0, row1), c = dot(row1, row1);
    vec3 minors = cross(row0, row1);
    float detBefore = dot(minors, minors);
    // Dilation: (a + 0.3)(c + 0.3) - b^2 = det + 0.3 (a + c) + 0.09.
    float det = detBefore + 0.3 * (a + c) + 0.09;
    a += 0.3;
    c += 0.3;
    if (!(det > 0.0) || isinf(det) || isnan(a + b + c)) return;
    float opacity = 1.0 / (1.0 + exp(-logit));
    if ((pc.flags & RASTER_FLAG_ANTIALIAS) != 0u) opacity *= sqrt(max(0.0, detBefore / det));
    if (opacity < 1.0 / 255.0) return;

    // Opacity-aware per-axis extent.
    float e = min(3.33, sqrt(2.0 * log(255.0 * opacity)));
    float mid = 0.5 * (a + c);
    float lambdaMax = mid + sqrt(max(0.01, mid * mid - det));
    float radiusX = ceil(min(e * sqrt(a), e * sqrt(lambdaMax)));
    float radiusY = ceil(min(e * sqrt(c), e * sqrt(lambdaMax)));
    if (radiusX <= 0.0 && radiusY <= 0.0) return;
    vec2 mean = vec2(pc.fx * v.x * rz + pc.cx, pc.fy * v.y * rz + pc.cy);
    if (mean.x + radiusX <= 0.0 || mean.x - radiusX >= W || mean.y + radiusY <= 0.0 || mean.y - radiusY >= H) return;

    const float T = float(RASTER_TILE_SIZE);
    int minX = clamp(int(floor((mean.x - radiusX) / T)), 0, int(pc.tilesX));
    int maxX = clamp(int(ceil((mean.x + radiusX) / T)), 0, int(pc.tilesX));
    int minY = clamp(int(floor((mean.y - radiusY) / T)), 0, int(pc.tilesY));
    int maxY = clamp(int(ceil((mean.y + radiusY) / T)), 0, int(pc.tilesY));
    uint touched = uint(max(0, maxX - minX) * max(0, maxY - minY));
    if (touched == 0u) return;

    // Colour: max(0, 0.5 + SH(direction from the camera centre)).
    vec3 dir = normalize(p - vec3(pc.camX, pc.camY, pc.camZ));
    float basis[15];
    shBasis(dir, pc.shDegree, basis);
    vec3 color = SH_C0 * dc;
    uint terms = (pc.shDegree + 1u) * (pc.shDegree + 1u) - 1u;
    for (uint k = 0; k < terms; k++) {
        color += basis[k] * vec3(restAt(rest, k), restAt(rest, pc.restPerChannel + k), restAt(rest, 2u * pc.restPerChannel + k));
    }
    color = max(color + 0.5, vec3(0.0));

    ProjectedSplat o;
    o.meanX = mean.x;
    o.meanY = mean.y;
    o.conicA = c / det;
    o.conicB = -b / det;
    o.conicC = a / det;
    o.opacity = opacity;
    o.colorR = color.r;
    o.colorG = color.g;
    o.colorB = color.b;
    o.depth = v.z;
    o.tileMin = uint(minX) | (uint(minY) << 16);
    o.tileMax = uint(maxX) | (uint(maxY) << 16);
    o.radiusX = radiusX;
    o.radiusY = radiusY;
    o.pad0 = 0.0;
    o.pad1 = 0.0;
    storeSplat(i, o);
    tilesTouched[i] = touched;
}
