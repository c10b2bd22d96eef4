import Foundation

/// A projected Gaussian in Double, for the backward twin and its
/// finite-difference checks.
public struct ProjectedGaussianD: Equatable {
    public var index: Int
    public var mean: SIMD2<Double>
    public var conic: SIMD3<Double>
    public var opacity: Double
    /// The payload: C channel values, or K (channel, weight) pairs (`PayloadLayout`).
    public var payload: [Double]
    public var depth: Double
    public var tileMin: SIMD2<Int>
    public var tileMax: SIMD2<Int>

    public init(index: Int, mean: SIMD2<Double>, conic: SIMD3<Double>, opacity: Double, payload: [Double],
                depth: Double, tileMin: SIMD2<Int>, tileMax: SIMD2<Int>) {
        self.index = index
        self.mean = mean
        self.conic = conic
        self.opacity = opacity
        self.payload = payload
        self.depth = depth
        self.tileMin = tileMin
        self.tileMax = tileMax
    }

    public init(_ g: ProjectedGaussian) {
        self.init(index: g.index, mean: SIMD2(Double(g.mean.x), Double(g.mean.y)),
                  conic: SIMD3(Double(g.conic.x), Double(g.conic.y), Double(g.conic.z)), opacity: Double(g.opacity),
                  payload: [Double(g.color.x), Double(g.color.y), Double(g.color.z)], depth: Double(g.depth),
                  tileMin: SIMD2(Int(g.tileMin.x), Int(g.tileMin.y)), tileMax: SIMD2(Int(g.tileMax.x), Int(g.tileMax.y)))
    }
}

/// Gradients of one Gaussian's projected quantities and payload.
public struct SplatGradientD: Equatable {
    public var mean = SIMD2<Double>.zero
    public var conic = SIMD3<Double>.zero
    public var opacity = 0.0
    /// dL/d(payload), in the payload's layout (sparse: the weight slots; the channel slots stay 0).
    public var payload: [Double]
    public var depth = 0.0
    public init(payloadStride: Int = 3) { payload = [Double](repeating: 0, count: payloadStride) }
}

/// The Swift twin of `splat_blend` and `splat_blend_backward`, in Double,
/// parametrised as the kernels are: payload layout (C dense channels or K
/// sparse pairs over L channels) and blend mode. Per pixel, the Gaussians
/// whose tile rectangle covers the pixel, in (depth, index) order, blended
/// with the constants of docs/conventions.md; the backward walks the blended
/// ones back to front.
public enum RasterizerBackward {
    public struct Output {
        public var color: [Double]  // [H, W, C]: blended payload + background (alpha mode: T bg)
        public var alpha: [Double]  // [H, W]: 1 - T (additive: sum of weights)
        public var depth: [Double]  // [H, W]: sum weight z
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

    /// The weight of splat `g` at pixel (x, y) (alpha mode: alpha), or nil
    /// where it is skipped; also exp(power), the offset and whether the 0.99
    /// clamp was active.
    static func weight(_ g: ProjectedGaussianD, x: Int, y: Int, mode: BlendMode) -> (alpha: Double, gaussian: Double, d: SIMD2<Double>, clamped: Bool)? {
        let d = g.mean - SIMD2(Double(x) + 0.5, Double(y) + 0.5)
        let power = -0.5 * (g.conic.x * d.x * d.x + g.conic.z * d.y * d.y) - g.conic.y * d.x * d.y
        guard power <= 0 else { return nil }
        let gaussian = exp(power)
        let raw = g.opacity * gaussian
        let a = mode == .additive ? raw : min(Double(RasterConstants.maxAlpha), raw)
        guard a >= Double(RasterConstants.minAlpha) else { return nil }
        return (a, gaussian, d, mode == .alpha && raw > Double(RasterConstants.maxAlpha))
    }

    /// (channel, value) of each payload entry of `g`.
    static func entries(_ g: ProjectedGaussianD, _ layout: PayloadLayout) -> [(channel: Int, slot: Int, value: Double)] {
        if layout.sparsePairs > 0 {
            return (0..<layout.sparsePairs).compactMap { q in
                let c = Int(g.payload[2 * q])
                return c >= 0 && c < layout.channels ? (c, 2 * q + 1, g.payload[2 * q + 1]) : nil
            }
        }
        return (0..<layout.channels).map { ($0, $0, g.payload[$0]) }
    }

    /// One pixel's blended splats: (splat, weight factor alpha, exp(power), T_i, offset, clamped), and the final T.
    static func blendedSplats(_ splats: [ProjectedGaussianD], _ list: [Int], x: Int, y: Int, mode: BlendMode)
        -> (blended: [(Int, Double, Double, Double, SIMD2<Double>, Bool)], finalT: Double) {
        var T = 1.0
        var blended: [(Int, Double, Double, Double, SIMD2<Double>, Bool)] = []
        for i in list {
            guard let a = weight(splats[i], x: x, y: y, mode: mode) else { continue }
            if mode == .additive {
                blended.append((i, a.alpha, a.gaussian, 1, a.d, false))
                continue
            }
            let next = T * (1 - a.alpha)
            if next < Double(RasterConstants.minTransmittance) { break }
            blended.append((i, a.alpha, a.gaussian, T, a.d, a.clamped))
            T = next
        }
        return (blended, T)
    }

    public static func forward(_ splats: [ProjectedGaussianD], width: Int, height: Int, background: [Double],
                               layout: PayloadLayout = .rgb, mode: BlendMode = .alpha) -> Output {
        let C = layout.channels
        var out = Output(color: [Double](repeating: 0, count: width * height * C),
                         alpha: [Double](repeating: 0, count: width * height), depth: [Double](repeating: 0, count: width * height))
        let perPixel = lists(splats, width: width, height: height)
        let payloads = splats.map { entries($0, layout) }
        for y in 0..<height {
            for x in 0..<width {
                let p = y * width + x
                let (blended, finalT) = blendedSplats(splats, perPixel[p], x: x, y: y, mode: mode)
                var A = 0.0
                for (i, a, _, Ti, _, _) in blended {
                    let w = a * Ti
                    for e in payloads[i] { out.color[C * p + e.channel] += e.value * w }
                    out.depth[p] += splats[i].depth * w
                    A += w
                }
                let behind = mode == .additive ? 1 : finalT
                for c in 0..<C { out.color[C * p + c] += background[c] * behind }
                out.alpha[p] = mode == .additive ? A : 1 - finalT
            }
        }
        return out
    }

    /// Gradients of every splat given dL/d(channels) [H, W, C], dL/d(alpha)
    /// and dL/d(depth) [H, W].
    public static func blend(_ splats: [ProjectedGaussianD], width: Int, height: Int, background: [Double],
                             gradColor: [Double], gradAlpha: [Double], gradDepth: [Double],
                             layout: PayloadLayout = .rgb, mode: BlendMode = .alpha) -> [SplatGradientD] {
        let C = layout.channels
        var grads = [SplatGradientD](repeating: SplatGradientD(payloadStride: layout.stride), count: splats.count)
        let perPixel = lists(splats, width: width, height: height)
        let payloads = splats.map { entries($0, layout) }
        for y in 0..<height {
            for x in 0..<width {
                let p = y * width + x
                let (blended, finalT) = blendedSplats(splats, perPixel[p], x: x, y: y, mode: mode)
                let dC = gradColor[(C * p)..<(C * p + C)]
                let dA = gradAlpha[p], dD = gradDepth[p]
                // dot(R_i + T_N bg, dL/dC) and the depth behind the current splat.
                var behindDC = (0..<C).reduce(0.0) { $0 + background[$1] * finalT * dC[C * p + $1] }
                var behindDepth = 0.0
                for (i, a, gaussian, Ti, d, clamped) in blended.reversed() {
                    let g = splats[i]
                    let w = a * Ti
                    var payloadDC = 0.0
                    for e in payloads[i] {
                        grads[i].payload[e.slot] += dC[C * p + e.channel] * w
                        payloadDC += e.value * dC[C * p + e.channel]
                    }
                    grads[i].depth += dD * w
                    let dAlpha: Double
                    if mode == .additive {
                        dAlpha = payloadDC + dA + dD * g.depth
                    } else {
                        dAlpha = payloadDC * Ti - behindDC / (1 - a) + dA * finalT / (1 - a) + dD * (g.depth * Ti - behindDepth / (1 - a))
                        behindDC += payloadDC * w
                        behindDepth += g.depth * w
                    }
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
