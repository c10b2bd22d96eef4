import Datasets
import Foundation
import Geometry

extension RasterCamera {
    /// The camera that renders 2D image-plane Gaussians (kind image2d) at
    /// `scale` times their image's size: identity pose, fx = fy = scale,
    /// principal point at the origin, so a Gaussian at pixel coordinates
    /// (x, y) (from the image's top-left corner) lands at scale (x, y) and
    /// its covariance is scaled by scale^2 (Shaders/splatting/front_end_2d.glsl).
    /// `width` x `height` is the output size.
    public static func imagePlane(width: Int, height: Int, scale: Double) -> RasterCamera {
        RasterCamera(width: width, height: height, fx: Float(scale), fy: Float(scale), cx: 0, cy: 0,
                     rotation: [1, 0, 0, 0, 1, 0, 0, 0, 1], translation: [0, 0, 0])
    }
}

/// 2D image-plane Gaussians in the shared 3D pipeline: the Swift twin of
/// the 2D front end (Shaders/splatting/front_end_2d.glsl).
public enum GaussianImagePlane {
    /// The settings 2D Gaussians render with: additive blending over a black
    /// background, colour channels as they are.
    public static func settings(antialias: Bool = false) -> RasterSettings {
        var s = RasterSettings(background: .zero, antialias: antialias)
        s.blendMode = .additive
        return s
    }

    /// The 3D model the 2D front end hands to the projection: each Gaussian
    /// at (x, y, 1), its covariance L L^T as a rotation about z with two
    /// scales (and a negligible depth scale), degree-0 SH of its colour,
    /// its opacity. The 3D pipeline draws it as the 2D kind draws the 2D
    /// model under `RasterCamera.imagePlane`, for colours >= 0 (the 3D
    /// colour is clamped at 0; the 2D one is not).
    public static func equivalent3D(_ model: GaussianModel) -> GaussianModel {
        precondition(model.isImage2D, "equivalent3D needs a 2D (image2d) model")
        let n = model.count
        var out = GaussianModel(count: n, shDegree: 0)
        for i in 0..<n {
            let l0 = Double(model.cholesky[3 * i]), l1 = Double(model.cholesky[3 * i + 1]), l2 = Double(model.cholesky[3 * i + 2])
            // Sigma = L L^T = [[a, b], [b, c]].
            let a = l0 * l0, b = l0 * l1, c = l1 * l1 + l2 * l2
            let (values, vectors) = GaussianSlice.symmetricEigen([[a, b, 0], [b, c, 0], [0, 0, 1e-24]])
            var columns = vectors
            if Matrix3(columns: columns).determinant < 0 { columns[2] = -columns[2] }
            let q = Quaternion(matrix: Matrix3(columns: columns))
            out.positions[3 * i] = model.means2D[2 * i]
            out.positions[3 * i + 1] = model.means2D[2 * i + 1]
            out.positions[3 * i + 2] = 1
            for k in 0..<3 {
                out.scales[3 * i + k] = Float(0.5 * log(max(values[k], 1e-24)))
                out.shDC[3 * i + k] = (model.colors[3 * i + k] - 0.5) / RasterConstants.shC0
            }
            (out.rotations[4 * i], out.rotations[4 * i + 1], out.rotations[4 * i + 2], out.rotations[4 * i + 3])
                = (Float(q.w), Float(q.x), Float(q.y), Float(q.z))
            out.opacities[i] = model.opacities[i]
        }
        return out
    }
}
