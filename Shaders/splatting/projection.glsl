// The projection stage shared by every kind of Gaussian in 3D space, forward
// and backward: EWA splatting (Zwicker et al. 2001) as gsplat's "classic"
// mode does it (docs/conventions.md: near plane 0.01, Jacobian clamped to the
// extended frustum, +0.3 dilation, optional antialiasing compensation,
// opacity-aware per-axis extents), and the tile rectangle a splat touches.
//
// Input, from a kind's front end: a world-space mean, a factor M of the 3D
// covariance (Sigma = M M^T: 3D Gaussians give R_q S; a kind with a full
// covariance passes its Cholesky factor) and an opacity in [0, 1]. With the
// factor, the 2D covariance J W M (J W M)^T and its determinant are sums of
// squares, without the cancellation of a c - b^2 for needle-like Gaussians.
// Needs `frame` (RasterFrame) in scope.
// Twins: RasterizerReference.projectOne and ProjectionBackward (Sources/Splatting).
#ifndef SPLAT_PROJECTION_GLSL
#define SPLAT_PROJECTION_GLSL

// The world-to-camera rotation (GLSL fills matrices column by column).
mat3 frameRotation() {
    return mat3(frame.r00, frame.r10, frame.r20, frame.r01, frame.r11, frame.r21, frame.r02, frame.r12, frame.r22);
}

// The frustum limits of x/z and y/z (gsplat: 1.3 x the half field of view
// beyond the principal point on each side).
void frustumLimits(out vec2 positive, out vec2 negative) {
    float W = float(frame.width), H = float(frame.height);
    float tanX = 0.5 * W / frame.fx, tanY = 0.5 * H / frame.fy;
    positive = vec2((W - frame.cx) / frame.fx + 0.3 * tanX, (H - frame.cy) / frame.fy + 0.3 * tanY);
    negative = vec2(frame.cx / frame.fx + 0.3 * tanX, frame.cy / frame.fy + 0.3 * tanY);
}

// Projects one Gaussian; returns the number of tiles it touches (0: culled)
// and its splat in `o`.
uint projectGaussian(vec3 p, mat3 M, float opacity, bool antialias, out ProjectedSplat o) {
    mat3 R = frameRotation();
    vec3 v = R * p + vec3(frame.tx, frame.ty, frame.tz);
    if (v.z <= 0.01) return 0u;

    // EWA Jacobian with gsplat's clamping of x/z, y/z to the extended frustum.
    vec2 limPos, limNeg;
    frustumLimits(limPos, limNeg);
    float rz = 1.0 / v.z;
    float tx = v.z * min(limPos.x, max(-limNeg.x, v.x * rz));
    float ty = v.z * min(limPos.y, max(-limNeg.y, v.y * rz));
    // J, 2 rows x 3 columns (GLSL mat3x2 is 3 columns of 2).
    mat3x2 J = mat3x2(frame.fx * rz, 0.0,
                      0.0, frame.fy * rz,
                      -frame.fx * tx * rz * rz, -frame.fy * ty * rz * rz);
    // cov2d = A A^T with A = J R M (2x3); its determinant is the sum of the
    // squared 2x2 minors of A (Cauchy-Binet).
    mat3x2 A = J * R * M;
    vec3 row0 = vec3(A[0][0], A[1][0], A[2][0]), row1 = vec3(A[0][1], A[1][1], A[2][1]);
    float a = dot(row0, row0), b = dot(row0, row1), c = dot(row1, row1);
    vec3 minors = cross(row0, row1);
    float detBefore = dot(minors, minors);
    // Dilation: (a + 0.3)(c + 0.3) - b^2 = det + 0.3 (a + c) + 0.09.
    float det = detBefore + 0.3 * (a + c) + 0.09;
    a += 0.3;
    c += 0.3;
    if (!(det > 0.0) || isinf(det) || isnan(a + b + c)) return 0u;
    if (antialias) opacity *= sqrt(max(0.0, detBefore / det));
    if (opacity < 1.0 / 255.0) return 0u;

    // Opacity-aware per-axis extent.
    float e = min(3.33, sqrt(2.0 * log(255.0 * opacity)));
    float mid = 0.5 * (a + c);
    float lambdaMax = mid + sqrt(max(0.01, mid * mid - det));
    float radiusX = ceil(min(e * sqrt(a), e * sqrt(lambdaMax)));
    float radiusY = ceil(min(e * sqrt(c), e * sqrt(lambdaMax)));
    if (radiusX <= 0.0 && radiusY <= 0.0) return 0u;
    float W = float(frame.width), H = float(frame.height);
    vec2 mean = vec2(frame.fx * v.x * rz + frame.cx, frame.fy * v.y * rz + frame.cy);
    if (mean.x + radiusX <= 0.0 || mean.x - radiusX >= W || mean.y + radiusY <= 0.0 || mean.y - radiusY >= H) return 0u;

    const float T = float(RASTER_TILE_SIZE);
    int minX = clamp(int(floor((mean.x - radiusX) / T)), 0, int(frame.tilesX));
    int maxX = clamp(int(ceil((mean.x + radiusX) / T)), 0, int(frame.tilesX));
    int minY = clamp(int(floor((mean.y - radiusY) / T)), 0, int(frame.tilesY));
    int maxY = clamp(int(ceil((mean.y + radiusY) / T)), 0, int(frame.tilesY));
    uint touched = uint(max(0, maxX - minX) * max(0, maxY - minY));
    if (touched == 0u) return 0u;

    o.meanX = mean.x;
    o.meanY = mean.y;
    o.conicA = c / det;
    o.conicB = -b / det;
    o.conicC = a / det;
    o.opacity = opacity;
    o.depth = v.z;
    o.tileMin = uint(minX) | (uint(minY) << 16);
    o.tileMax = uint(maxX) | (uint(maxY) << 16);
    o.radiusX = radiusX;
    o.radiusY = radiusY;
    o.pad0 = 0.0;
    return touched;
}

// Backward of projectGaussian for a Gaussian it kept: from the gradients of
// the splat's 2D mean, conic, effective opacity and depth (`g`) to those of
// the world mean, the covariance factor M and the opacity. Recomputes the
// forward; applies the chain rule back through the conic and dilation, the
// antialiasing compensation and the EWA Jacobian (no gradient through a
// clamped x/z).
// Also gives dL/dSigma (gCov, symmetric) for front ends whose covariance is
// not a product they differentiate (4D slices).
void projectGaussianBackward(vec3 p, mat3 M, float opacity, bool antialias, SplatGradient g,
                             out vec3 gMean, out mat3 gM, out mat3 gCov, out float gOpacity) {
    mat3 R = frameRotation();
    vec3 v = R * p + vec3(frame.tx, frame.ty, frame.tz);
    vec2 limPos, limNeg;
    frustumLimits(limPos, limNeg);
    float rz = 1.0 / v.z;
    float ratioX = v.x * rz, ratioY = v.y * rz;
    float clampedX = min(limPos.x, max(-limNeg.x, ratioX)), clampedY = min(limPos.y, max(-limNeg.y, ratioY));
    bool clampX = clampedX != ratioX, clampY = clampedY != ratioY;
    float tx = v.z * clampedX, ty = v.z * clampedY;
    mat3x2 J = mat3x2(frame.fx * rz, 0.0, 0.0, frame.fy * rz, -frame.fx * tx * rz * rz, -frame.fy * ty * rz * rz);
    mat3x2 JR = J * R;
    mat3x2 A = JR * M;
    vec3 A0 = vec3(A[0][0], A[1][0], A[2][0]), A1 = vec3(A[0][1], A[1][1], A[2][1]);
    float a = dot(A0, A0), b = dot(A0, A1), c = dot(A1, A1);
    vec3 minors = cross(A0, A1);
    float detB = dot(minors, minors);
    float det = detB + 0.3 * (a + c) + 0.09;
    float ad = a + 0.3, cd = c + 0.3;
    float comp = antialias ? sqrt(max(0.0, detB / det)) : 1.0;

    // Opacity and compensation.
    gOpacity = g.opacity * comp;
    float gA = 0.0, gB = 0.0, gC = 0.0;
    if (antialias && comp > 0.0) {
        float gComp = g.opacity * opacity;
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
    gM = transpose(JR) * gAm;               // 3x3 = (3x2)(2x3)
    // cov2 = JR Sigma JR^T, so dL/dSigma = JR^T G2 JR with G2 the symmetric
    // gradient of (a, b, c).
    gCov = transpose(JR) * mat2(gA, 0.5 * gB, 0.5 * gB, gC) * JR;
    mat3x2 gJR = gAm * transpose(M);         // 2x3
    mat3x2 gJ = gJR * transpose(R);          // 2x3
    vec3 gv = vec3(0.0);
    float z2 = v.z * v.z;
    gv.z += -gJ[0][0] * frame.fx / z2 - gJ[1][1] * frame.fy / z2;
    if (clampX) { gv.z += gJ[2][0] * frame.fx * clampedX / z2; }
    else { gv.x += -gJ[2][0] * frame.fx / z2; gv.z += gJ[2][0] * 2.0 * frame.fx * v.x / (z2 * v.z); }
    if (clampY) { gv.z += gJ[2][1] * frame.fy * clampedY / z2; }
    else { gv.y += -gJ[2][1] * frame.fy / z2; gv.z += gJ[2][1] * 2.0 * frame.fy * v.y / (z2 * v.z); }

    // Mean and depth.
    gv.x += g.meanX * frame.fx * rz;
    gv.y += g.meanY * frame.fy * rz;
    gv.z += -(g.meanX * frame.fx * v.x + g.meanY * frame.fy * v.y) / z2 + g.depth;
    gMean = transpose(R) * gv;
}

#endif
