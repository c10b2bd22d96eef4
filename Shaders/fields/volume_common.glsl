// Shared by the volume rendering kernels: the activations instant-ngp puts
// between its networks and the compositing (density: exponential; colour:
// sigmoid) and the background of a ray.
#ifndef SPLAT_VOLUME_COMMON_GLSL
#define SPLAT_VOLUME_COMMON_GLSL

float volumeDensity(float raw) { return exp(raw); }
// d sigma / d raw, with the raw value clamped to +-15 (instant-ngp's guard
// against exploding gradients of the exponential).
float volumeDensityDerivative(float raw) { return exp(clamp(raw, -15.0, 15.0)); }
vec3 volumeColour(vec3 raw) { return 1.0 / (1.0 + exp(-raw)); }
// A sample's alpha: NeRF's 1 - exp(-sigma dt), or the value itself when the
// field computed it (VOLUME_FLAG_ALPHA, clamped to [0, 1]).
float volumeAlpha(float raw, float dt, uint flags) {
    return (flags & VOLUME_FLAG_ALPHA) != 0u ? clamp(raw, 0.0, 1.0) : 1.0 - exp(-volumeDensity(raw) * dt);
}

#endif
