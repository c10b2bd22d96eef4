// The front end of 3D Gaussians (3DGS, Kerbl et al. 2023): raw trainable
// parameters (the "gaussians3d" schema) to a world-space mean, the
// covariance factor M = R_q S (Sigma = M M^T, S the exponentiated log-scales,
// R_q the normalised quaternion's rotation), the opacity sigmoid(logit), and
// an RGB payload max(0, 0.5 + SH(direction from the camera centre)) with the
// constants of the original release (common/sh.glsl).
// Needs `frame` (RasterFrame), `pc` (RasterDispatch) and the parameter
// buffers (splatting/front_end_3d_buffers.glsl) in scope.
#ifndef SPLAT_FRONT_END_3D_GLSL
#define SPLAT_FRONT_END_3D_GLSL
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

void frontEndGeometry(uint i, out vec3 mean, out mat3 M, out float opacity) {
    mean = positionOf(i);
    vec3 s = vec3(scales[3 * i], scales[3 * i + 1], scales[3 * i + 2]);
    vec4 q = rotationOf(i);
    q /= length(q);
    M = quaternionRotation(q) * mat3(exp(s.x), 0.0, 0.0, 0.0, exp(s.y), 0.0, 0.0, 0.0, exp(s.z));
    opacity = 1.0 / (1.0 + exp(-opacities[i]));
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

#endif
