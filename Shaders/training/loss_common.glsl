// Shared by the image-loss kernels.
#ifndef SPLAT_LOSS_COMMON_GLSL
#define SPLAT_LOSS_COMMON_GLSL

// The normalised 1D Gaussian window of 11 taps, sigma 1.5 (3DGS's create_window).
float ssimWeight(int offset) {
    float total = 0.0;
    for (int k = -SSIM_RADIUS; k <= SSIM_RADIUS; k++) total += exp(-float(k * k) / 4.5);
    return exp(-float(offset * offset) / 4.5) / total;
}

vec3 unpackRGB(uint rgba) {
    return vec3(float(rgba & 0xffu), float((rgba >> 8) & 0xffu), float((rgba >> 16) & 0xffu)) / 255.0;
}

#endif
