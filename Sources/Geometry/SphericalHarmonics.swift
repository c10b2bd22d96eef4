/// Real spherical harmonics with the constants and signs of the original
/// 3DGS release (Kerbl et al. 2023; docs/reference.md), degree 0-3. The GPU's
/// version is Shaders/common/sh.glsl; the Gaussian rasterizer uses it for
/// colour, the NeRF engine as its direction encoding (16 values: instant-ngp's
/// "degree 4" spherical-harmonics encoding counts coefficients per axis).
public enum SphericalHarmonics {
    public static let c0 = 0.28209479177387814
    public static let c1 = 0.4886025119029199
    public static let c2 = [1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396]
    public static let c3 = [-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
                            -0.4570457994644658, 1.445305721320277, -0.5900435899266435]

    /// The real SH basis up to `degree` (0-3; (degree + 1)^2 values, index 0 = C0)
    /// at unit direction `d`, and each value's gradient w.r.t. `d`.
    public static func basis(_ d: SIMD3<Double>, degree: Int) -> (values: [Double], gradients: [SIMD3<Double>]) {
        let (x, y, z) = (d.x, d.y, d.z)
        var v: [Double] = [c0], g: [SIMD3<Double>] = [.zero]
        if degree >= 1 {
            v += [-c1 * y, c1 * z, -c1 * x]
            g += [SIMD3(0, -c1, 0), SIMD3(0, 0, c1), SIMD3(-c1, 0, 0)]
        }
        if degree >= 2 {
            v += [c2[0] * x * y, c2[1] * y * z, c2[2] * (2 * z * z - x * x - y * y), c2[3] * x * z, c2[4] * (x * x - y * y)]
            g += [SIMD3(c2[0] * y, c2[0] * x, 0), SIMD3(0, c2[1] * z, c2[1] * y),
                  SIMD3(-2 * c2[2] * x, -2 * c2[2] * y, 4 * c2[2] * z), SIMD3(c2[3] * z, 0, c2[3] * x),
                  SIMD3(2 * c2[4] * x, -2 * c2[4] * y, 0)]
        }
        if degree >= 3 {
            let (xx, yy, zz) = (x * x, y * y, z * z)
            v += [c3[0] * y * (3 * xx - yy), c3[1] * x * y * z, c3[2] * y * (4 * zz - xx - yy), c3[3] * z * (2 * zz - 3 * xx - 3 * yy),
                  c3[4] * x * (4 * zz - xx - yy), c3[5] * z * (xx - yy), c3[6] * x * (xx - 3 * yy)]
            g += [SIMD3(6 * c3[0] * x * y, c3[0] * (3 * xx - 3 * yy), 0),
                  SIMD3(c3[1] * y * z, c3[1] * x * z, c3[1] * x * y),
                  SIMD3(-2 * c3[2] * x * y, c3[2] * (4 * zz - xx - 3 * yy), 8 * c3[2] * y * z),
                  SIMD3(-6 * c3[3] * x * z, -6 * c3[3] * y * z, c3[3] * (6 * zz - 3 * xx - 3 * yy)),
                  SIMD3(c3[4] * (4 * zz - 3 * xx - yy), -2 * c3[4] * x * y, 8 * c3[4] * x * z),
                  SIMD3(2 * c3[5] * x * z, -2 * c3[5] * y * z, c3[5] * (xx - yy)),
                  SIMD3(c3[6] * (3 * xx - 3 * yy), -6 * c3[6] * x * y, 0)]
        }
        return (v, g)
    }

}
