import Datasets
import Foundation
import Geometry

/// The geometric parameters of one 4D Gaussian, raw, in Double (the twin's
/// working type): the spatial mean and time mean, four log-scales (x, y, z,
/// t), the left and right quaternions of the 4D rotation (unnormalised,
/// w first) and the opacity logit.
public struct Gaussian4DParametersD: Equatable {
    public var position: SIMD3<Double>
    public var timeMean: Double
    public var logScale: SIMD4<Double>
    public var left: SIMD4<Double>
    public var right: SIMD4<Double>
    public var logit: Double

    public init(position: SIMD3<Double>, timeMean: Double, logScale: SIMD4<Double>, left: SIMD4<Double>,
                right: SIMD4<Double>, logit: Double) {
        self.position = position
        self.timeMean = timeMean
        self.logScale = logScale
        self.left = left
        self.right = right
        self.logit = logit
    }

    /// Gaussian `i` of a 4D model.
    public init(_ m: GaussianModel, _ i: Int) {
        precondition(m.hasTime, "Gaussian4DParametersD needs a 4D model")
        let d = { (a: [Float], k: Int) in Double(a[k]) }
        self.init(position: SIMD3(d(m.positions, 3 * i), d(m.positions, 3 * i + 1), d(m.positions, 3 * i + 2)),
                  timeMean: d(m.timeMeans, i),
                  logScale: SIMD4(d(m.scales, 3 * i), d(m.scales, 3 * i + 1), d(m.scales, 3 * i + 2), d(m.timeScales, i)),
                  left: SIMD4((0..<4).map { d(m.rotations, 4 * i + $0) }),
                  right: SIMD4((0..<4).map { d(m.rotationsRight, 4 * i + $0) }),
                  logit: d(m.opacities, i))
    }

    /// A zero gradient.
    public static let zero = Gaussian4DParametersD(position: .zero, timeMean: 0, logScale: .zero, left: .zero, right: .zero, logit: 0)
}

/// Slicing 4D space-time Gaussians at a time (Yang et al., ICLR 2024, Sec.
/// 3.2), forward and backward, in Double: the Swift twin of the 4D front end
/// (Shaders/splatting/front_end_4d.glsl, splat_prepare_4d*.comp).
///
/// With F = R4 diag(exp(logScale)) (Sigma4 = F F^T, R4 = L(q_left) R(q_right)),
/// A = rows 0..2 of F, b = row 3 and W = b.b, the slice at time t is
///
///     mean3   = mu + A b (t - mu_t) / W
///     Sigma3  = A (I - b b^T / W) A^T
///     opacity = sigmoid(logit) exp(-(t - mu_t)^2 / (2 W))
///
/// and Gaussians with (t - mu_t)^2 / (2 W) above `cutoff` are skipped.
public enum GaussianSlice {
    /// Gaussians whose time weight exp(-x) has x above this are skipped
    /// (the kernels' SLICE_CUTOFF): a weight below 1.1e-7.
    public static let cutoff = 16.0

    /// The left-isoclinic matrix of (a, b, c, d), rows.
    static func leftIsoclinic(_ q: SIMD4<Double>) -> [[Double]] {
        let (a, b, c, d) = (q.x, q.y, q.z, q.w)
        return [[a, -b, -c, -d], [b, a, -d, c], [c, d, a, -b], [d, -c, b, a]]
    }

    /// The right-isoclinic matrix of (p, q, r, s), rows.
    static func rightIsoclinic(_ q: SIMD4<Double>) -> [[Double]] {
        let (p, a, b, c) = (q.x, q.y, q.z, q.w)
        return [[p, -a, -b, -c], [a, p, c, -b], [b, -c, p, a], [c, b, -a, p]]
    }

    static func multiply(_ x: [[Double]], _ y: [[Double]]) -> [[Double]] {
        var out = [[Double]](repeating: [Double](repeating: 0, count: y[0].count), count: x.count)
        for r in 0..<x.count {
            for c in 0..<y[0].count {
                var sum = 0.0
                for k in 0..<y.count { sum += x[r][k] * y[k][c] }
                out[r][c] = sum
            }
        }
        return out
    }

    static func transpose(_ x: [[Double]]) -> [[Double]] {
        var out = [[Double]](repeating: [Double](repeating: 0, count: x.count), count: x[0].count)
        for r in 0..<x.count { for c in 0..<x[0].count { out[c][r] = x[r][c] } }
        return out
    }

    static func dot(_ x: [Double], _ y: [Double]) -> Double {
        var sum = 0.0
        for k in 0..<min(x.count, y.count) { sum += x[k] * y[k] }
        return sum
    }

    static func normalized(_ q: SIMD4<Double>) -> SIMD4<Double> { q / (q * q).sum().squareRoot() }

    /// The 4D rotation R4 = L(q_left) R(q_right) of normalised quaternions, rows.
    public static func rotation(left: SIMD4<Double>, right: SIMD4<Double>) -> [[Double]] {
        multiply(leftIsoclinic(normalized(left)), rightIsoclinic(normalized(right)))
    }

    /// One Gaussian sliced at a time.
    public struct Slice: Equatable {
        public var mean: SIMD3<Double>
        /// Sigma3, rows (symmetric).
        public var covariance: [[Double]]
        /// sigmoid(logit) times the time weight.
        public var opacity: Double
        /// The time weight exp(-(t - mu_t)^2 / (2 W)).
        public var weight: Double
    }

    /// The factor F = R4 diag(exp(logScale)), rows.
    static func factor(_ g: Gaussian4DParametersD) -> [[Double]] {
        let R4 = rotation(left: g.left, right: g.right)
        let s = SIMD4(exp(g.logScale.x), exp(g.logScale.y), exp(g.logScale.z), exp(g.logScale.w))
        return R4.map { row in (0..<4).map { row[$0] * s[$0] } }
    }

    /// The slice of `g` at `time`, or nil where the kernels skip it (the
    /// time weight below exp(-cutoff), or a degenerate time variance). The
    /// opacity cut at 1/255 is the projection's and is not applied here.
    public static func slice(_ g: Gaussian4DParametersD, time: Double) -> Slice? {
        let F = factor(g)
        let b = F[3]
        let W = dot(b, b)
        let d = time - g.timeMean
        let x = 0.5 * d * d / W
        guard W > 1e-30, x <= cutoff else { return nil }
        let A = Array(F[0..<3])
        let Ab = A.map { dot($0, b) }
        let mean = g.position + SIMD3(Ab[0], Ab[1], Ab[2]) * (d / W)
        var covariance = [[Double]](repeating: [0, 0, 0], count: 3)
        for r in 0..<3 { for c in 0..<3 { covariance[r][c] = dot(A[r], A[c]) - Ab[r] * Ab[c] / W } }
        let weight = exp(-x)
        return Slice(mean: mean, covariance: covariance, opacity: weight / (1 + exp(-g.logit)), weight: weight)
    }

    /// Gradients of `g`'s raw parameters from those of its slice at `time`:
    /// of the mean, the covariance (any 3x3; symmetrised) and the opacity.
    /// Zero where `slice` skips the Gaussian.
    public static func backward(_ g: Gaussian4DParametersD, time: Double, gradMean: SIMD3<Double>,
                                gradCovariance: [[Double]], gradOpacity: Double) -> Gaussian4DParametersD {
        let F = factor(g)
        let b = F[3]
        let W = dot(b, b)
        let d = time - g.timeMean
        guard W > 1e-30, 0.5 * d * d / W <= cutoff else { return .zero }
        let A = Array(F[0..<3])
        let Ab = A.map { dot($0, b) }
        var G = [[Double]](repeating: [0, 0, 0], count: 3)
        for r in 0..<3 { for c in 0..<3 { G[r][c] = 0.5 * (gradCovariance[r][c] + gradCovariance[c][r]) } }
        let p = exp(-0.5 * d * d / W)
        let sigmoid = 1 / (1 + exp(-g.logit))
        var gA = [[Double]](repeating: [0, 0, 0, 0], count: 3)  // rows like A
        var gb = [Double](repeating: 0, count: 4)
        var gd = 0.0, gW = 0.0
        // Sigma3 = A P A^T, P = I - b b^T / W.
        var AP = A
        for r in 0..<3 { for c in 0..<4 { AP[r][c] -= Ab[r] * b[c] / W } }
        let GAP = multiply(G, AP)
        let GAb = G.map { dot($0, Ab) }
        for r in 0..<3 { for c in 0..<4 { gA[r][c] += 2 * GAP[r][c] } }
        let At = transpose(A)
        let gPb = At.map { dot($0, GAb) }
        let bgPb = dot(b, gPb)
        for c in 0..<4 { gb[c] += -2 / W * (gPb[c] - b[c] * bgPb / W) }
        // mean3 = mu + A b d / W.
        let s = d / W
        for r in 0..<3 { for c in 0..<4 { gA[r][c] += gradMean[r] * b[c] * s } }
        let gm = [gradMean.x, gradMean.y, gradMean.z]
        for c in 0..<4 { gb[c] += dot(At[c], gm) * s }
        let gs = dot(gm, Ab)
        gd += gs / W
        gW += -gs * d / (W * W)
        // opacity = sigmoid p.
        var out = Gaussian4DParametersD.zero
        out.logit = gradOpacity * p * sigmoid * (1 - sigmoid)
        let gp = gradOpacity * sigmoid
        gd += -gp * p * d / W
        gW += gp * p * 0.5 * d * d / (W * W)
        for c in 0..<4 { gb[c] += 2 * gW * b[c] }
        out.position = gradMean
        out.timeMean = -gd
        // F = R4 diag(s).
        let gF = gA + [gb]
        let R4 = rotation(left: g.left, right: g.right)
        let scale = SIMD4(exp(g.logScale.x), exp(g.logScale.y), exp(g.logScale.z), exp(g.logScale.w))
        var gR4 = [[Double]](repeating: [0, 0, 0, 0], count: 4)
        for c in 0..<4 {
            var sum = 0.0
            for r in 0..<4 { sum += gF[r][c] * R4[r][c] }
            out.logScale[c] = sum * scale[c]
            for r in 0..<4 { gR4[r][c] = gF[r][c] * scale[c] }
        }
        let Lq = leftIsoclinic(normalized(g.left)), Rq = rightIsoclinic(normalized(g.right))
        out.left = isoclinicBackward(g.left, multiply(gR4, transpose(Rq)), right: false)
        out.right = isoclinicBackward(g.right, multiply(transpose(Lq), gR4), right: true)
        return out
    }

    /// The gradient of an unnormalised quaternion from that of its
    /// (left- or right-) isoclinic matrix `G` (rows).
    static func isoclinicBackward(_ raw: SIMD4<Double>, _ G: [[Double]], right: Bool) -> SIMD4<Double> {
        let t = G[0][0] + G[1][1] + G[2][2] + G[3][3]
        let gq = right
            ? SIMD4(t, -G[0][1] + G[1][0] + G[2][3] - G[3][2], -G[0][2] - G[1][3] + G[2][0] + G[3][1], -G[0][3] + G[1][2] - G[2][1] + G[3][0])
            : SIMD4(t, -G[0][1] + G[1][0] - G[2][3] + G[3][2], -G[0][2] + G[1][3] + G[2][0] - G[3][1], -G[0][3] - G[1][2] + G[2][1] + G[3][0])
        let n = (raw * raw).sum().squareRoot()
        let q = raw / n
        return (gq - q * (q * gq).sum()) / n
    }

    /// The 3D Gaussians a 4D model shows at `time`: each slice as a 3D
    /// Gaussian (its covariance's eigenvectors as the rotation, the square
    /// roots of its eigenvalues as the scales), with the time weight folded
    /// into the opacity logit and the SH coefficients kept; Gaussians that
    /// cannot be seen at `time` (skipped, or opacity below 1/255) are left
    /// out. What `splat convert MODEL OUT.ply --time T` writes.
    public static func sliceModel(_ model: GaussianModel, time: Double) -> GaussianModel {
        precondition(model.hasTime, "sliceModel needs a 4D model")
        var kept: [Int] = []
        var slices: [Slice] = []
        for i in 0..<model.count {
            guard let s = slice(Gaussian4DParametersD(model, i), time: time), s.opacity >= 1.0 / 255 else { continue }
            kept.append(i)
            slices.append(s)
        }
        let rest = model.restPerGaussian
        var out = GaussianModel(count: kept.count, shDegree: model.shDegree)
        for (j, (i, s)) in zip(kept, slices).enumerated() {
            let (values, vectors) = symmetricEigen(s.covariance)
            var columns = vectors
            if Matrix3(columns: columns).determinant < 0 { columns[2] = -columns[2] }
            let q = Quaternion(matrix: Matrix3(columns: columns))
            for k in 0..<3 {
                out.positions[3 * j + k] = Float(s.mean[k])
                out.scales[3 * j + k] = Float(0.5 * log(max(values[k], 1e-30)))
                out.shDC[3 * j + k] = model.shDC[3 * i + k]
            }
            (out.rotations[4 * j], out.rotations[4 * j + 1], out.rotations[4 * j + 2], out.rotations[4 * j + 3])
                = (Float(q.w), Float(q.x), Float(q.y), Float(q.z))
            let o = min(max(s.opacity, 1e-7), 1 - 1e-7)
            out.opacities[j] = Float(log(o / (1 - o)))
            for k in 0..<rest { out.shRest[rest * j + k] = model.shRest[rest * i + k] }
        }
        return out
    }

    /// Eigenvalues and unit eigenvectors of a symmetric 3x3 matrix (cyclic
    /// Jacobi rotations), in matching order.
    public static func symmetricEigen(_ m: [[Double]]) -> (values: [Double], vectors: [Vector3]) {
        var a = m
        var v: [[Double]] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
        for _ in 0..<50 {
            let off = a[0][1] * a[0][1] + a[0][2] * a[0][2] + a[1][2] * a[1][2]
            if off < 1e-30 * max(1e-300, a[0][0] * a[0][0] + a[1][1] * a[1][1] + a[2][2] * a[2][2]) { break }
            for (p, q) in [(0, 1), (0, 2), (1, 2)] where a[p][q] != 0 {
                let theta = (a[q][q] - a[p][p]) / (2 * a[p][q])
                let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                let c = 1 / (t * t + 1).squareRoot(), s = t * c
                for k in 0..<3 {
                    let akp = a[k][p], akq = a[k][q]
                    a[k][p] = c * akp - s * akq
                    a[k][q] = s * akp + c * akq
                }
                for k in 0..<3 {
                    let apk = a[p][k], aqk = a[q][k]
                    a[p][k] = c * apk - s * aqk
                    a[q][k] = s * apk + c * aqk
                }
                for k in 0..<3 {
                    let vkp = v[k][p], vkq = v[k][q]
                    v[k][p] = c * vkp - s * vkq
                    v[k][q] = s * vkp + c * vkq
                }
            }
        }
        return ([a[0][0], a[1][1], a[2][2]], (0..<3).map { Vector3(v[0][$0], v[1][$0], v[2][$0]) })
    }
}
