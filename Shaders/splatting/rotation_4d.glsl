// Rotations of 4D space as two unit quaternions (Yang et al., ICLR 2024):
// R4 = L(q_left) R(q_right), the left- and right-isoclinic matrices, and the
// gradient of a quaternion from that of its matrix. Shared by the 4D front
// end, its backward and the 4D consistency regulariser.
#ifndef SPLAT_ROTATION_4D_GLSL
#define SPLAT_ROTATION_4D_GLSL

// The left-isoclinic matrix of (a, b, c, d) (GLSL: built from rows, transposed).
mat4 leftIsoclinic(vec4 q) {
    float a = q.x, b = q.y, c = q.z, d = q.w;
    return transpose(mat4(a, -b, -c, -d,  b, a, -d, c,  c, d, a, -b,  d, -c, b, a));
}

// The right-isoclinic matrix of (p, q, r, s).
mat4 rightIsoclinic(vec4 q) {
    float p = q.x, r1 = q.y, r2 = q.z, r3 = q.w;
    return transpose(mat4(p, -r1, -r2, -r3,  r1, p, r3, -r2,  r2, -r3, p, r1,  r3, r2, -r1, p));
}

// The factor F = L(ql) R(qr) diag(scale) (columns), quaternions unnormalised.
mat4 factor4(vec4 ql, vec4 qr, vec4 scale, out mat4 Lq, out mat4 Rq) {
    Lq = leftIsoclinic(ql / length(ql));
    Rq = rightIsoclinic(qr / length(qr));
    mat4 R4 = Lq * Rq;
    return mat4(R4[0] * scale.x, R4[1] * scale.y, R4[2] * scale.z, R4[3] * scale.w);
}

// Row 3 of F (b).
vec4 timeRow(mat4 F) { return vec4(F[0][3], F[1][3], F[2][3], F[3][3]); }

// The gradient of a unit quaternion's components from that of its
// left-isoclinic (right = false) or right-isoclinic matrix, then through
// the normalisation of qRaw.
vec4 isoclinicBackward(vec4 qRaw, mat4 g, bool right) {
    // g[col][row]; G(r, c) = g[c][r].
    float t = g[0][0] + g[1][1] + g[2][2] + g[3][3];
    vec4 gq;
    if (!right) {
        gq = vec4(t,
                  -g[1][0] + g[0][1] - g[3][2] + g[2][3],
                  -g[2][0] + g[3][1] + g[0][2] - g[1][3],
                  -g[3][0] - g[2][1] + g[1][2] + g[0][3]);
    } else {
        gq = vec4(t,
                  -g[1][0] + g[0][1] + g[3][2] - g[2][3],
                  -g[2][0] - g[3][1] + g[0][2] + g[1][3],
                  -g[3][0] + g[2][1] - g[1][2] + g[0][3]);
    }
    float n = length(qRaw);
    vec4 q = qRaw / n;
    return (gq - q * dot(q, gq)) / n;
}

// The gradients of F's log-scales and of both quaternions from gF (dL/dF,
// columns): F = R4 diag(scale), R4 = Lq Rq.
void factor4Backward(mat4 gF, vec4 ql, vec4 qr, vec4 scale, mat4 Lq, mat4 Rq,
                     out vec4 gLogScale, out vec4 gLeft, out vec4 gRight) {
    mat4 gR4;
    mat4 R4 = Lq * Rq;
    for (int c = 0; c < 4; c++) {
        gLogScale[c] = dot(gF[c], R4[c]) * scale[c];
        gR4[c] = gF[c] * scale[c];
    }
    gLeft = isoclinicBackward(ql, gR4 * transpose(Rq), false);
    gRight = isoclinicBackward(qr, transpose(Lq) * gR4, true);
}

#endif
