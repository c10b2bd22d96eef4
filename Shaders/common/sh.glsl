// Spherical-harmonics colour, degree 0-3, with the constants and signs of
// the original 3DGS release (Kerbl et al. 2023; docs/reference.md).
#ifndef SPLAT_SH_GLSL
#define SPLAT_SH_GLSL

const float SH_C0 = 0.28209479177387814;
const float SH_C1 = 0.4886025119029199;
const float SH_C2[5] = float[](1.0925484305920792, -1.0925484305920792, 0.31539156525252005,
                               -1.0925484305920792, 0.5462742152960396);
const float SH_C3[7] = float[](-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
                               -0.4570457994644658, 1.445305721320277, -0.5900435899266435);

// The SH basis (without coefficient 0) for direction d, up to `degree`.
void shBasis(vec3 d, uint degree, out float b[15]) {
    for (int k = 0; k < 15; k++) b[k] = 0.0;
    if (degree == 0u) return;
    float x = d.x, y = d.y, z = d.z;
    b[0] = -SH_C1 * y;
    b[1] = SH_C1 * z;
    b[2] = -SH_C1 * x;
    if (degree == 1u) return;
    float xx = x * x, yy = y * y, zz = z * z, xy = x * y, yz = y * z, xz = x * z;
    b[3] = SH_C2[0] * xy;
    b[4] = SH_C2[1] * yz;
    b[5] = SH_C2[2] * (2.0 * zz - xx - yy);
    b[6] = SH_C2[3] * xz;
    b[7] = SH_C2[4] * (xx - yy);
    if (degree == 2u) return;
    b[8] = SH_C3[0] * y * (3.0 * xx - yy);
    b[9] = SH_C3[1] * xy * z;
    b[10] = SH_C3[2] * y * (4.0 * zz - xx - yy);
    b[11] = SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy);
    b[12] = SH_C3[4] * x * (4.0 * zz - xx - yy);
    b[13] = SH_C3[5] * z * (xx - yy);
    b[14] = SH_C3[6] * x * (xx - 3.0 * yy);
}

#endif
