// The front end of 3D Gaussians (3DGS, Kerbl et al. 2023): raw trainable
// parameters (the "gaussians" schema) to a world-space mean, the covariance
// factor M = R_q S (Sigma = M M^T, S the exponentiated log-scales, R_q the
// normalised quaternion's rotation), the opacity sigmoid(logit); the RGB
// payload and the helpers are splatting/front_end_common.glsl's.
#ifndef SPLAT_FRONT_END_3D_GLSL
#define SPLAT_FRONT_END_3D_GLSL
#include "splatting/front_end_common.glsl"

void frontEndGeometry(uint i, out vec3 mean, out mat3 M, out float opacity) {
    mean = positionOf(i);
    vec3 s = vec3(scales[3 * i], scales[3 * i + 1], scales[3 * i + 2]);
    vec4 q = rotationOf(i);
    q /= length(q);
    M = quaternionRotation(q) * mat3(exp(s.x), 0.0, 0.0, 0.0, exp(s.y), 0.0, 0.0, 0.0, exp(s.z));
    opacity = 1.0 / (1.0 + exp(-opacities[i]));
}

#endif
