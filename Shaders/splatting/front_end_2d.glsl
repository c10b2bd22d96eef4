// The front end of 2D image-plane Gaussians (GaussianImage, Zhang et al.,
// ECCV 2024; GSASR, Chen et al. 2025): a Gaussian with mean (x, y) in pixels
// and covariance L L^T, L = [[l0, 0], [l1, l2]], is handed to the shared
// projection as a flat 3D Gaussian at (x, y, 1) with the factor
// M = [[l0, 0, 0], [l1, l2, 0], [0, 0, 0]]. Under the image-plane camera
// (identity pose, fx = fy = s, principal point 0: RasterCamera.imagePlane)
// the projected mean is s (x, y) and the 2D covariance s^2 L L^T (the
// Jacobian's depth column meets M's zero row), plus the projection's 0.3 px^2
// dilation: the pixel-integration filter at the output's resolution. So
// rendering at any scale s is a camera, and the blend is additive
// (BlendMode.additive): colour = sum_i c_i o_i exp(-power_i).
// Twin: GaussianImagePlane (Sources/Splatting/GaussianImagePlane.swift).
#ifndef SPLAT_FRONT_END_2D_GLSL
#define SPLAT_FRONT_END_2D_GLSL

bool frontEndValid(uint i) {
    float sum = means[2 * i] + means[2 * i + 1] + cholesky[3 * i] + cholesky[3 * i + 1] + cholesky[3 * i + 2]
              + colors[3 * i] + colors[3 * i + 1] + colors[3 * i + 2] + opacities[i];
    return !isnan(sum) && !isinf(sum);
}

void frontEndGeometry(uint i, out vec3 mean, out mat3 M, out float opacity) {
    mean = vec3(means[2 * i], means[2 * i + 1], 1.0);
    // GLSL matrices are built column by column.
    M = mat3(cholesky[3 * i], cholesky[3 * i + 1], 0.0,
             0.0, cholesky[3 * i + 2], 0.0,
             0.0, 0.0, 0.0);
    opacity = 1.0 / (1.0 + exp(-opacities[i]));
}

#endif
