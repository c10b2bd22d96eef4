// Image loss, step 2 (vertical pass): local means and (co)variances, the SSIM
// of each pixel and channel, its L1 term, and the partial derivatives the
// backward blurs (A, B, C: dL/dx_p = G*A + 2 x_p G*B + y_p G*C).
// Twin: ImageLoss.reference.
#version 450
#extension GL_GOOGLE_include_directive : require
#include "common/layouts.h"
#include "common/dispatch.glsl"
#include "training/loss_common.glsl"

layout(constant_id = SPEC_WORKGROUP_SIZE) const uint WORKGROUP_SIZE = 256;
layout(local_size_x_id = SPEC_WORKGROUP_SIZE) in;

layout(std430, binding = 0) readonly buffer Stats { float stats[]; };         // [H, W, 15] f32 (horizontal sums)
layout(std430, binding = 1) writeonly buffer Partials { float partials[]; };  // [H, W, 9] f32: A, B, C per channel
layout(std430, binding = 2) writeonly buffer SSIMPixel { float ssimPixel[]; };  // [H, W] f32: SSIM summed over channels
layout(push_constant) uniform Push { LossParams pc; };

const float C1 = 0.0001;  // 0.01^2
const float C2 = 0.0009;  // 0.03^2

void main() {
    uint p = splatWorkgroupIndex() * WORKGROUP_SIZE + gl_LocalInvocationID.x;
    if (p >= pc.width * pc.height) return;
    int px = int(p % pc.width), py = int(p / pc.width);
    float s[15];
    for (int j = 0; j < 15; j++) s[j] = 0.0;
    for (int k = -SSIM_RADIUS; k <= SSIM_RADIUS; k++) {
        int qy = py + k;
        if (qy < 0 || qy >= int(pc.height)) continue;
        uint q = 15u * (uint(qy) * pc.width + uint(px));
        float w = ssimWeight(k);
        for (uint j = 0; j < 15u; j++) s[j] += w * stats[q + j];
    }
    float ssimSum = 0.0;
    // Upstream: loss term lambda (1 - mean SSIM) -> dL/dS = -lambda / (3 H W).
    float upstream = -pc.lambda * pc.invCount;
    for (uint c = 0; c < 3u; c++) {
        float mx = s[c], my = s[3u + c];
        float vx = s[6u + c] - mx * mx, vy = s[9u + c] - my * my, cxy = s[12u + c] - mx * my;
        float l = 2.0 * mx * my + C1, m = mx * mx + my * my + C1;
        float sn = 2.0 * cxy + C2, d = vx + vy + C2;
        float ssim = (l * sn) / (m * d);
        ssimSum += ssim;
        float dMx = 2.0 * my * sn / (m * d) - 2.0 * mx * l * sn / (m * m * d);
        float dVx = -l * sn / (m * d * d);
        float dCxy = 2.0 * l / (m * d);
        partials[9u * p + c] = upstream * (dMx - 2.0 * mx * dVx - my * dCxy);
        partials[9u * p + 3u + c] = upstream * dVx;
        partials[9u * p + 6u + c] = upstream * dCxy;
    }
    ssimPixel[p] = ssimSum;
}
