// Backward of stage 1 (projection), per Gaussian: from the gradients of its
// projected 2D mean, conic, effective opacity, colour and depth (summed by
// splat_blend_backward) to the gradients of its raw parameters: position,
// log-scales, unnormalised quaternion, opacity logit and SH coefficients.
// Recomputes the forward maths of splat_prepare (factored covariance
// A A^T, A = J R M), then applies the chain rule back through the conic and
// dilation, the antialiasing compensation, the EWA Jacobian (no gradient
// through a clamped x/z), the 3D covariance, the SH colour (masked where
// clamped at 0, including the view-direction path to the position).
// Twin: ProjectionBackward.backward (Sources/Splatting/ProjectionBackward.swift).
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
layout(std430, binding = 5) readonly buffer SHRest0 { float v[]; } shRest0;    // [N, 3, K-1] f32 in slices
layout(std430, binding = 6) readonly buffer SHRest1 { float v[]; } shRest1;
layout(std430, binding = 7) readonly buffer SHRest2 { float v[]; } shRest2;
layout(std430, binding = 8) readonly buffer SHRest3 { float v[]; } shRest3;
layout(std430, binding = 9) readonly buffer Touched { uint tilesTouched[]; };   // [N] u32 (0: culled)
layout(std430, binding = 10) readonly buffer Upstream { SplatGradient up[]; };  // [N]
layout(std430, binding = 11) writeonly buffer GradPositions { float gradPositions[]; };  // [N, 3]
layout(std430, binding = 12) writeonly buffer GradScales { float gradScales[]; };        // [N, 3]
layout(std430, binding = 13) writeonly buffer GradRotations { float gradRotations[]; };  // [N, 4]
layout(std430, binding = 14) writeonly buffer GradOpacities { float gradOpacities[]; };  // [N]
layout(std430, binding = 15) writeonly buffer GradSHDC { float gradSHDC[]; };            // [N, 3]
layout(std430, binding = 16) writeonly buffer GradSHRest0 { float v[]; } gradRest0;      // [N, 3, K-1] in slices
layout(std430, binding = 17) writeonly buffer GradSHRest1 { float v[]; } gradRest1;
layout(std430, binding = 18) writeonly buffer GradSHRest2 { float v[]; } gradRest2;
layout(std430, binding = 19) writeonly buffer GradSHRest3 { float v[]; } gradRest3;
layout(push_constant) uniform Push { RasterParams pc; };
#define SPLAT_CHUNKED_REST
#include "splatting/chunks.glsl"

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

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    uvec2 rest = restLocation(i);
    uint restCount = 3u * pc.restPerChannel;
    if (tilesTouched[i] == 0u) {
        for (uint k = 0; k < 3u; k++) { gradPositions[3 * i + k] = 0.0; gradScales[3 * i + k] = 0.0; gradSHDC[3 * i + k] = 0.0; }
        for (uint k = 0; k < 4u; k++) gradRotations[4 * i + k] = 0.0;
        gradOpacities[i] = 0.0;
        for (uint k = 0; k < restCount; k++) storeRestGradient(rest, k, 0.0);
        return;
    }
    SplatGradient g = up[i];
    vec3 p = vec3(positions[3 * i], positions[3 * i + 1], positions[3 * i + 2]);
    vec3 s = exp(vec3(scales[3 * i], scales[3 * i + 1], scales[3 * i + 2]));
    vec4 qRaw = vec4(rotations[4 * i], rotations[4 * i + 1], rotations[4 * i + 2], rotations[4 * i + 3]);
    float logit = opacities[i];

    // Forward, as splat_prepare computes it.
    mat3 R = mat3(pc.r00, pc.r10, pc.r20, pc.r01, pc.r11, pc.r21, pc.r02, pc.r12, pc.r22);
    vec3 v = R * p + vec3(pc.tx, pc.ty, pc.tz);
    float qNorm = length(qRaw);
    vec4 q = qRaw / qNorm;
    float w = q.x, x = q.y, y = q.z, z = q.w;
    mat3 Rq = mat3(
        1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + w * z), 2.0 * (x * z - w * y),
        2.0 * (x * y - w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z + w * x),
        2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y));
    mat3 M = Rq * mat3(s.x, 0.0, 0.0, 0.0, s.y, 0.0, 0.0, 0.0, s.z);
    float W = float(pc.width), H = float(pc.height);
    float tanX = 0.5 * W / pc.fx, tanY = 0.5 * H / pc.fy;
    float limXPos = (W - pc.cx) / pc.fx + 0.3 * tanX, limXNeg = pc.cx / pc.fx + 0.3 * tanX;
    float limYPos = (H - pc.cy) / pc.fy + 0.3 * tanY, limYNeg = pc.cy / pc.fy + 0.3 * tanY;
    float rz = 1.0 / v.z;
    float ratioX = v.x * rz, ratioY = v.y * rz;
    float clampedX = min(limXPos, max(-limXNeg, ratioX)), clampedY = min(limYPos, max(-limYNeg, ratioY));
    bool clampX = clampedX != ratioX, clampY = clampedY != ratioY;
    float tx = v.z * clampedX, ty = v.z * clampedY;
    mat3x2 J = mat3x2(pc.fx * rz, 0.0, 0.0, pc.fy * rz, -pc.fx * tx * rz * rz, -pc.fy * ty * rz * rz);
    mat3x2 JR = J * R;
    mat3x2 A = JR * M;
    vec3 A0 = vec3(A[0][0], A[1][0], A[2][0]), A1 = vec3(A[0][1], A[1][1], A[2][1]);
    float a = dot(A0, A0), b = dot(A0, A1), c = dot(A1, A1);
    vec3 minors = cross(A0, A1);
    float detB = dot(minors, minors);
    float det = detB + 0.3 * (a + c) + 0.09;
    float ad = a + 0.3, cd = c + 0.3;
    bool antialias = (pc.flags & RASTER_FLAG_ANTIALIAS) != 0u;
    float comp = antialias ? sqrt(max(0.0, detB / det)) : 1.0;
    float sigmoid = 1.0 / (1.0 + exp(-logit));
    vec3 offset = p - vec3(pc.camX, pc.camY, pc.camZ);
    float dist = length(offset);
    vec3 dir = offset / dist;
    float basis[15];
    shBasis(dir, pc.shDegree, basis);
    vec3 dc = vec3(shDC[3 * i], shDC[3 * i + 1], shDC[3 * i + 2]);
    uint terms = (pc.shDegree + 1u) * (pc.shDegree + 1u) - 1u;
    vec3 raw = SH_C0 * dc + 0.5;
    for (uint k = 0; k < terms; k++) {
        raw += basis[k] * vec3(restAt(rest, k), restAt(rest, pc.restPerChannel + k), restAt(rest, 2u * pc.restPerChannel + k));
    }

    // Colour: masked where clamped at 0.
    vec3 gRaw = vec3(raw.x > 0.0 ? g.colorR : 0.0, raw.y > 0.0 ? g.colorG : 0.0, raw.z > 0.0 ? g.colorB : 0.0);
    vec3 basisGrad[15];
    shBasisGradient(dir, pc.shDegree, basisGrad);
    vec3 gDir = vec3(0.0);
    vec3 gDC = gRaw * SH_C0;
    for (uint k = 0; k < restCount; k++) storeRestGradient(rest, k, 0.0);
    for (uint k = 0; k < terms; k++) {
        vec3 coeff = vec3(restAt(rest, k), restAt(rest, pc.restPerChannel + k), restAt(rest, 2u * pc.restPerChannel + k));
        vec3 gCoeff = gRaw * basis[k];
        storeRestGradient(rest, k, gCoeff.r);
        storeRestGradient(rest, pc.restPerChannel + k, gCoeff.g);
        storeRestGradient(rest, 2u * pc.restPerChannel + k, gCoeff.b);
        gDir += basisGrad[k] * dot(gRaw, coeff);
    }
    vec3 gPosition = (gDir - dir * dot(dir, gDir)) / dist;

    // Opacity and compensation.
    float gLogit = g.opacity * comp * sigmoid * (1.0 - sigmoid);
    float gA = 0.0, gB = 0.0, gC = 0.0;
    if (antialias && comp > 0.0) {
        float gComp = g.opacity * sigmoid;
        float dDetB = gComp / (2.0 * comp * det), dDet = -gComp * comp / (2.0 * det);
        gA += dDetB * c + dDet * cd;
        gB += -2.0 * b * (dDetB + dDet);
        gC += dDetB * a + dDet * ad;
    }
    // Conic (c'/det, -b/det, a'/det).
    float det2 = det * det;
    gA += g.conicA * (-cd * cd / det2) + g.conicB * (b * cd / det2) + g.conicC * (-b * b / det2);
    gC += g.conicA * (-b * b / det2) + g.conicB * (b * ad / det2) + g.conicC * (-ad * ad / det2);
    gB += g.conicA * (2.0 * b * cd / det2) + g.conicB * (-(det + 2.0 * b * b) / det2) + g.conicC * (2.0 * ad * b / det2);

    // cov = A A^T; A = JR M.
    vec3 gA0 = 2.0 * gA * A0 + gB * A1, gA1 = 2.0 * gC * A1 + gB * A0;
    mat3x2 gAm = mat3x2(gA0.x, gA1.x, gA0.y, gA1.y, gA0.z, gA1.z);
    mat3 gM = transpose(JR) * gAm;          // 3x3 = (3x2)(2x3)
    mat3x2 gJR = gAm * transpose(M);         // 2x3
    mat3x2 gJ = gJR * transpose(R);          // 2x3
    vec3 gv = vec3(0.0);
    float z2 = v.z * v.z;
    gv.z += -gJ[0][0] * pc.fx / z2 - gJ[1][1] * pc.fy / z2;
    if (clampX) { gv.z += gJ[2][0] * pc.fx * clampedX / z2; }
    else { gv.x += -gJ[2][0] * pc.fx / z2; gv.z += gJ[2][0] * 2.0 * pc.fx * v.x / (z2 * v.z); }
    if (clampY) { gv.z += gJ[2][1] * pc.fy * clampedY / z2; }
    else { gv.y += -gJ[2][1] * pc.fy / z2; gv.z += gJ[2][1] * 2.0 * pc.fy * v.y / (z2 * v.z); }

    // M = Rq S.
    vec3 gS = vec3(dot(gM[0], Rq[0]), dot(gM[1], Rq[1]), dot(gM[2], Rq[2]));  // columns k
    mat3 gRq = mat3(gM[0] * s.x, gM[1] * s.y, gM[2] * s.z);
    // gRq[col][row]: element (row, col) of the gradient.
    float g00 = gRq[0][0], g01 = gRq[1][0], g02 = gRq[2][0];
    float g10 = gRq[0][1], g11 = gRq[1][1], g12 = gRq[2][1];
    float g20 = gRq[0][2], g21 = gRq[1][2], g22 = gRq[2][2];
    vec4 gq = 2.0 * vec4(
        -z * g01 + y * g02 + z * g10 - x * g12 - y * g20 + x * g21,
        y * g01 + z * g02 + y * g10 - 2.0 * x * g11 - w * g12 + z * g20 + w * g21 - 2.0 * x * g22,
        -2.0 * y * g00 + x * g01 + w * g02 + x * g10 + z * g12 - w * g20 + z * g21 - 2.0 * y * g22,
        -2.0 * z * g00 - w * g01 + x * g02 + w * g10 - 2.0 * z * g11 + y * g12 + x * g20 + y * g21);
    vec4 gRaw4 = (gq - q * dot(q, gq)) / qNorm;

    // Mean and depth.
    gv.x += g.meanX * pc.fx * rz;
    gv.y += g.meanY * pc.fy * rz;
    gv.z += -(g.meanX * pc.fx * v.x + g.meanY * pc.fy * v.y) / z2 + g.depth;
    gPosition += transpose(R) * gv;

    for (uint k = 0; k < 3u; k++) {
        gradPositions[3 * i + k] = gPosition[k];
        gradScales[3 * i + k] = gS[k] * s[k];
        gradSHDC[3 * i + k] = gDC[k];
    }
    for (uint k = 0; k < 4u; k++) gradRotations[4 * i + k] = gRaw4[k];
    gradOpacities[i] = gLogit;
}
