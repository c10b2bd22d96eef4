// What the backward front ends of 3D and 4D Gaussians share: the gradient
// outputs of the groups both have (bound from FRONT_END_GRADIENT_BINDING),
// the SH colour's backward (to the coefficients and, through the view
// direction, to the mean) and the backward of a normalised quaternion's
// rotation. Include after splatting/prepare_backward_stage.glsl and
// splatting/front_end_common.glsl.
#ifndef SPLAT_FRONT_END_COMMON_BACKWARD_GLSL
#define SPLAT_FRONT_END_COMMON_BACKWARD_GLSL

layout(std430, binding = FRONT_END_GRADIENT_BINDING) writeonly buffer GradPositions { float gradPositions[]; };  // [N, 3]
layout(std430, binding = FRONT_END_GRADIENT_BINDING + 1) writeonly buffer GradScales { float gradScales[]; };  // [N, 3]
layout(std430, binding = FRONT_END_GRADIENT_BINDING + 2) writeonly buffer GradRotations { float gradRotations[]; };  // [N, 4]
layout(std430, binding = FRONT_END_GRADIENT_BINDING + 3) writeonly buffer GradOpacities { float gradOpacities[]; };  // [N]
layout(std430, binding = FRONT_END_GRADIENT_BINDING + 4) writeonly buffer GradSHDC { float gradSHDC[]; };  // [N, 3]
layout(std430, binding = FRONT_END_GRADIENT_BINDING + 5) writeonly buffer GradSHRest0 { float v[]; } gradRest0;  // [N, 3, K-1] in slices
layout(std430, binding = FRONT_END_GRADIENT_BINDING + 6) writeonly buffer GradSHRest1 { float v[]; } gradRest1;
layout(std430, binding = FRONT_END_GRADIENT_BINDING + 7) writeonly buffer GradSHRest2 { float v[]; } gradRest2;
layout(std430, binding = FRONT_END_GRADIENT_BINDING + 8) writeonly buffer GradSHRest3 { float v[]; } gradRest3;

void storeRestGradient(uvec2 at, uint k, float value) {
    uint l = at.y + k;
    if (at.x == 0u) gradRest0.v[l] = value;
    else if (at.x == 1u) gradRest1.v[l] = value;
    else if (at.x == 2u) gradRest2.v[l] = value;
    else gradRest3.v[l] = value;
}

// Gradients of the SH basis (without coefficient 0) w.r.t. the direction.
void shBasisGradient(vec3 d, uint degree, out vec3 g[15]) {
    for (int k = 0; k < 15; k++) g[k] = vec3(0.0);
    if (degree == 0u) return;
    float x = d.x, y = d.y, z = d.z;
    g[0] = vec3(0.0, -SH_C1, 0.0);
    g[1] = vec3(0.0, 0.0, SH_C1);
    g[2] = vec3(-SH_C1, 0.0, 0.0);
    if (degree == 1u) return;
    g[3] = vec3(SH_C2[0] * y, SH_C2[0] * x, 0.0);
    g[4] = vec3(0.0, SH_C2[1] * z, SH_C2[1] * y);
    g[5] = vec3(-2.0 * SH_C2[2] * x, -2.0 * SH_C2[2] * y, 4.0 * SH_C2[2] * z);
    g[6] = vec3(SH_C2[3] * z, 0.0, SH_C2[3] * x);
    g[7] = vec3(2.0 * SH_C2[4] * x, -2.0 * SH_C2[4] * y, 0.0);
    if (degree == 2u) return;
    float xx = x * x, yy = y * y, zz = z * z;
    g[8] = vec3(6.0 * SH_C3[0] * x * y, SH_C3[0] * (3.0 * xx - 3.0 * yy), 0.0);
    g[9] = vec3(SH_C3[1] * y * z, SH_C3[1] * x * z, SH_C3[1] * x * y);
    g[10] = vec3(-2.0 * SH_C3[2] * x * y, SH_C3[2] * (4.0 * zz - xx - 3.0 * yy), 8.0 * SH_C3[2] * y * z);
    g[11] = vec3(-6.0 * SH_C3[3] * x * z, -6.0 * SH_C3[3] * y * z, SH_C3[3] * (6.0 * zz - 3.0 * xx - 3.0 * yy));
    g[12] = vec3(SH_C3[4] * (4.0 * zz - 3.0 * xx - yy), -2.0 * SH_C3[4] * x * y, 8.0 * SH_C3[4] * x * z);
    g[13] = vec3(2.0 * SH_C3[5] * x * z, -2.0 * SH_C3[5] * y * z, SH_C3[5] * (xx - yy));
    g[14] = vec3(SH_C3[6] * (3.0 * xx - 3.0 * yy), -6.0 * SH_C3[6] * x * y, 0.0);
}

void zeroBaseGradients(uint i) {
    for (uint k = 0; k < 3u; k++) { gradPositions[3 * i + k] = 0.0; gradScales[3 * i + k] = 0.0; gradSHDC[3 * i + k] = 0.0; }
    for (uint k = 0; k < 4u; k++) gradRotations[4 * i + k] = 0.0;
    gradOpacities[i] = 0.0;
    uvec2 rest = restLocation(i);
    for (uint k = 0; k < 3u * frame.restPerChannel; k++) storeRestGradient(rest, k, 0.0);
}

// The colour's backward for Gaussian i seen at `mean`: writes the SH
// gradients (masked where the colour was clamped at 0) and returns the
// gradient the view direction carries to the mean.
vec3 colorBackward(uint i, vec3 mean) {
    vec3 dir;
    float basis[15];
    vec3 raw = shColor(i, mean, dir, basis);
    uvec2 payload = payloadLocation(i);
    bool own = (pc.flags & RASTER_FLAG_SKIP_PAYLOAD) == 0u;   // else the payload was the caller's: no colour gradient
    vec3 gColor = own ? vec3(payloadGradientAt(payload, 0u), payloadGradientAt(payload, 1u), payloadGradientAt(payload, 2u)) : vec3(0.0);
    vec3 gRaw = vec3(raw.x > 0.0 ? gColor.r : 0.0, raw.y > 0.0 ? gColor.g : 0.0, raw.z > 0.0 ? gColor.b : 0.0);
    vec3 basisGrad[15];
    shBasisGradient(dir, frame.shDegree, basisGrad);
    vec3 gDir = vec3(0.0);
    vec3 gDC = gRaw * SH_C0;
    uvec2 rest = restLocation(i);
    for (uint k = 0; k < 3u * frame.restPerChannel; k++) storeRestGradient(rest, k, 0.0);
    uint terms = (frame.shDegree + 1u) * (frame.shDegree + 1u) - 1u;
    for (uint k = 0; k < terms; k++) {
        vec3 coeff = vec3(restAt(rest, k), restAt(rest, frame.restPerChannel + k), restAt(rest, 2u * frame.restPerChannel + k));
        vec3 gCoeff = gRaw * basis[k];
        storeRestGradient(rest, k, gCoeff.r);
        storeRestGradient(rest, frame.restPerChannel + k, gCoeff.g);
        storeRestGradient(rest, 2u * frame.restPerChannel + k, gCoeff.b);
        gDir += basisGrad[k] * dot(gRaw, coeff);
    }
    for (uint k = 0; k < 3u; k++) gradSHDC[3 * i + k] = gDC[k];
    float dist = length(mean - vec3(frame.camX, frame.camY, frame.camZ));
    return (gDir - dir * dot(dir, gDir)) / dist;
}

// The gradient of an unnormalised quaternion qRaw (w, x, y, z) from that of
// the rotation matrix of qRaw / |qRaw| (gRq[col][row]).
vec4 quaternionBackward(vec4 qRaw, mat3 gRq) {
    float qNorm = length(qRaw);
    vec4 q = qRaw / qNorm;
    float w = q.x, x = q.y, y = q.z, z = q.w;
    float g00 = gRq[0][0], g01 = gRq[1][0], g02 = gRq[2][0];
    float g10 = gRq[0][1], g11 = gRq[1][1], g12 = gRq[2][1];
    float g20 = gRq[0][2], g21 = gRq[1][2], g22 = gRq[2][2];
    vec4 gq = 2.0 * vec4(
        -z * g01 + y * g02 + z * g10 - x * g12 - y * g20 + x * g21,
        y * g01 + z * g02 + y * g10 - 2.0 * x * g11 - w * g12 + z * g20 + w * g21 - 2.0 * x * g22,
        -2.0 * y * g00 + x * g01 + w * g02 + x * g10 + z * g12 - w * g20 + z * g21 - 2.0 * y * g22,
        -2.0 * z * g00 - w * g01 + x * g02 + w * g10 - 2.0 * z * g11 + y * g12 + x * g20 + y * g21);
    return (gq - q * dot(q, gq)) / qNorm;
}

#endif
