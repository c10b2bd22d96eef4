// Image loss, step 2 (vertical pass): local means and (co)variances, the SSIM
// of each pixel and channel, its L1 term, and the partial derivatives the
// backward blurs (A, B, C: dL/dx_p = G*A + 2 x_p G*B + y_p G*C). Each thread
// filters PIXELS consecutive pixels of a column (loss_common.glsl).
// Twin: ImageLoss.reference.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "training/loss_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Stats { vec4 stats[]; };          // [H, W, 4] vec4 (horizontal sums, packStats)
layout(std430, binding = 1) writeonly buffer Partials { vec4 partials[]; };   // [H, W, 3] vec4: A, B, C (RGB, w = 0)
layout(std430, binding = 2) writeonly buffer SSIMPixel { float ssimPixel[]; };  // [H, W] f32: SSIM summed over channels
layout(push_constant) uniform Push { LossParams pc; };

const float C1 = 0.0001;  // 0.01^2
const float C2 = 0.0009;  // 0.03^2

void main() {
    uint segments = (pc.height + PIXELS - 1u) / PIXELS;
    uint i = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (i >= segments * pc.width) return;
    int px = int(i % pc.width), py0 = int((i / pc.width) * PIXELS);
    vec3 meanX[PIXELS], meanY[PIXELS], exx[PIXELS], eyy[PIXELS], exy[PIXELS];  // blurred x, y, x^2, y^2, xy
    for (uint k = 0; k < PIXELS; k++) {
        meanX[k] = vec3(0.0); meanY[k] = vec3(0.0); exx[k] = vec3(0.0); eyy[k] = vec3(0.0); exy[k] = vec3(0.0);
    }
    // Input row py0 + r feeds output k with weight ssimWeight(r - k).
    float weights[PIXELS];
    for (uint k = 0; k < PIXELS; k++) weights[k] = 0.0;
    for (int r = -SSIM_RADIUS; r < int(PIXELS) + SSIM_RADIUS; r++) {
        shiftWeights(weights, r);
        int qy = py0 + r;
        if (qy < 0 || qy >= int(pc.height)) continue;
        uint q = 4u * (uint(qy) * pc.width + uint(px));
        vec3 sx, sy, sxx, syy, sxy;
        unpackStats(stats[q], stats[q + 1u], stats[q + 2u], stats[q + 3u], sx, sy, sxx, syy, sxy);
        for (int k = 0; k < int(PIXELS); k++) {
            float w = weights[k];
            meanX[k] += w * sx; meanY[k] += w * sy; exx[k] += w * sxx; eyy[k] += w * syy; exy[k] += w * sxy;
        }
    }
    // Upstream: loss term lambda (1 - mean SSIM) -> dL/dS = -lambda / (3 H W).
    float upstream = -pc.lambda * pc.invCount;
    for (uint k = 0; k < PIXELS; k++) {
        if (py0 + int(k) >= int(pc.height)) break;
        uint p = (uint(py0) + k) * pc.width + uint(px);
        float ssimSum = 0.0;
        vec3 pa, pb, pc3;
        for (uint c = 0; c < 3u; c++) {
            float mx = meanX[k][c], my = meanY[k][c];
            float vx = exx[k][c] - mx * mx, vy = eyy[k][c] - my * my, cxy = exy[k][c] - mx * my;
            float l = 2.0 * mx * my + C1, m = mx * mx + my * my + C1;
            float sn = 2.0 * cxy + C2, d = vx + vy + C2;
            float ssim = (l * sn) / (m * d);
            ssimSum += ssim;
            float dMx = 2.0 * my * sn / (m * d) - 2.0 * mx * l * sn / (m * m * d);
            float dVx = -l * sn / (m * d * d);
            float dCxy = 2.0 * l / (m * d);
            pa[c] = upstream * (dMx - 2.0 * mx * dVx - my * dCxy);
            pb[c] = upstream * dVx;
            pc3[c] = upstream * dCxy;
        }
        partials[3u * p] = vec4(pa, 0.0);
        partials[3u * p + 1u] = vec4(pb, 0.0);
        partials[3u * p + 2u] = vec4(pc3, 0.0);
        ssimPixel[p] = ssimSum;
    }
}
