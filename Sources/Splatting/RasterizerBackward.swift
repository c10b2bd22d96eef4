import Foundation

/// A projected Gaussian in Double, for the backward twin and its
/// finite-difference checks.
public struct ProjectedGaussianD: Equatable {
    public var index: Int
    public var mean: SIMD2<Double>
    public var conic: SIMD3<Double>
    public var opacity: Double
    public var color: SIMD3<Double>
    public var depth: Double
    public var tileMin: SIMD2<Int>
    public var tileMax: SIMD2<Int>

    public init(index: Int, mean: SIMD2<Double>, conic: SIMD3<Double>, opacity: Double, color: SIMD3<Double>,
                depth: Double, tileMin: SIMD2<Int>, tileMax: SIMD2<Int>) {
        self.index = index
        self.mean = mean
        self.conic = conic
        self.opacity = opacity
        self.color = color
        self.depth = depth
        self.tileMin = tileMin
        self.tileMax = tileMax
    }

    public init(_ g: ProjectedGaussian) {
        self.init(index: g.index, mean: SIMD2(Double(g.mean.x), Double(g.mean.y)),
                  conic: SIMD3(Double(g.conic.x), Double(g.conic.y), Double(g.conic.z)), opacity: Double(g.opacity),
                  color: SIMD3(Double(g.color.x), Double(g.color.y), Double(g.color.z)), depth: Double(g.depth),
                  tileMin: SIMD2(Int(g.tileMin.x), Int(g.tileMin.y)), tileMax: SIMD2(Int(g.tileMax.x), Int(g.tileMax.y)))
    }
}

/// Gradients of one Gaussian's projected quantities.
public struct SplatGradientD: Equatable {
    public var mean = SIMD2<Double>.zero
    public var conic = SIMD3<Double>.zero
    public var opacity = 0.0
    public var color = SIMD3<Double>.zero
    public var depth = 0.0
    public init() {}
}

/// The Swift twin of `splat_blend_backward` (and of the blend it inverts), in
/// Double: per pixel, the Gaussians whose tile rectangle covers the pixel, in
/// (depth, index) order, blended front to back with the constants of
/// docs/conventions.md; the backward walks the blended ones back to front.
public enum RasterizerBackward {
    public struct Output {
        public var color: [Double]  // [H, W, 3]: C + T bg
        public var alpha: [Double]  // [H, W]: 1 - T
        public var depth: [Double]  // [H, W]: sum T alpha z
    }

    /// Per pixel: the ordered Gaussians that may blend into it.
    static func lists(_ splats: [ProjectedGaussianD], width: Int, height: Int) -> [[Int]] {
        let order = splats.indices.sorted { (splats[$0].depth, splats[$0].index) < (splats[$1].depth, splats[$1].index) }
        let tileSize = rasterTileSize
        var out = [[Int]](repeating: [], count: width * height)
        for i in order {
            let g = splats[i]
            for ty in g.tileMin.y..<g.tileMax.y {
                for tx in g.tileMin.x..<g.tileMax.x {
                    for y in (ty * tileSize)..<min(height, (ty + 1) * tileSize) {
                        for x in (tx * tileSize)..<min(width, (tx + 1) * tileSize) { out[y * width + x].append(i) }
                    }
                }
            }
        }
        return out
    }

    /// Alpha of splat `g` at pixel (x, y), or nil where it is skipped; also the
    /// power, exp(power) and whether the 0.99 clamp was active.
    static func alpha(_ g: ProjectedGaussianD, x: Int, y: Int) -> (alpha: Double, power: Double, gaussian: Double, d: SIMD2<Double>, clamped: Bool)? {
        let d = g.mean - SIMD2(Double(x) + 0.5, Double(y) + 0.5)
        let power = -0.5 * (g.conic.x * d.x * d.x + g.conic.z * d.y * d.y) - g.conic.y * d.x * d.y
        guard power <= 0 else { return nil }
        let gaussian = exp(power)
        let raw = g.opacity * gaussian
        let a = min(Double(RasterConstants.maxAlpha), raw)
        guard a >= Double(RasterConstants.minAlpha) else { return nil }
        return (a, power, gaussian, d, raw > Double(RasterConstants.maxAlpha))
    }

    public static func forward(_ splats: [ProjectedGaussianD], width: Int, height: Int, background: SIMD3<Double>) -> Output {
        var out = Output(color: [Double](repeating: 0, count: width * height * 3),
                         alpha: [Double](repeating: 0, count: width * height), depth: [Double](repeating: 0, count: width * height))
        let perPixel = lists(splats, width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                let p = y * width + x
                var T = 1.0, C = SIMD3<Double>.zero, D = 0.0
                for i in perPixel[p] {
                    guard let a = alpha(splats[i], x: x, y: y) else { continue }
                    let next = T * (1 - a.alpha)
                    if next < Double(RasterConstants.minTransmittance) { break }
                    C += splats[i].color * (a.alpha * T)
                    D += splats[i].depth * (a.alpha * T)
                    T = next
                }
                let c = C + background * T
                (out.color[3 * p], out.color[3 * p + 1], out.color[3 * p + 2]) = (c.x, c.y, c.z)
                out.alpha[p] = 1 - T
                out.depth[p] = D
            }
        }
        return out
    }

    /// Gradients of every splat given dL/d(colour) [H, W, 3], dL/d(alpha) and
    /// dL/d(depth) [H, W].
    public static func blend(_ splats: [ProjectedGaussianD], width: Int, height: Int, background: SIMD3<Double>,
                             gradColor: [Double], gradAlpha: [Double], gradDepth: [Double]) -> [SplatGradientD] {
        var grads = [SplatGradientD](repeating: SplatGradientD(), count: splats.count)
        let perPixel = lists(splats, width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                let p = y * width + x
                // Forward, remembering the blended ones.
                var T = 1.0
                var blended: [(Int, Double, Double, Double, SIMD2<Double>, Bool)] = []  // index, alpha, gaussian, T_i, d, clamped
                for i in perPixel[p] {
                    guard let a = alpha(splats[i], x: x, y: y) else { continue }
                    let next = T * (1 - a.alpha)
                    if next < Double(RasterConstants.minTransmittance) { break }
                    blended.append((i, a.alpha, a.gaussian, T, a.d, a.clamped))
                    T = next
                }
                let finalT = T
                let dC = SIMD3(gradColor[3 * p], gradColor[3 * p + 1], gradColor[3 * p + 2])
                let dA = gradAlpha[p], dD = gradDepth[p]
                var behind = SIMD3<Double>.zero, behindDepth = 0.0
                for (i, a, gaussian, Ti, d, clamped) in blended.reversed() {
                    let g = splats[i]
                    let weight = a * Ti
                    grads[i].color += dC * weight
                    grads[i].depth += dD * weight
                    let dAlpha = ((g.color * Ti - (behind + background * finalT) / (1 - a)) * dC).sum()
                        + dA * finalT / (1 - a) + dD * (g.depth * Ti - behindDepth / (1 - a))
                    behind += g.color * weight
                    behindDepth += g.depth * weight
                    guard !clamped else { continue }
                    grads[i].opacity += dAlpha * gaussian
                    let dPower = dAlpha * a
                    grads[i].mean += dPower * SIMD2(-(g.conic.x * d.x + g.conic.y * d.y), -(g.conic.z * d.y + g.conic.y * d.x))
                    grads[i].conic += dPower * SIMD3(-0.5 * d.x * d.x, -d.x * d.y, -0.5 * d.y * d.y)
                }
            }
        }
        return grads
    }
}
