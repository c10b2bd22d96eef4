// What the front ends of 3D and 4D Gaussians share, forward: reading the
// parameter groups both have (splatting/front_end_3d_buffers.glsl), the
// rotation of a quaternion, the finiteness check and the RGB payload
// max(0, 0.5 + SH(direction from the camera centre to the mean)) with the
// constants of the original 3DGS release (common/sh.glsl).
// Needs `frame` (RasterFrame), `pc` (RasterDispatch), the parameter buffers
// and, for shPayload, the prepare stage's storePayload in scope.
#ifndef SPLAT_FRONT_END_COMMON_GLSL
#define SPLAT_FRONT_END_COMMON_GLSL
#include "common/sh.glsl"

// Where Gaussian g's SH rest coefficients live: (slice, first index in it).
uvec2 restLocation(uint g) {
    uvec2 at = chunkLocation(g);
    return uvec2(at.x, at.y * 3u * frame.restPerChannel);
}

// Coefficient k (0 ..< 3 (K-1), channel-major as in the PLY) at `at`.
float restAt(uvec2 at, uint k) {
    uint l = at.y + k;
    if (at.x == 0u) return shRest0.v[l];
    if (at.x == 1u) return shRest1.v[l];
    if (at.x == 2u) return shRest2.v[l];
    return shRest3.v[l];
}

vec3 positionOf(uint i) { return vec3(positions[3 * i], positions[3 * i + 1], positions[3 * i + 2]); }
vec4 rotationOf(uint i) { return vec4(rotations[4 * i], rotations[4 * i + 1], rotations[4 * i + 2], rotations[4 * i + 3]); }

// The rotation of a unit quaternion (w, x, y, z), column-major.
mat3 quaternionRotation(vec4 q) {
    float w = q.x, x = q.y, y = q.z, z = q.w;
    return mat3(
        1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + w * z), 2.0 * (x * z - w * y),
        2.0 * (x * y - w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z + w * x),
        2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y));
}

// The view direction and the SH colour before the clamp at 0 (0.5 + SH).
vec3 shColor(uint i, vec3 mean, out vec3 dir, out float basis[15]) {
    dir = normalize(mean - vec3(frame.camX, frame.camY, frame.camZ));
    shBasis(dir, frame.shDegree, basis);
    uvec2 rest = restLocation(i);
    vec3 color = SH_C0 * vec3(shDC[3 * i], shDC[3 * i + 1], shDC[3 * i + 2]);
    uint terms = (frame.shDegree + 1u) * (frame.shDegree + 1u) - 1u;
    for (uint k = 0; k < terms; k++) {
        color += basis[k] * vec3(restAt(rest, k), restAt(rest, frame.restPerChannel + k), restAt(rest, 2u * frame.restPerChannel + k));
    }
    return color + 0.5;
}

bool finite3(vec3 v) { return !any(isnan(v)) && !any(isinf(v)); }
bool finite4(vec4 v) { return !any(isnan(v)) && !any(isinf(v)); }

// Whether the groups 3D and 4D Gaussians share are finite for Gaussian i
// (and its quaternion is not zero).
bool baseParametersValid(uint i) {
    vec3 s = vec3(scales[3 * i], scales[3 * i + 1], scales[3 * i + 2]);
    vec4 q = rotationOf(i);
    float logit = opacities[i];
    vec3 dc = vec3(shDC[3 * i], shDC[3 * i + 1], shDC[3 * i + 2]);
    bool finite = finite3(positionOf(i)) && finite3(s) && finite4(q) && !isnan(logit) && !isinf(logit) && finite3(dc);
    uvec2 rest = restLocation(i);
    for (uint k = 0; k < 3u * frame.restPerChannel; k++) {
        float v = restAt(rest, k);
        finite = finite && !isnan(v) && !isinf(v);
    }
    return finite && length(q) != 0.0;
}

#ifdef SPLAT_PREPARE_STAGE_GLSL
// The RGB payload of Gaussian i seen at `mean`.
void shPayload(uint i, vec3 mean) {
    vec3 dir;
    float basis[15];
    vec3 color = max(shColor(i, mean, dir, basis), vec3(0.0));
    uvec2 at = payloadLocation(i);
    storePayload(at, 0u, color.r);
    storePayload(at, 1u, color.g);
    storePayload(at, 2u, color.b);
}
#endif

#endif
