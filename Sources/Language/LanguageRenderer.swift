import CShaderLayouts
import Compute
import ComputePrimitives
import Datasets
import Foundation
import Geometry
import Splatting

/// Renders a language feature field and answers open-vocabulary queries on
/// it (LangSplatV2, Li et al. 2025): each Gaussian's K sparse weights per
/// level are splatted into a [H, W, levels * L] weight map by the shared
/// rasterizer, and a query never decodes the D = 512 features: with the
/// codebook Gram matrix G = C C^T and u = C q, cos(C^T w, q) = w.u / sqrt(w^T G w)
/// (language_similarity). Used by `splat query`, the viewer and the bench.
public final class LanguageRenderer {
    public let device: ComputeDevice
    public let rasterizer: GaussianRasterizer
    public let kernels: LanguageKernels
    public let field: LanguageFeatureField
    public var shape: LanguageShape { field.shape }
    let stream: CommandStream
    let payload: GPUBuffer    // [N, levels * K, 2]
    let codebook: GPUBuffer   // [levels, L, D] f32
    let gram: GPUBuffer       // [levels, L, L] f32
    let rows = ScratchBuffer(label: "language query rows")          // [Q + C, D] f32 unit rows
    let products = ScratchBuffer(label: "language query products")  // [levels, Q + C, L] f32
    let scores = ScratchBuffer(label: "language scores")            // [levels, Q, P] f32
    /// Queries and canonical phrases of the last `setQueries`.
    public private(set) var queryCount = 0
    public private(set) var canonicalCount = 0
    /// The most canonical phrases a query takes.
    public static let maxCanonical = Int(LANGUAGE_MAX_CANONICAL)
    /// GPU time of the last `recordScores` run (nil where the queue has no timestamps).
    public private(set) var lastScoreMilliseconds: Double?

    /// `rasterizer`: one that already holds `geometry` (the viewer's), else a new one.
    public init(device: ComputeDevice, geometry: GaussianModel, field: LanguageFeatureField,
                rasterizer existing: GaussianRasterizer? = nil) throws {
        if let problem = field.problem { throw ComputeError.invalidArgument("language features: \(problem)") }
        guard field.gaussianCount == geometry.count else {
            throw ComputeError.invalidArgument("the language features cover \(field.gaussianCount) Gaussians; the model has \(geometry.count)")
        }
        guard !geometry.hasTime else { throw ComputeError.invalidArgument("language features need a 3D Gaussian model, not a 4D one") }
        self.device = device
        self.field = field
        kernels = try LanguageKernels(device: device, shape: field.shape)
        if let existing {
            rasterizer = existing
        } else {
            rasterizer = try GaussianRasterizer(device: device)
            try rasterizer.setModel(geometry)
        }
        stream = try CommandStream(device: device)
        let s = field.shape, L = s.codebookSize
        let values = field.payload()
        payload = try GPUBuffer(device: device, values.isEmpty ? [0, 0] : values, label: "language payload")
        codebook = try GPUBuffer(device: device, field.codebooks, label: "language codebook")
        gram = try GPUBuffer(device: device, length: s.levels * L * L * 4, label: "language Gram")
        let cb = codebook.slice(offset: 0, length: field.codebooks.count * 4)
        try kernels.recordProducts(stream, rows: cb, rowCount: L, rowLevelStride: L, codebook: cb,
                                   output: gram.slice(offset: 0, length: s.levels * L * L * 4))
        try stream.run()
    }

    /// The weight map's payload: the field's sparse weights.
    public var payloadDescription: RasterPayload {
        RasterPayload(layout: PayloadLayout(channels: shape.channels, sparsePairs: shape.payloadPairs, sparseGroups: shape.levels), buffer: payload)
    }

    /// `settings` for the weight map: alpha compositing, zero background (an
    /// uncovered pixel has no feature, whatever the RGB background).
    public func weightSettings(_ settings: RasterSettings) -> RasterSettings {
        var s = settings
        s.blendMode = .alpha
        s.channelBackgroundValues = [Float](repeating: 0, count: shape.channels)
        return s
    }

    /// Renders the weight map of `camera` into the rasterizer's colour
    /// buffer ([H, W, levels * L + 1] f32), on the device.
    public func renderWeights(camera: RasterCamera, settings: RasterSettings) throws {
        try rasterizer.renderOnDevice(camera: camera, settings: weightSettings(settings), payload: payloadDescription)
    }

    /// Sets the query rows: `queries` [Q, D] and `canonical` [C, D] (each row
    /// normalised here), and computes their products with the codebooks.
    /// `source` names the file(s) in errors.
    public func setQueries(_ queries: [Float], canonical: [Float], source: String = "query embeddings") throws {
        let D = shape.dimension, L = shape.codebookSize
        guard queries.count % D == 0, canonical.count % D == 0, !queries.isEmpty else {
            throw ComputeError.invalidArgument("\(source): \(queries.count) and \(canonical.count) values are not whole rows of D = \(D)")
        }
        let q = queries.count / D, c = canonical.count / D
        guard c <= Int(LANGUAGE_MAX_CANONICAL) else {
            throw ComputeError.invalidArgument("\(source): at most \(LANGUAGE_MAX_CANONICAL) canonical phrases, got \(c)")
        }
        let unit = try Self.unitRows(queries + canonical, dimension: D, source: source)
        let r = try rows.atLeast(unit.count * 4, device: device)
        try r.write(unit, device: device)
        let out = try products.atLeast(shape.levels * (q + c) * L * 4, device: device)
        stream.reset()
        try kernels.recordProducts(stream, rows: r.slice(offset: 0, length: unit.count * 4), rowCount: q + c, rowLevelStride: 0,
                                   codebook: codebook.slice(offset: 0, length: field.codebooks.count * 4),
                                   output: out.slice(offset: 0, length: shape.levels * (q + c) * L * 4))
        try stream.run()
        queryCount = q
        canonicalCount = c
    }

    /// Rows scaled to unit length; a non-finite or zero row is an error.
    public static func unitRows(_ values: [Float], dimension D: Int, source: String) throws -> [Float] {
        var out = values
        for r in 0..<(values.count / D) {
            var sum = 0.0
            for v in values[(r * D)..<((r + 1) * D)] {
                guard v.isFinite else { throw ComputeError.invalidArgument("\(source): row \(r) holds NaN or infinity") }
                sum += Double(v) * Double(v)
            }
            guard sum > 0 else { throw ComputeError.invalidArgument("\(source): row \(r) is all zeros") }
            let inv = Float(1 / sum.squareRoot())
            for i in (r * D)..<((r + 1) * D) { out[i] *= inv }
        }
        return out
    }

    /// Runs language_similarity on the last weight map: [levels, Q, P] relevancy
    /// (with canonical phrases and `relevancy`) or cosines, left on the device.
    @discardableResult
    public func recordScores(camera: RasterCamera, relevancy: Bool, temperature: Float = 10) throws -> BufferRange {
        guard queryCount > 0 else { throw ComputeError.invalidArgument("no queries set") }
        guard let map = rasterizer.colorBuffer else { throw ComputeError.invalidArgument("no weight map rendered") }
        let P = camera.width * camera.height, L = shape.codebookSize
        let rowCount = queryCount + canonicalCount
        let out = try scores.atLeast(shape.levels * queryCount * P * 4, device: device)
        let range = out.slice(offset: 0, length: shape.levels * queryCount * P * 4)
        stream.reset()
        try stream.mark("start")
        try kernels.recordSimilarity(stream, weightMap: map, gram: gram.slice(offset: 0, length: shape.levels * L * L * 4),
                                     products: products.buffer!.slice(offset: 0, length: shape.levels * rowCount * L * 4),
                                     queries: queryCount, canonical: relevancy ? canonicalCount : 0, pixels: P,
                                     relevancy: relevancy && canonicalCount > 0, temperature: temperature, output: range)
        try stream.mark("scores")
        try stream.run()
        lastScoreMilliseconds = try stream.timings().first?.milliseconds
        return range
    }

    /// The image in horizontal bands whose weight map ([rows, W, levels L + 1]
    /// f32) fits one storage-buffer binding (lavapipe: 128 MiB, a 1280x720
    /// map of 3 x 64 channels is 711 MB): each band is the camera cropped to
    /// rows y0 ..< y0 + height (principal point moved up), whole tiles high.
    public func bands(_ camera: RasterCamera) -> [(y0: Int, camera: RasterCamera)] {
        let rowBytes = camera.width * (shape.channels + 1) * 4
        let tile = rasterTileSize
        let fit = max(tile, device.info.maxStorageBufferRange / max(1, rowBytes) / tile * tile)
        guard camera.height > fit else { return [(0, camera)] }
        return stride(from: 0, to: camera.height, by: fit).map { y0 in
            var band = camera
            band.height = min(fit, camera.height - y0)
            band.cy = camera.cy - Float(y0)
            return (y0, band)
        }
    }

    /// Renders `camera`'s weight map (band by band where it does not fit
    /// one binding) and returns [levels, Q, P] scores.
    public func scores(camera: RasterCamera, settings: RasterSettings, relevancy: Bool) throws -> [Float] {
        let P = camera.width * camera.height, Q = queryCount
        var out = [Float](repeating: 0, count: shape.levels * Q * P)
        for (y0, band) in bands(camera) {
            try renderWeights(camera: band, settings: settings)
            let range = try recordScores(camera: band, relevancy: relevancy)
            let values = try range.buffer.read(Float.self, count: range.length / 4, device: device)
            let bandPixels = band.width * band.height
            for row in 0..<(shape.levels * Q) {
                out.replaceSubrange((row * P + y0 * camera.width)..<(row * P + y0 * camera.width + bandPixels),
                                    with: values[(row * bandPixels)..<((row + 1) * bandPixels)])
            }
        }
        return out
    }

    /// Three principal directions [3, D] per level of the codebook entries
    /// (the feature field's false-colour view), with each direction's mean
    /// and spread over the entries, so a cosine maps to colour as
    /// 0.5 + (s - mean) / (4 spread).
    public static func principalDirections(codebooks: [Float], shape: LanguageShape)
        -> [(directions: [Float], mean: [Float], spread: [Float])] {
        let L = shape.codebookSize, D = shape.dimension
        return (0..<shape.levels).map { level in
            let base = level * L * D
            var mean = [Double](repeating: 0, count: D)
            for e in 0..<L { for d in 0..<D { mean[d] += Double(codebooks[base + e * D + d]) / Double(L) } }
            var centred = [Double](repeating: 0, count: L * D)
            for e in 0..<L { for d in 0..<D { centred[e * D + d] = Double(codebooks[base + e * D + d]) - mean[d] } }
            // Power iteration with deflation on the L x L Gram of the centred entries.
            var gram = [Double](repeating: 0, count: L * L)
            for i in 0..<L { for j in 0...i {
                var s = 0.0
                for d in 0..<D { s += centred[i * D + d] * centred[j * D + d] }
                gram[i * L + j] = s; gram[j * L + i] = s
            } }
            var directions: [Float] = [], means: [Float] = [], spreads: [Float] = []
            for component in 0..<3 {
                var v = (0..<L).map { Double(($0 * 7 + component * 13) % 11) - 5 + 0.5 }
                for _ in 0..<100 {
                    var next = [Double](repeating: 0, count: L)
                    for i in 0..<L { for j in 0..<L { next[i] += gram[i * L + j] * v[j] } }
                    let norm = next.reduce(0) { $0 + $1 * $1 }.squareRoot()
                    guard norm > 1e-12 else { break }
                    v = next.map { $0 / norm }
                }
                let lambda = (0..<L).reduce(0.0) { acc, i in acc + v[i] * (0..<L).reduce(0.0) { $0 + gram[i * L + $1] * v[$1] } }
                for i in 0..<L { for j in 0..<L { gram[i * L + j] -= lambda * v[i] * v[j] } }
                // The direction in feature space: centred^T v, unit length.
                var u = [Double](repeating: 0, count: D)
                for e in 0..<L { for d in 0..<D { u[d] += v[e] * centred[e * D + d] } }
                let norm = u.reduce(0) { $0 + $1 * $1 }.squareRoot()
                if norm > 1e-12 { u = u.map { $0 / norm } } else { u = (0..<D).map { $0 == component ? 1 : 0 } }
                // Cosines of the unit entries with u: their mean and spread.
                var values: [Double] = []
                for e in 0..<L {
                    var s = 0.0, n = 0.0
                    for d in 0..<D { let c = Double(codebooks[base + e * D + d]); s += c * u[d]; n += c * c }
                    values.append(n > 0 ? s / n.squareRoot() : 0)
                }
                let m = values.reduce(0, +) / Double(L)
                let sd = (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(L)).squareRoot()
                directions += u.map(Float.init)
                means.append(Float(m))
                spreads.append(Float(max(sd, 1e-3)))
            }
            return (directions, means, spreads)
        }
    }
}

/// LangSplat's choice and normalisation of relevancy maps, over the pixels
/// the Gaussians cover. A feature is normalised, so a pixel that shows an
/// object at 5% opacity over empty background decodes to that object's full
/// feature; pixels whose opacity is under `minimumCoverage` count as
/// background (score 0, left out of the minimum and maximum), so object
/// edges do not grow by the blur of the Gaussians' tails.
public enum RelevancyMaps {
    /// A blue-to-red colour map (a short approximation of turbo) of v in [0, 1].
    public static func colour(_ v: Float) -> SIMD3<Float> {
        let stops: [SIMD3<Float>] = [SIMD3(0.19, 0.07, 0.23), SIMD3(0.16, 0.47, 0.93), SIMD3(0.10, 0.89, 0.61),
                                     SIMD3(0.72, 0.97, 0.22), SIMD3(0.98, 0.62, 0.13), SIMD3(0.48, 0.02, 0.01)]
        let x = min(max(v, 0), 1) * Float(stops.count - 1)
        let i = min(Int(x), stops.count - 2)
        let t = x - Float(i)
        return stops[i] * (1 - t) + stops[i + 1] * t
    }

    /// A normalised map value over a render: the colour map where v > 0,
    /// more opaque where v is higher; the render alone where v = 0.
    public static func overlay(_ rgb: SIMD3<Float>, _ v: Float) -> SIMD3<Float> {
        let a: Float = v > 0 ? 0.35 + 0.5 * v : 0
        return rgb * (1 - a) + colour(v) * a
    }

    /// Opacity below which a pixel counts as background.
    public static let minimumCoverage: Float = 0.5

    /// The level whose map has the highest maximum over covered pixels
    /// (LangSplat's level choice), that maximum and its pixel.
    /// `scores`: [levels, Q, P]; `alpha`: [P] (nil: every pixel counts). Per query.
    public static func bestLevels(scores: [Float], levels: Int, queries Q: Int, pixels P: Int, alpha: [Float]? = nil)
        -> [(level: Int, maximum: Float, pixel: Int)] {
        (0..<Q).map { q in
            var best = (level: 0, maximum: -Float.infinity, pixel: 0)
            for level in 0..<levels {
                let base = (level * Q + q) * P
                for p in 0..<P where scores[base + p] > best.maximum && (alpha?[p] ?? 1) >= minimumCoverage {
                    best = (level, scores[base + p], p)
                }
            }
            return best
        }
    }

    /// LangSplat's normalisation of one map: (r - min) / (max - min) spread
    /// to [-1, 1] and clipped to [0, 1], so only the upper half of the map's
    /// range stays; min and max over covered pixels; uncovered pixels and a
    /// flat map are 0.
    public static func normalised(_ map: ArraySlice<Float>, alpha: [Float]? = nil) -> [Float] {
        let covered = { (p: Int) in (alpha?[p] ?? 1) >= minimumCoverage }
        var lo = Float.infinity, hi = -Float.infinity
        for (p, v) in map.enumerated() where covered(p) { lo = min(lo, v); hi = max(hi, v) }
        guard hi > lo else { return [Float](repeating: 0, count: map.count) }
        return map.enumerated().map { p, v in covered(p) ? min(max(2 * (v - lo) / (hi - lo) - 1, 0), 1) : 0 }
    }
}
