// Adaptive density control, decision per Gaussian (3DGS, Kerbl et al. 2023,
// Sec. 5.2): where the mean NDC gradient reaches the threshold, a small
// Gaussian (max scale <= cloneMaxScale) is cloned and a large one is split in
// two; then every resulting Gaussian is pruned when its opacity is below
// minOpacity or (with DENSIFY_FLAG_PRUNE_SIZE) its world scale exceeds
// maxWorldScale or, for Gaussians that existed before and maxScreenRadius > 0,
// its largest screen radius since the last densification exceeded it. Writes how
// many Gaussians replace each one (0, 1 or 2) and, for --max-gaussians, a
// histogram of the growing Gaussians' mean gradients.
// Twin: GaussianDensification.classify (Sources/Splatting/GaussianDensification.swift).
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "splatting/densify_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Scales { float scales[]; };        // [N, 3] f32, log
layout(std430, binding = 1) readonly buffer Opacities { float opacities[]; };  // [N] f32, logit
layout(std430, binding = 2) readonly buffer GradAccum { float gradAccum[]; };  // [N] f32
layout(std430, binding = 3) readonly buffer Views { float views[]; };          // [N] f32
layout(std430, binding = 4) readonly buffer MaxRadius { float maxRadius[]; };  // [N] f32
layout(std430, binding = 5) writeonly buffer Outputs { uint outputs[]; };      // [N] u32: Gaussians replacing this one
layout(std430, binding = 6) writeonly buffer Actions { uint actions[]; };      // [N] u32: DENSIFY_ACTION_* bits
layout(std430, binding = 7) buffer Histogram { uint histogram[]; };           // [DENSIFY_HISTOGRAM_BINS] u32
layout(std430, binding = 8) buffer Tally { uint tally[]; };                   // [4] u32: cloned, split, pruned (for the report)
layout(push_constant) uniform Push { DensifyParams pc; };

void main() {
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= pc.count) return;
    float meanGrad = views[i] > 0.0 ? gradAccum[i] / views[i] : 0.0;
    bool grow = (pc.flags & DENSIFY_FLAG_GROW) != 0u && meanGrad >= pc.gradThreshold;
    float maxScale = exp(max(scales[3 * i], max(scales[3 * i + 1], scales[3 * i + 2])));
    bool split = grow && maxScale > pc.cloneMaxScale;
    bool clone = grow && !split;
    float opacity = densifySigmoid(opacities[i]);
    bool sizePrune = (pc.flags & DENSIFY_FLAG_PRUNE_SIZE) != 0u;
    bool faint = opacity < pc.minOpacity;
    bool screenPrune = pc.maxScreenRadius > 0.0 && maxRadius[i] > pc.maxScreenRadius;
    bool keepSelf = !faint && !(sizePrune && (maxScale > pc.maxWorldScale || screenPrune));
    // New Gaussians have no screen radius yet; split children are 1.6x smaller.
    bool keepCopy = !faint && !(sizePrune && maxScale > pc.maxWorldScale);
    bool keepChild = !faint && !(sizePrune && maxScale / 1.6 > pc.maxWorldScale);
    uint n = split ? (keepChild ? 2u : 0u) : (keepSelf ? 1u : 0u) + (clone && keepCopy ? 1u : 0u);
    outputs[i] = n;
    actions[i] = (split ? DENSIFY_ACTION_SPLIT : 0u) | (keepSelf && !split ? DENSIFY_ACTION_KEEP : 0u)
        | (clone && keepCopy ? DENSIFY_ACTION_CLONE : 0u);
    if (clone && keepCopy) atomicAdd(tally[0], 1u);
    if (split) atomicAdd(tally[1], 1u);
    // Gone without replacement: pruned originals, and split ones whose children are pruned.
    if (split ? !keepChild : !keepSelf) atomicAdd(tally[2], 1u);
    if (grow) atomicAdd(histogram[min(floatBitsToUint(meanGrad) >> 20, DENSIFY_HISTOGRAM_BINS - 1u)], 1u);
}
