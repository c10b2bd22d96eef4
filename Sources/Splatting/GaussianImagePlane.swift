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

extension GaussianImagePlane {
    /// Twin of the 2D front end, the projection and the additive blend
    /// together, on the CPU: each Gaussian's splat (mean s (x, y), covariance
    /// s^2 L L^T + 0.3 I, opacity sigmoid(logit), the projection's
    /// opacity-aware extent and tile rectangle) adds c o exp(power) to every
    /// pixel of its tiles where that weight is at least 1/255 and the power is
    /// not positive; the background is added once. Returns [H, W, 3].
    public static func renderReference(_ model: GaussianModel, camera: RasterCamera, background: SIMD3<Float> = .zero) -> [Float] {
        precondition(model.isImage2D, "renderReference needs a 2D (image2d) model")
        let (w, h) = (camera.width, camera.height)
        var out = [Float](repeating: 0, count: w * h * 3)
        let tile = rasterTileSize
        let tilesX = (w + tile - 1) / tile, tilesY = (h + tile - 1) / tile
        for i in 0..<model.count {
            let l0 = model.cholesky[3 * i], l1 = model.cholesky[3 * i + 1], l2 = model.cholesky[3 * i + 2]
            let sx = camera.fx, sy = camera.fy
            // A = J M: rows (sx l0, 0), (sy l1, sy l2).
            let a00 = sx * l0, a10 = sy * l1, a11 = sy * l2
            var a = a00 * a00, c = a10 * a10 + a11 * a11
            let b = a00 * a10
            let detBefore = a00 * a00 * a11 * a11
            let det = detBefore + 0.3 * (a + c) + 0.09
            a += 0.3
            c += 0.3
            let opacity = 1 / (1 + expf(-model.opacities[i]))
            guard det > 0, det.isFinite, opacity >= 1 / 255 else { continue }
            let e = min(3.33, (2 * logf(255 * opacity)).squareRoot())
            let mid = 0.5 * (a + c)
            let lambdaMax = mid + max(0.01, mid * mid - det).squareRoot()
            let radiusX = ceilf(min(e * a.squareRoot(), e * lambdaMax.squareRoot()))
            let radiusY = ceilf(min(e * c.squareRoot(), e * lambdaMax.squareRoot()))
            let mx = sx * model.means2D[2 * i] + camera.cx, my = sy * model.means2D[2 * i + 1] + camera.cy
            guard radiusX > 0 || radiusY > 0 else { continue }
            guard !(mx + radiusX <= 0 || mx - radiusX >= Float(w) || my + radiusY <= 0 || my - radiusY >= Float(h)) else { continue }
            let minX = max(0, min(tilesX, Int(floorf((mx - radiusX) / Float(tile)))))
            let maxX = max(0, min(tilesX, Int(ceilf((mx + radiusX) / Float(tile)))))
            let minY = max(0, min(tilesY, Int(floorf((my - radiusY) / Float(tile)))))
            let maxY = max(0, min(tilesY, Int(ceilf((my + radiusY) / Float(tile)))))
            let conicA = c / det, conicB = -b / det, conicC = a / det
            for py in (minY * tile)..<min(h, maxY * tile) {
                for px in (minX * tile)..<min(w, maxX * tile) {
                    let dx = mx - (Float(px) + 0.5), dy = my - (Float(py) + 0.5)
                    let power = -0.5 * (conicA * dx * dx + conicC * dy * dy) - conicB * dx * dy
                    guard power <= 0 else { continue }
                    let weight = opacity * expf(power)
                    guard weight >= 1 / 255 else { continue }
                    for k in 0..<3 { out[(py * w + px) * 3 + k] += model.colors[3 * i + k] * weight }
                }
            }
        }
        for p in 0..<(w * h) { for k in 0..<3 { out[3 * p + k] += background[k] } }
        return out
    }
}
