import Datasets
import Geometry
import Foundation

/// The raw parameters of one Gaussian, in Double (the twin's working type).
public struct GaussianParametersD: Equatable {
    public var position: SIMD3<Double>
    public var logScale: SIMD3<Double>
    public var rotation: SIMD4<Double>   // w, x, y, z, unnormalised
    public var logit: Double
    public var sh: [SIMD3<Double>]       // K coefficients (0 = DC), RGB each

    public init(position: SIMD3<Double>, logScale: SIMD3<Double>, rotation: SIMD4<Double>, logit: Double, sh: [SIMD3<Double>]) {
        self.position = position
        self.logScale = logScale
        self.rotation = rotation
        self.logit = logit
        self.sh = sh
    }

    /// Gaussian `i` of a model.
    public init(_ m: GaussianModel, _ i: Int) {
        let k = GaussianModel.coefficientCount(degree: m.shDegree)
        var sh = [SIMD3(Double(m.shDC[3 * i]), Double(m.shDC[3 * i + 1]), Double(m.shDC[3 * i + 2]))]
        let base = i * 3 * (k - 1)
        for c in 1..<max(k, 1) {
            sh.append(SIMD3(Double(m.shRest[base + c - 1]), Double(m.shRest[base + (k - 1) + c - 1]),
                            Double(m.shRest[base + 2 * (k - 1) + c - 1])))
        }
        self.init(position: SIMD3(Double(m.positions[3 * i]), Double(m.positions[3 * i + 1]), Double(m.positions[3 * i + 2])),
                  logScale: SIMD3(Double(m.scales[3 * i]), Double(m.scales[3 * i + 1]), Double(m.scales[3 * i + 2])),
                  rotation: SIMD4(Double(m.rotations[4 * i]), Double(m.rotations[4 * i + 1]), Double(m.rotations[4 * i + 2]),
                                  Double(m.rotations[4 * i + 3])),
                  logit: Double(m.opacities[i]), sh: Array(sh.prefix(k)))
    }

    /// A zero gradient shaped like `self`.
    public var zero: GaussianParametersD {
        GaussianParametersD(position: .zero, logScale: .zero, rotation: .zero, logit: 0, sh: sh.map { _ in .zero })
    }
}

/// The projection (prepare) stage and its backward pass in Double: the Swift
/// twin of `splat_prepare_3d_backward`. Same formulas as the forward kernel
/// (docs/conventions.md; factored covariance A A^T, A = J R M).
public enum ProjectionBackward {
    public struct Camera {
        public var R: [[Double]]            // world-to-camera rotation, rows
        public var t: SIMD3<Double>
        public var fx, fy, cx, cy: Double
        public var width, height: Double
        public var position: SIMD3<Double>  // camera centre

        public init(_ c: RasterCamera) {
            R = (0..<3).map { r in (0..<3).map { Double(c.rotation[3 * r + $0]) } }
            t = SIMD3(Double(c.translation[0]), Double(c.translation[1]), Double(c.translation[2]))
            (fx, fy, cx, cy) = (Double(c.fx), Double(c.fy), Double(c.cx), Double(c.cy))
            (width, height) = (Double(c.width), Double(c.height))
            let p = c.position
            position = SIMD3(Double(p.x), Double(p.y), Double(p.z))
        }

        func apply(_ p: SIMD3<Double>) -> SIMD3<Double> {
            SIMD3((R[0][0] * p.x + R[0][1] * p.y + R[0][2] * p.z), (R[1][0] * p.x + R[1][1] * p.y + R[1][2] * p.z),
                  (R[2][0] * p.x + R[2][1] * p.y + R[2][2] * p.z)) + t
        }

        func applyTransposed(_ v: SIMD3<Double>) -> SIMD3<Double> {
            SIMD3(R[0][0] * v.x + R[1][0] * v.y + R[2][0] * v.z, R[0][1] * v.x + R[1][1] * v.y + R[2][1] * v.z,
                  R[0][2] * v.x + R[1][2] * v.y + R[2][2] * v.z)
        }
    }

    /// Projected quantities (no culling: the caller projects visible Gaussians only).
    public struct Projected {
        public var mean: SIMD2<Double>
        public var conic: SIMD3<Double>
        public var opacity: Double
        public var color: SIMD3<Double>
        public var depth: Double
    }

    /// SH basis values (index 0 = C0) and their gradients w.r.t. the direction (Geometry's twin of sh.glsl).
    static func basis(_ d: SIMD3<Double>, degree: Int) -> (values: [Double], gradients: [SIMD3<Double>]) {
        SphericalHarmonics.basis(d, degree: degree)
    }

    static func rotationMatrix(_ q: SIMD4<Double>) -> [[Double]] {
        let (w, x, y, z) = (q.x, q.y, q.z, q.w)
        return [[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]]
    }

    /// Intermediate values of the forward pass that the backward reuses.
    struct Tape {
        var v: SIMD3<Double>, qn: SIMD4<Double>, qNorm: Double, Rq: [[Double]], S: SIMD3<Double>
        var M: [[Double]], JR: [[Double]], A: [[Double]], J: [[Double]]
        var clampX: Bool, clampY: Bool, limX: Double, limY: Double
        var a: Double, b: Double, c: Double, detB: Double, det: Double, comp: Double, sigmoid: Double
        var dir: SIMD3<Double>, dist: Double, shRaw: SIMD3<Double>
    }

    static func forwardTape(_ g: GaussianParametersD, camera cam: Camera, degree: Int, antialias: Bool) -> (Projected, Tape) {
        let v = cam.apply(g.position)
        let qNorm = (g.rotation * g.rotation).sum().squareRoot()
        let qn = g.rotation / qNorm
        let Rq = rotationMatrix(qn)
        let S = SIMD3(exp(g.logScale.x), exp(g.logScale.y), exp(g.logScale.z))
        let M = (0..<3).map { i in (0..<3).map { k in Rq[i][k] * S[k] } }
        let z = v.z
        let tanX = 0.5 * cam.width / cam.fx, tanY = 0.5 * cam.height / cam.fy
        let limXPos = (cam.width - cam.cx) / cam.fx + 0.3 * tanX, limXNeg = cam.cx / cam.fx + 0.3 * tanX
        let limYPos = (cam.height - cam.cy) / cam.fy + 0.3 * tanY, limYNeg = cam.cy / cam.fy + 0.3 * tanY
        let rx = v.x / z, ry = v.y / z
        let cxr = min(limXPos, max(-limXNeg, rx)), cyr = min(limYPos, max(-limYNeg, ry))
        let tx = z * cxr, ty = z * cyr
        let J = [[cam.fx / z, 0, -cam.fx * tx / (z * z)], [0, cam.fy / z, -cam.fy * ty / (z * z)]]
        let JR = (0..<2).map { r in (0..<3).map { k in (0..<3).map { J[r][$0] * cam.R[$0][k] }.reduce(0, +) } }
        let A = (0..<2).map { r in (0..<3).map { k in (0..<3).map { JR[r][$0] * M[$0][k] }.reduce(0, +) } }
        let a = (0..<3).map { A[0][$0] * A[0][$0] }.reduce(0, +)
        let b = (0..<3).map { A[0][$0] * A[1][$0] }.reduce(0, +)
        let c = (0..<3).map { A[1][$0] * A[1][$0] }.reduce(0, +)
        let detB = a * c - b * b
        let det = detB + 0.3 * (a + c) + 0.09
        let (ad, cd) = (a + 0.3, c + 0.3)
        let comp = antialias ? max(0, detB / det).squareRoot() : 1
        let sigmoid = 1 / (1 + exp(-g.logit))
        let offset = g.position - cam.position
        let dist = (offset * offset).sum().squareRoot()
        let dir = offset / dist
        let (values, _) = basis(dir, degree: degree)
        var shRaw = SIMD3<Double>(repeating: 0.5)
        for k in 0..<min(values.count, g.sh.count) { shRaw += g.sh[k] * values[k] }
        let projected = Projected(mean: SIMD2(cam.fx * v.x / z + cam.cx, cam.fy * v.y / z + cam.cy),
                                  conic: SIMD3(cd / det, -b / det, ad / det), opacity: sigmoid * comp,
                                  color: SIMD3(max(0, shRaw.x), max(0, shRaw.y), max(0, shRaw.z)), depth: z)
        let tape = Tape(v: v, qn: qn, qNorm: qNorm, Rq: Rq, S: S, M: M, JR: JR, A: A, J: J,
                        clampX: cxr != rx, clampY: cyr != ry, limX: cxr, limY: cyr,
                        a: a, b: b, c: c, detB: detB, det: det, comp: comp, sigmoid: sigmoid, dir: dir, dist: dist, shRaw: shRaw)
        return (projected, tape)
    }

    /// The projected quantities of one Gaussian (the forward kernel's maths in Double).
    public static func forward(_ g: GaussianParametersD, camera: Camera, degree: Int, antialias: Bool) -> Projected {
        forwardTape(g, camera: camera, degree: degree, antialias: antialias).0
    }

    /// Gradients of the raw parameters from gradients of the projected quantities.
    public static func backward(_ g: GaussianParametersD, camera cam: Camera, degree: Int, antialias: Bool,
                                gradient up: SplatGradientD) -> GaussianParametersD {
        let (_, tp) = forwardTape(g, camera: cam, degree: degree, antialias: antialias)
        var out = g.zero
        let z = tp.v.z

        // Colour: masked where clamped at 0; SH coefficients and the view direction.
        let (values, grads) = basis(tp.dir, degree: degree)
        let gColor = SIMD3(up.payload[0], up.payload[1], up.payload[2])
        let gRaw = SIMD3(tp.shRaw.x > 0 ? gColor.x : 0, tp.shRaw.y > 0 ? gColor.y : 0, tp.shRaw.z > 0 ? gColor.z : 0)
        var gDir = SIMD3<Double>.zero
        for k in 0..<min(values.count, g.sh.count) {
            out.sh[k] = gRaw * values[k]
            gDir += grads[k] * (gRaw * g.sh[k]).sum()
        }
        // dir = offset / |offset|: d dir / d offset = (I - dir dir^T) / |offset|.
        var gPosition = (gDir - tp.dir * (tp.dir * gDir).sum()) / tp.dist

        // Opacity: sigmoid(logit) x compensation.
        out.logit = up.opacity * tp.comp * tp.sigmoid * (1 - tp.sigmoid)
        var gA = 0.0, gB = 0.0, gC = 0.0
        if antialias, tp.comp > 0 {
            let gComp = up.opacity * tp.sigmoid
            let dDetB = gComp / (2 * tp.comp * tp.det), dDet = -gComp * tp.comp / (2 * tp.det)
            let (ad, cd) = (tp.a + 0.3, tp.c + 0.3)
            gA += dDetB * tp.c + dDet * cd
            gB += dDetB * (-2 * tp.b) + dDet * (-2 * tp.b)
            gC += dDetB * tp.a + dDet * ad
        }
        // Conic (c'/det, -b/det, a'/det) with det = a'c' - b^2.
        let (ad, cd, b, det) = (tp.a + 0.3, tp.c + 0.3, tp.b, tp.det)
        let det2 = det * det
        gA += up.conic.x * (-cd * cd / det2) + up.conic.y * (b * cd / det2) + up.conic.z * (-b * b / det2)
        gC += up.conic.x * (-b * b / det2) + up.conic.y * (b * ad / det2) + up.conic.z * (-ad * ad / det2)
        gB += up.conic.x * (2 * b * cd / det2) + up.conic.y * (-(det + 2 * b * b) / det2) + up.conic.z * (2 * ad * b / det2)

        // cov = A A^T.
        let A = tp.A
        let gA0 = (0..<3).map { 2 * gA * A[0][$0] + gB * A[1][$0] }
        let gA1 = (0..<3).map { 2 * gC * A[1][$0] + gB * A[0][$0] }
        let gAm = [gA0, gA1]
        // A = JR M.
        let gM = (0..<3).map { i in (0..<3).map { k in tp.JR[0][i] * gAm[0][k] + tp.JR[1][i] * gAm[1][k] } }
        let gJR = (0..<2).map { r in (0..<3).map { i in (0..<3).map { gAm[r][$0] * tp.M[i][$0] }.reduce(0, +) } }
        let gJ = (0..<2).map { r in (0..<3).map { j in (0..<3).map { gJR[r][$0] * cam.R[j][$0] }.reduce(0, +) } }
        // J through v (the clamp makes tx = z * const).
        var gv = SIMD3<Double>.zero
        gv.z += -gJ[0][0] * cam.fx / (z * z) - gJ[1][1] * cam.fy / (z * z)
        if tp.clampX { gv.z += gJ[0][2] * cam.fx * tp.limX / (z * z) } else {
            gv.x += -gJ[0][2] * cam.fx / (z * z)
            gv.z += gJ[0][2] * 2 * cam.fx * tp.v.x / (z * z * z)
        }
        if tp.clampY { gv.z += gJ[1][2] * cam.fy * tp.limY / (z * z) } else {
            gv.y += -gJ[1][2] * cam.fy / (z * z)
            gv.z += gJ[1][2] * 2 * cam.fy * tp.v.y / (z * z * z)
        }
        // M = Rq S.
        var gS = SIMD3<Double>.zero
        var gRq = [[Double]](repeating: [0, 0, 0], count: 3)
        for i in 0..<3 {
            for k in 0..<3 {
                gS[k] += gM[i][k] * tp.Rq[i][k]
                gRq[i][k] = gM[i][k] * tp.S[k]
            }
        }
        out.logScale = gS * tp.S
        let (w, x, y, zq) = (tp.qn.x, tp.qn.y, tp.qn.z, tp.qn.w)
        let g = gRq
        let gw = 2 * (-zq * g[0][1] + y * g[0][2] + zq * g[1][0] - x * g[1][2] - y * g[2][0] + x * g[2][1])
        let gx = 2 * (y * g[0][1] + zq * g[0][2] + y * g[1][0] - 2 * x * g[1][1] - w * g[1][2] + zq * g[2][0] + w * g[2][1] - 2 * x * g[2][2])
        let gy = 2 * (-2 * y * g[0][0] + x * g[0][1] + w * g[0][2] + x * g[1][0] + zq * g[1][2] - w * g[2][0] + zq * g[2][1] - 2 * y * g[2][2])
        let gz = 2 * (-2 * zq * g[0][0] - w * g[0][1] + x * g[0][2] + w * g[1][0] - 2 * zq * g[1][1] + y * g[1][2] + x * g[2][0] + y * g[2][1])
        let gqn = SIMD4(gw, gx, gy, gz)
        out.rotation = (gqn - tp.qn * (tp.qn * gqn).sum()) / tp.qNorm

        // Mean and depth.
        gv.x += up.mean.x * cam.fx / z
        gv.y += up.mean.y * cam.fy / z
        gv.z += -(up.mean.x * cam.fx * tp.v.x + up.mean.y * cam.fy * tp.v.y) / (z * z) + up.depth
        gPosition += cam.applyTransposed(gv)
        out.position = gPosition
        return out
    }
}
