// Shared by the image-loss kernels.
#ifndef SPLAT_LOSS_COMMON_GLSL
#define SPLAT_LOSS_COMMON_GLSL

// Pixels each thread filters: consecutive along the pass's axis (1 on GPUs;
// more on CPU drivers, where a thread then loads each input once for all its
// pixels, (PIXELS + 10) loads instead of 11 PIXELS).
layout(constant_id = SPEC_ITEMS_PER_THREAD) const uint PIXELS = 1;

// The normalised 1D Gaussian window of 11 taps, sigma 1.5 (3DGS's
// create_window); zero outside it.
const float SSIM_WINDOW_TOTAL = 1.0 + 2.0 * (exp(-1.0 / 4.5) + exp(-4.0 / 4.5) + exp(-9.0 / 4.5) + exp(-16.0 / 4.5) + exp(-25.0 / 4.5));
float ssimWeight(int offset) {
    return abs(offset) <= SSIM_RADIUS ? exp(-float(offset * offset) / 4.5) / SSIM_WINDOW_TOTAL : 0.0;
}

// The filters below walk inputs r = -radius ..< PIXELS + radius (relative to
// a thread's first pixel) and keep weights[k] = ssimWeight(r - k), the weight
// of the current input for output k: shifted by one per input, so that one
// weight is computed per input rather than one per input and output.
void shiftWeights(inout float weights[PIXELS], int r) {
    for (uint k = PIXELS - 1u; k > 0u; k--) weights[k] = weights[k - 1u];
    weights[0] = ssimWeight(r);
}

// The five horizontal sums of a pixel (x, y, x^2, y^2, xy; RGB each) packed
// in 4 vec4s, so that the passes move them with 4 vector accesses (CPU
// drivers issue one access per lane and component otherwise).
vec4[4] packStats(vec3 sx, vec3 sy, vec3 sxx, vec3 syy, vec3 sxy) {
    return vec4[4](vec4(sx, sy.x), vec4(sy.yz, sxx.xy), vec4(sxx.z, syy), vec4(sxy, 0.0));
}
void unpackStats(vec4 a, vec4 b, vec4 c, vec4 d, out vec3 sx, out vec3 sy, out vec3 sxx, out vec3 syy, out vec3 sxy) {
    sx = a.xyz; sy = vec3(a.w, b.xy); sxx = vec3(b.zw, c.x); syy = c.yzw; sxy = d.xyz;
}

vec3 unpackRGB(uint rgba) {
    return vec3(float(rgba & 0xffu), float((rgba >> 8) & 0xffu), float((rgba >> 16) & 0xffu)) / 255.0;
}

// A target pixel: RGB, or with LOSS_FLAG_COMPOSITE_TARGET its straight-alpha
// RGBA over the background (random backgrounds change it every iteration).
vec3 targetRGB(uint rgba, LossParams p) {
    vec3 c = unpackRGB(rgba);
    if ((p.flags & LOSS_FLAG_COMPOSITE_TARGET) == 0u) return c;
    float a = float(rgba >> 24) / 255.0;
    return c * a + vec3(p.bgR, p.bgG, p.bgB) * (1.0 - a);
}

#endif
