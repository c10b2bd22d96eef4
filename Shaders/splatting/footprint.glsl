// The exact footprint of a splat, shared by the blend kernels: the pixels
// where alpha = o exp(-q / 2) >= 1/255, i.e. q = d^T conic d <= 2 ln(255 o)
// (d = mean - pixel centre). Where the ellipse q = level misses a thread's
// column of pixels, every one of them would skip the splat, so the thread can
// skip it untested; both passes use this same test, so they agree. A per-axis
// box (docs/conventions.md's extents) holds the ellipse, but for an elongated
// diagonal splat most of the box is empty: the exact test avoids that work.
// The level carries a margin so rounding can only keep a pixel, never drop one.
#ifndef SPLAT_FOOTPRINT_GLSL
#define SPLAT_FOOTPRINT_GLSL

// The level of the 1/255 contour for opacity o (negative: nowhere).
float footprintLevel(float opacity) {
    float level = 2.0 * log(255.0 * opacity);
    return level * 1.001 + 1e-3;
}

// Whether the contour q = level meets the column x = columnX, y in [y0, y1]
// (pixel centres). For fixed dx = mean.x - columnX, q is a parabola in dy with
// its minimum dx^2 (a - b^2 / c) at dy = -b dx / c, i.e. at pixel y =
// mean.y + b dx / c; it stays <= level within sqrt((level - qmin) / c) of it.
bool footprintMeetsColumn(vec2 mean, vec3 conic, float level, float columnX, float y0, float y1) {
    float dx = mean.x - columnX;
    float invC = 1.0 / conic.z;
    float qmin = dx * dx * (conic.x - conic.y * conic.y * invC);
    if (!(qmin <= level)) return false;
    float halfSpan = sqrt((level - qmin) * invC) + 1e-3;
    float centre = mean.y + conic.y * dx * invC;
    return centre + halfSpan >= y0 && centre - halfSpan <= y1;
}

#endif
