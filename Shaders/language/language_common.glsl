// Helpers of the language kernels.
#ifndef SPLAT_LANGUAGE_COMMON_GLSL
#define SPLAT_LANGUAGE_COMMON_GLSL

// 1 / (pixels with a feature) of a level: the loss is a mean per level.
float languageInvValid(LanguageParams p, uint level) {
    return level == 0u ? p.invValid0 : (level == 1u ? p.invValid1 : p.invValid2);
}

// |f|^2 = w^T G w is floored here, so an uncovered pixel (w = 0) has a
// finite cosine and gradient.
const float LANGUAGE_NORM_FLOOR = 1e-10;

#endif
