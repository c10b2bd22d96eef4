import Foundation
import Datasets

/// One Gaussian after the prepare stage (projection, SH colour, extents, tiles).
public struct ProjectedGaussian: Equatable {
    public var index: Int             // in the model
    public var mean: SIMD2<Float>     // pixel coordinates (pixel centres at +0.5)
    public var conic: SIMD3<Float>    // inverse 2D covariance (a, b, c): power = -0.5 (a dx^2 + c dy^2) - b dx dy
    public var opacity: Float         // sigmoid(logit), x compensation in antialiased mode
    public var color: SIMD3<Float>    // max(0, 0.5 + SH(dir)), dir = normalize(mean_world - camera centre)
    public var depth: Float           // view-space z
    public var radius: SIMD2<Int32>   // per-axis radius in pixels
    public var tileMin: SIMD2<Int32>, tileMax: SIMD2<Int32>  // [min, max) tile rectangle, clamped to the grid

    public init(index: Int, mean: SIMD2<Float>, conic: SIMD3<Float>, opacity: Float, color: SIMD3<Float>,
                depth: Float, radius: SIMD2<Int32>, tileMin: SIMD2<Int32>, tileMax: SIMD2<Int32>) {
        self.index = index
        self.mean = mean
        self.conic = conic
        self.opacity = opacity
        self.color = color
        self.depth = depth
        self.radius = radius
        self.tileMin = tileMin
        self.tileMax = tileMax
    }

    /// Number of tiles in the rectangle.
    public var tileCount: Int {
        Int(max(0, tileMax.x - tileMin.x)) * Int(max(0, tileMax.y - tileMin.y))
    }
}

/// The plain-Swift reference twin of the GPU rasterizer: gsplat's "classic"
/// rasterization (and its "antialiased" mode) exactly as docs/conventions.md
/// ("Gaussians") states it, in Float as the GPU computes it.
///
/// Prepare stage, per Gaussian (`project`):
/// - p_view = R p + t (R row-major world-to-camera); culled when z <= 0.01.
/// - Sigma = R_q S S R_q^T (quaternion (w, x, y, z) normalised, S = diag(exp(scale))),
///   Sigma_v = R Sigma R^T.
/// - EWA Jacobian with gsplat's clamp: tan_x = 0.5 W / fx,
///   tx = z min((W - cx)/fx + 0.3 tan_x, max(-(cx/fx + 0.3 tan_x), x/z)) (same for y),
///   J = [[fx/z, 0, -fx tx/z^2], [0, fy/z, -fy ty/z^2]], cov2d = J Sigma_v J^T = (a, b, c).
/// - det_before = ac - b^2; a += 0.3, c += 0.3; det = ac - b^2, culled when det <= 0;
///   compensation = sqrt(max(0, det_before/det)); opacity = sigmoid(logit) (x compensation
///   when antialiased); conic = (c/det, -b/det, a/det); mean = (fx x/z + cx, fy y/z + cy).
/// - Culled when opacity < 1/255. e = min(3.33, sqrt(2 ln(255 opacity))),
///   lambda_max = m + sqrt(max(0.01, m^2 - det)) with m = (a + c)/2,
///   radius_x = ceil(min(e sqrt(a), e sqrt(lambda_max))), radius_y likewise with c (dilated
///   entries). Culled when both radii are 0, or when the box [mean - r, mean + r] lies off
///   screen (mean.x + r_x <= 0, mean.x - r_x >= W, same for y).
/// - Tiles: [clamp(floor((mean - r)/16), 0, tiles), clamp(ceil((mean + r)/16), 0, tiles));
///   culled when empty.
/// - Colour: 3DGS's eval_sh up to min(settings.shDegree ?? model.shDegree, model.shDegree),
///   then max(0, 0.5 + result), dir = normalize(position - camera centre).
/// - Gaussians with any non-finite parameter are skipped (`nonFiniteCount`), and so are
///   Gaussians whose derived quantities (covariance, mean, conic, colour) are not finite
///   (e.g. exp(scale) overflowing, or a zero quaternion). The GPU kernel does the same.
///
/// Blend stage, per pixel (i, j) with centre (i + 0.5, j + 0.5), front to back:
/// d = mean - centre; power = -0.5 (a dx^2 + c dy^2) - b dx dy, skipped when power > 0;
/// alpha = min(0.99, opacity exp(power)), skipped when alpha < 1/255; nextT = T (1 - alpha);
/// when nextT < 1e-4 the pixel stops (that Gaussian is not blended); otherwise
/// C += color alpha T, depth += z alpha T, contributors += 1, T = nextT.
/// Output colour = C + T background, alpha = 1 - T.
///
/// Extents: a Gaussian is evaluated at exactly the pixels whose 16x16 tile lies inside
/// its tile rectangle [tileMin, tileMax) — the pixels the tiled algorithm visits. The
/// brute-force renderer uses that same rectangle (not the tighter per-axis pixel box),
/// so that it and the tiled twin blend the same Gaussians in the same order and agree
/// to rounding (in practice bit for bit). The choice does not change the image: outside
/// the per-axis box alpha is below 1/255 (the opacity-aware extent is exactly the
/// distance where o exp(-0.5 d^2 / cov_axis) = 1/255, and the 3.33 cap gives
/// 0.99 exp(-0.5 3.33^2) < 1/255), so those pixels are skipped anyway; the tests check it.
public enum RasterizerReference {
    /// 3DGS's eval_sh constants (degree 1, 2, 3).
    public static let shC1: Float = 0.4886025119029199
    public static let shC2: [Float] = [1.0925484305920792, -1.0925484305920792, 0.31539156525252005,
                                       -1.0925484305920792, 0.5462742152960396]
    public static let shC3: [Float] = [-0.5900435899266435, 2.890611442640554, -0.4570457994644658,
                                       0.3731763325901154, -0.4570457994644658, 1.445305721320277,
                                       -0.5900435899266435]

    // MARK: - Non-finite parameters

    /// Number of Gaussians with at least one NaN or infinite parameter (position, SH DC or
    /// rest, opacity, scale, rotation); the rasterizer skips them.
    public static func nonFiniteCount(_ model: GaussianModel) -> Int {
        checkShapes(model)
        var n = 0
        for i in 0..<model.count where !allParametersFinite(model, i) { n += 1 }
        return n
    }

    static func checkShapes(_ model: GaussianModel) {
        if let problem = model.shapeProblem() {
            preconditionFailure("RasterizerReference: inconsistent GaussianModel: \(problem)")
        }
    }

    @inline(__always)
    static func allParametersFinite(_ m: GaussianModel, _ i: Int) -> Bool {
        for k in 0..<3 where !m.positions[i * 3 + k].isFinite || !m.scales[i * 3 + k].isFinite
            || !m.shDC[i * 3 + k].isFinite { return false }
        for k in 0..<4 where !m.rotations[i * 4 + k].isFinite { return false }
        if !m.opacities[i].isFinite { return false }
        let per = m.restPerGaussian
        for k in 0..<per where !m.shRest[i * per + k].isFinite { return false }
        return true
    }

    // MARK: - Prepare

    /// The prepare stage for every Gaussian; nil where culled (behind/near plane z <= 0.01,
    /// det <= 0 after dilation, effective opacity < 1/255, zero radius, off screen, empty
    /// tile rectangle, or non-finite parameters or derived values).
    public static func project(_ model: GaussianModel, camera: RasterCamera, settings: RasterSettings) -> [ProjectedGaussian?] {
        checkShapes(model)
        let setup = CameraSetup(camera)
        let degree = max(0, min(settings.shDegree ?? model.shDegree, model.shDegree))
        return (0..<model.count).map { projectOne(model, $0, setup, degree, settings.antialias) }
    }

    /// Camera quantities shared by every Gaussian.
    struct CameraSetup {
        var r: (Float, Float, Float, Float, Float, Float, Float, Float, Float)
        var t: SIMD3<Float>
        var centre: SIMD3<Float>
        var fx, fy, cx, cy: Float
        var width, height: Float
        var tilesX, tilesY: Int
        var limXPos, limXNeg, limYPos, limYNeg: Float

        init(_ camera: RasterCamera) {
            let m = camera.rotation
            r = (m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8])
            t = SIMD3(camera.translation[0], camera.translation[1], camera.translation[2])
            centre = camera.position
            fx = camera.fx; fy = camera.fy; cx = camera.cx; cy = camera.cy
            width = Float(camera.width); height = Float(camera.height)
            tilesX = camera.tilesX; tilesY = camera.tilesY
            let tanX = 0.5 * width / fx, tanY = 0.5 * height / fy
            limXPos = (width - cx) / fx + 0.3 * tanX
            limXNeg = cx / fx + 0.3 * tanX
            limYPos = (height - cy) / fy + 0.3 * tanY
            limYNeg = cy / fy + 0.3 * tanY
        }
    }

    static func projectOne(_ model: GaussianModel, _ i: Int, _ cam: CameraSetup, _ degree: Int,
                           _ antialias: Bool) -> ProjectedGaussian? {
        guard allParametersFinite(model, i) else { return nil }
        let px = model.positions[i * 3], py = model.positions[i * 3 + 1], pz = model.positions[i * 3 + 2]
        let r = cam.r
        // p_view = R p + t.
        let x = r.0 * px + r.1 * py + r.2 * pz + cam.t.x
        let y = r.3 * px + r.4 * py + r.5 * pz + cam.t.y
        let z = r.6 * px + r.7 * py + r.8 * pz + cam.t.z
        guard z > RasterConstants.nearPlane else { return nil }

        // World covariance Sigma = M M^T, M = R_q S.
        var qw = model.rotations[i * 4], qx = model.rotations[i * 4 + 1]
        var qy = model.rotations[i * 4 + 2], qz = model.rotations[i * 4 + 3]
        let qn = (qw * qw + qx * qx + qy * qy + qz * qz).squareRoot()
        qw /= qn; qx /= qn; qy /= qn; qz /= qn
        let x2 = qx * qx, y2 = qy * qy, z2 = qz * qz
        let xy = qx * qy, xz = qx * qz, yz = qy * qz
        let wx = qw * qx, wy = qw * qy, wz = qw * qz
        // Rotation matrix, row-major.
        let q00 = 1 - 2 * (y2 + z2), q01 = 2 * (xy - wz), q02 = 2 * (xz + wy)
        let q10 = 2 * (xy + wz), q11 = 1 - 2 * (x2 + z2), q12 = 2 * (yz - wx)
        let q20 = 2 * (xz - wy), q21 = 2 * (yz + wx), q22 = 1 - 2 * (x2 + y2)
        let sx = expf(model.scales[i * 3]), sy = expf(model.scales[i * 3 + 1]), sz = expf(model.scales[i * 3 + 2])
        // M = R_q S: column k scaled by s_k.
        let m00 = q00 * sx, m01 = q01 * sy, m02 = q02 * sz
        let m10 = q10 * sx, m11 = q11 * sy, m12 = q12 * sz
        let m20 = q20 * sx, m21 = q21 * sy, m22 = q22 * sz
        // EWA Jacobian with gsplat's clamp of x/z, y/z.
        let tx = z * min(cam.limXPos, max(-cam.limXNeg, x / z))
        let ty = z * min(cam.limYPos, max(-cam.limYNeg, y / z))
        let j00 = cam.fx / z, j02 = -cam.fx * tx / (z * z)
        let j11 = cam.fy / z, j12 = -cam.fy * ty / (z * z)
        // cov2d = J R Sigma R^T J^T = A A^T with A = J R M (2x3), as the kernel
        // computes it: entries and determinant (Cauchy-Binet: the sum of the
        // squared 2x2 minors of A) are sums of squares, gsplat's quantities
        // without the cancellation of a c - b^2 for needle-like Gaussians.
        // JR = J R (2x3).
        let jr00 = j00 * r.0 + j02 * r.6, jr01 = j00 * r.1 + j02 * r.7, jr02 = j00 * r.2 + j02 * r.8
        let jr10 = j11 * r.3 + j12 * r.6, jr11 = j11 * r.4 + j12 * r.7, jr12 = j11 * r.5 + j12 * r.8
        // A = JR M.
        let a00 = jr00 * m00 + jr01 * m10 + jr02 * m20
        let a01 = jr00 * m01 + jr01 * m11 + jr02 * m21
        let a02 = jr00 * m02 + jr01 * m12 + jr02 * m22
        let a10 = jr10 * m00 + jr11 * m10 + jr12 * m20
        let a11 = jr10 * m01 + jr11 * m11 + jr12 * m21
        let a12 = jr10 * m02 + jr11 * m12 + jr12 * m22
        var a = a00 * a00 + a01 * a01 + a02 * a02
        let b = a00 * a10 + a01 * a11 + a02 * a12
        var c = a10 * a10 + a11 * a11 + a12 * a12
        let minor0 = a01 * a12 - a02 * a11, minor1 = a02 * a10 - a00 * a12, minor2 = a00 * a11 - a01 * a10
        let detBefore = minor0 * minor0 + minor1 * minor1 + minor2 * minor2
        guard a.isFinite, b.isFinite, c.isFinite, detBefore.isFinite else { return nil }

        // Dilation (+0.3): (a + 0.3)(c + 0.3) - b^2 = det + 0.3 (a + c) + 0.09.
        let det = detBefore + RasterConstants.dilation * (a + c) + RasterConstants.dilation * RasterConstants.dilation
        a += RasterConstants.dilation
        c += RasterConstants.dilation
        guard det > 0, det.isFinite else { return nil }
        let compensation = max(0, detBefore / det).squareRoot()
        var opacity = 1 / (1 + expf(-model.opacities[i]))
        if antialias { opacity *= compensation }
        let conic = SIMD3<Float>(c / det, -b / det, a / det)
        let mean = SIMD2<Float>(cam.fx * x / z + cam.cx, cam.fy * y / z + cam.cy)
        guard mean.x.isFinite, mean.y.isFinite, conic.x.isFinite, conic.y.isFinite, conic.z.isFinite else { return nil }

        // Opacity-aware per-axis extent.
        guard opacity >= RasterConstants.minAlpha else { return nil }
        let e = min(RasterConstants.maxExtent, (2 * logf(255 * opacity)).squareRoot())
        let bMid = 0.5 * (a + c)
        let lambdaMax = bMid + max(0.01, bMid * bMid - det).squareRoot()
        let rx = (min(e * a.squareRoot(), e * lambdaMax.squareRoot())).rounded(.up)
        let ry = (min(e * c.squareRoot(), e * lambdaMax.squareRoot())).rounded(.up)
        guard rx.isFinite, ry.isFinite else { return nil }
        if rx <= 0 && ry <= 0 { return nil }
        if mean.x + rx <= 0 || mean.x - rx >= cam.width || mean.y + ry <= 0 || mean.y - ry >= cam.height { return nil }

        // Tile rectangle [min, max), clamped to the grid.
        let ts = Float(rasterTileSize)
        let gx = Float(cam.tilesX), gy = Float(cam.tilesY)
        let tMinX = min(max(((mean.x - rx) / ts).rounded(.down), 0), gx)
        let tMaxX = min(max(((mean.x + rx) / ts).rounded(.up), 0), gx)
        let tMinY = min(max(((mean.y - ry) / ts).rounded(.down), 0), gy)
        let tMaxY = min(max(((mean.y + ry) / ts).rounded(.up), 0), gy)
        guard tMaxX > tMinX, tMaxY > tMinY else { return nil }

        // Colour.
        var color = SIMD3<Float>(repeating: 0)
        var dir = SIMD3<Float>(px, py, pz) - cam.centre
        let len = (dir * dir).sum().squareRoot()
        dir = len > 0 ? dir / len : SIMD3<Float>(0, 0, 0)
        let per = model.restPerGaussian / 3
        for ch in 0..<3 {
            color[ch] = evalSH(degree: degree, dc: model.shDC[i * 3 + ch], rest: model.shRest,
                               offset: i * model.restPerGaussian + ch * per, dir: dir)
        }
        guard color.x.isFinite, color.y.isFinite, color.z.isFinite else { return nil }

        let radiusCap: Float = 1_000_000_000   // storage only: Int32 must not overflow
        return ProjectedGaussian(
            index: i, mean: mean, conic: conic, opacity: opacity, color: color, depth: z,
            radius: SIMD2(Int32(min(rx, radiusCap)), Int32(min(ry, radiusCap))),
            tileMin: SIMD2(Int32(tMinX), Int32(tMinY)), tileMax: SIMD2(Int32(tMaxX), Int32(tMaxY)))
    }

    /// 3DGS's eval_sh for one channel (coefficient k at rest[offset + k - 1]) plus 0.5,
    /// clamped at 0.
    @inline(__always)
    static func evalSH(degree: Int, dc: Float, rest: [Float], offset: Int, dir: SIMD3<Float>) -> Float {
        var result = RasterConstants.shC0 * dc
        if degree > 0 {
            let x = dir.x, y = dir.y, z = dir.z
            let sh = { (k: Int) -> Float in rest[offset + k - 1] }
            result = result - shC1 * y * sh(1) + shC1 * z * sh(2) - shC1 * x * sh(3)
            if degree > 1 {
                let xx = x * x, yy = y * y, zz = z * z
                let xy = x * y, yz = y * z, xz = x * z
                result = result + shC2[0] * xy * sh(4) + shC2[1] * yz * sh(5)
                    + shC2[2] * (2 * zz - xx - yy) * sh(6) + shC2[3] * xz * sh(7) + shC2[4] * (xx - yy) * sh(8)
                if degree > 2 {
                    result = result + shC3[0] * y * (3 * xx - yy) * sh(9) + shC3[1] * xy * z * sh(10)
                        + shC3[2] * y * (4 * zz - xx - yy) * sh(11)
                        + shC3[3] * z * (2 * zz - 3 * xx - 3 * yy) * sh(12)
                        + shC3[4] * x * (4 * zz - xx - yy) * sh(13) + shC3[5] * z * (xx - yy) * sh(14)
                        + shC3[6] * x * (xx - 3 * yy) * sh(15)
                }
            }
        }
        return max(0, result + 0.5)
    }

    // MARK: - Blend

    /// The visible Gaussians as a flat structure of arrays, 10 floats each:
    /// mean x, mean y, conic a, b, c, opacity, r, g, b, depth.
    static let stride = 10

    @inline(__always)
    static func pack(_ g: ProjectedGaussian, into p: UnsafeMutablePointer<Float>) {
        p[0] = g.mean.x; p[1] = g.mean.y
        p[2] = g.conic.x; p[3] = g.conic.y; p[4] = g.conic.z
        p[5] = g.opacity
        p[6] = g.color.x; p[7] = g.color.y; p[8] = g.color.z
        p[9] = g.depth
    }

    /// Per-pixel accumulators of a pixel being blended.
    struct PixelState {
        var t: Float = 1
        var r: Float = 0, g: Float = 0, b: Float = 0
        var depth: Float = 0
        var count: UInt32 = 0
        var done = false

        /// Blends one packed Gaussian into the pixel centred at (px, py); returns false
        /// when the pixel is finished (transmittance would fall below 1e-4).
        @inline(__always)
        mutating func blend(_ q: UnsafePointer<Float>, _ px: Float, _ py: Float) -> Bool {
            let dx = q[0] - px, dy = q[1] - py
            let power = -0.5 * (q[2] * dx * dx + q[4] * dy * dy) - q[3] * dx * dy
            if power > 0 { return true }
            let alpha = min(RasterConstants.maxAlpha, q[5] * expf(power))
            if alpha < RasterConstants.minAlpha { return true }
            let nextT = t * (1 - alpha)
            if nextT < RasterConstants.minTransmittance { done = true; return false }
            let vis = alpha * t
            r += q[6] * vis
            g += q[7] * vis
            b += q[8] * vis
            depth += q[9] * vis
            count += 1
            t = nextT
            return true
        }
    }

    /// Output buffers, written pixel by pixel.
    struct Output {
        var color: [Float], alpha: [Float], depth: [Float], transmittance: [Float], contributors: [UInt32]
        let width: Int, height: Int
        init(width: Int, height: Int) {
            self.width = width; self.height = height
            let n = width * height
            color = [Float](repeating: 0, count: n * 3)
            alpha = [Float](repeating: 0, count: n)
            depth = [Float](repeating: 0, count: n)
            transmittance = [Float](repeating: 1, count: n)
            contributors = [UInt32](repeating: 0, count: n)
        }
        func image() -> RasterImage {
            RasterImage(width: width, height: height, color: color, alpha: alpha, depth: depth,
                        transmittance: transmittance, contributors: contributors)
        }
    }

    @inline(__always)
    static func store(_ s: PixelState, _ p: Int, _ bg: SIMD3<Float>,
                      _ color: UnsafeMutableBufferPointer<Float>, _ alpha: UnsafeMutableBufferPointer<Float>,
                      _ depth: UnsafeMutableBufferPointer<Float>, _ trans: UnsafeMutableBufferPointer<Float>,
                      _ contrib: UnsafeMutableBufferPointer<UInt32>) {
        color[p * 3] = s.r + s.t * bg.x
        color[p * 3 + 1] = s.g + s.t * bg.y
        color[p * 3 + 2] = s.b + s.t * bg.z
        alpha[p] = 1 - s.t
        depth[p] = s.depth
        trans[p] = s.t
        contrib[p] = s.count
    }

    /// Brute force: every visible Gaussian against every pixel of its extent (the pixels
    /// of the tiles in its tile rectangle, see the type's documentation), no tile lists,
    /// blended front to back in order of (depth, index).
    public static func render(_ model: GaussianModel, camera: RasterCamera, settings: RasterSettings) -> RasterImage {
        render(model, camera: camera, settings: settings, perAxisBox: false)
    }

    /// `render`, optionally restricted further to the pixels whose centre lies in the
    /// per-axis box |centre - mean| <= radius (tests: the image does not change).
    static func render(_ model: GaussianModel, camera: RasterCamera, settings: RasterSettings,
                       perAxisBox: Bool) -> RasterImage {
        let visible = project(model, camera: camera, settings: settings).compactMap { $0 }
            .sorted { ($0.depth, $0.index) < ($1.depth, $1.index) }
        let w = camera.width, h = camera.height, ts = rasterTileSize
        var states = [PixelState](repeating: PixelState(), count: w * h)
        var packed = [Float](repeating: 0, count: stride)
        packed.withUnsafeMutableBufferPointer { q in
            states.withUnsafeMutableBufferPointer { st in
                for g in visible {
                    pack(g, into: q.baseAddress!)
                    let x0 = Int(g.tileMin.x) * ts, x1 = min(Int(g.tileMax.x) * ts, w)
                    let y0 = Int(g.tileMin.y) * ts, y1 = min(Int(g.tileMax.y) * ts, h)
                    guard x0 < x1, y0 < y1 else { continue }
                    let rx = Float(g.radius.x), ry = Float(g.radius.y)
                    for j in y0..<y1 {
                        if perAxisBox && abs(Float(j) + 0.5 - g.mean.y) > ry { continue }
                        for i in x0..<x1 where !st[j * w + i].done {
                            if perAxisBox && abs(Float(i) + 0.5 - g.mean.x) > rx { continue }
                            _ = st[j * w + i].blend(UnsafePointer(q.baseAddress!), Float(i) + 0.5, Float(j) + 0.5)
                        }
                    }
                }
            }
        }
        var out = Output(width: w, height: h)
        let bg = settings.background
        out.color.withUnsafeMutableBufferPointer { color in
            out.alpha.withUnsafeMutableBufferPointer { alpha in
                out.depth.withUnsafeMutableBufferPointer { depth in
                    out.transmittance.withUnsafeMutableBufferPointer { trans in
                        out.contributors.withUnsafeMutableBufferPointer { contrib in
                            for p in 0..<(w * h) { store(states[p], p, bg, color, alpha, depth, trans, contrib) }
                        }
                    }
                }
            }
        }
        return out.image()
    }

    /// Per-tile lists of the tiled algorithm: for each tile, the indices into `visible`
    /// of the Gaussians whose tile rectangle holds it, sorted by (depth, model index) —
    /// exactly what a stable sort of (tile << 32 | depth bits) keys over Gaussians in
    /// model order gives.
    public static func tileLists(_ visible: [ProjectedGaussian], camera: RasterCamera) -> (ranges: [Range<Int>], entries: [Int32]) {
        let tilesX = camera.tilesX, tilesY = camera.tilesY, tiles = tilesX * tilesY
        // Counting sort by tile (stable, visible is in model order) ...
        var counts = [Int](repeating: 0, count: tiles + 1)
        for g in visible {
            for ty in Int(g.tileMin.y)..<Int(g.tileMax.y) {
                for tx in Int(g.tileMin.x)..<Int(g.tileMax.x) { counts[ty * tilesX + tx + 1] += 1 }
            }
        }
        for k in 0..<tiles { counts[k + 1] += counts[k] }
        let total = counts[tiles]
        var keys = [UInt64](repeating: 0, count: total)
        var fill = counts
        keys.withUnsafeMutableBufferPointer { keys in
            for (v, g) in visible.enumerated() {
                // ... then within a tile by (depth bits, position in `visible`): depth > 0.01,
                // so its bit pattern orders like the value, and `visible` is in model order.
                let key = UInt64(g.depth.bitPattern) << 32 | UInt64(UInt32(v))
                for ty in Int(g.tileMin.y)..<Int(g.tileMax.y) {
                    for tx in Int(g.tileMin.x)..<Int(g.tileMax.x) {
                        let tile = ty * tilesX + tx
                        keys[fill[tile]] = key
                        fill[tile] += 1
                    }
                }
            }
            for k in 0..<tiles where counts[k + 1] - counts[k] > 1 {
                var slice = UnsafeMutableBufferPointer(rebasing: keys[counts[k]..<counts[k + 1]])
                slice.sort()
            }
        }
        let entries = keys.map { Int32(truncatingIfNeeded: $0 & 0xffff_ffff) }
        return ((0..<tiles).map { counts[$0]..<counts[$0 + 1] }, entries)
    }

    /// The tiled twin, the algorithm the GPU runs: per-tile lists of (tile, depth) keys
    /// sorted stably (ties by index), blended per tile front to back, single thread.
    public static func renderTiled(_ model: GaussianModel, camera: RasterCamera, settings: RasterSettings) -> RasterImage {
        let visible = project(model, camera: camera, settings: settings).compactMap { $0 }
        let (ranges, entries) = tileLists(visible, camera: camera)
        let w = camera.width, h = camera.height, ts = rasterTileSize, tilesX = camera.tilesX
        let bg = settings.background
        var out = Output(width: w, height: h)
        var packed = [Float](repeating: 0, count: visible.count * stride)
        packed.withUnsafeMutableBufferPointer { p in
            for (v, g) in visible.enumerated() { pack(g, into: p.baseAddress! + v * stride) }
        }
        let maxList = ranges.map(\.count).max() ?? 0
        // Per-tile copy of the tile's Gaussians, in blending order (the GPU's shared-memory batches).
        var local = [Float](repeating: 0, count: max(1, maxList * stride))
        packed.withUnsafeBufferPointer { packed in
        local.withUnsafeMutableBufferPointer { local in
        entries.withUnsafeBufferPointer { entries in
        out.color.withUnsafeMutableBufferPointer { color in
        out.alpha.withUnsafeMutableBufferPointer { alpha in
        out.depth.withUnsafeMutableBufferPointer { depth in
        out.transmittance.withUnsafeMutableBufferPointer { trans in
        out.contributors.withUnsafeMutableBufferPointer { contrib in
            let lp = local.baseAddress!
            for (tile, range) in ranges.enumerated() {
                let n = range.count
                for k in 0..<n {
                    let src = packed.baseAddress! + Int(entries[range.lowerBound + k]) * stride
                    (lp + k * stride).update(from: src, count: stride)
                }
                let x0 = (tile % tilesX) * ts, y0 = (tile / tilesX) * ts
                for j in y0..<min(y0 + ts, h) {
                    let py = Float(j) + 0.5
                    for i in x0..<min(x0 + ts, w) {
                        let px = Float(i) + 0.5
                        var s = PixelState()
                        var k = 0
                        while k < n && s.blend(UnsafePointer(lp + k * stride), px, py) { k += 1 }
                        store(s, j * w + i, bg, color, alpha, depth, trans, contrib)
                    }
                }
            }
        }}}}}}}}
        return out.image()
    }
}
