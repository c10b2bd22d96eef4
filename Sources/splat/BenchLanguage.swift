import Compute
import Datasets
import Foundation
import Geometry
import Language
import Splatting

extension BenchRender {
    /// A random language field on `n` Gaussians (LangSplatV2's shape: 3
    /// levels, L = 64, K = 4, D = 512), for `--kind language`.
    static func syntheticLanguageField(gaussians n: Int, seed: UInt64 = 3) -> LanguageFeatureField {
        let shape = LanguageShape()
        var rng = SplitMix64(seed: seed)
        let logits = (0..<(n * shape.channels)).map { _ in 2 * rng.normal() }
        let codebooks = (0..<(shape.levels * shape.codebookSize * shape.dimension)).map { _ in rng.normal() }
        return LanguageFeatureField(shape: shape, logits: logits, codebooks: codebooks)
    }

    /// The language benchmark: the model's RGB frame, its weight map (the
    /// feature rendering) and one query (relevancy of one text row against
    /// four canonical rows on every level) of the same camera, timed
    /// alternately; ratios against the RGB frame. The relevancy is checked
    /// against the Swift twins (decode, then cosines) on sampled pixels.
    func benchLanguage(field: LanguageFeatureField, geometry: GaussianModel, device: ComputeDevice,
                       camera: RasterCamera, settings: RasterSettings) throws {
        let renderer = try LanguageRenderer(device: device, geometry: geometry, field: field)
        let rasterizer = renderer.rasterizer
        let shape = field.shape, D = shape.dimension
        var rng = SplitMix64(seed: 11)
        let rows = (0..<(5 * D)).map { _ in rng.normal() }
        try renderer.setQueries(Array(rows[0..<D]), canonical: Array(rows[D...]), source: "bench rows")

        func rgbFrame() throws -> Double {
            var wall = 0.0
            wall = try milliseconds { try rasterizer.renderOnDevice(camera: camera, settings: settings) }
            return rasterizer.lastTimings["total"] ?? wall
        }
        // Frames whose weight map exceeds one storage binding render in bands (timed together).
        let bands = renderer.bands(camera)
        func featureFrame(_ band: RasterCamera) throws -> Double {
            var wall = 0.0
            wall = try milliseconds { try renderer.renderWeights(camera: band, settings: settings) }
            return rasterizer.lastTimings["total"] ?? wall
        }
        func query(_ band: RasterCamera) throws -> Double {
            var wall = 0.0
            wall = try milliseconds { try renderer.recordScores(camera: band, relevancy: true) }
            return renderer.lastScoreMilliseconds ?? wall
        }
        _ = try rgbFrame()
        _ = try featureFrame(bands[0].camera)
        _ = try query(bands[0].camera)
        var rgbMs: [Double] = [], featureMs: [Double] = [], queryMs: [Double] = [], featureBlendMs: [Double] = [], rgbBlendMs: [Double] = []
        for _ in 0..<repeatCount {
            rgbMs.append(try rgbFrame())
            rgbBlendMs.append(rasterizer.lastTimings["blend"] ?? 0)
            var feature = 0.0, blend = 0.0, q = 0.0
            for (_, band) in bands {
                feature += try featureFrame(band)
                blend += rasterizer.lastTimings["blend"] ?? 0
                q += try query(band)
            }
            featureMs.append(feature)
            featureBlendMs.append(blend)
            queryMs.append(q)
        }
        // Check: the last band's relevancy against decode + cosines in Double on up to 256 pixels.
        let last = bands[bands.count - 1].camera
        let P = last.width * last.height, stride = shape.channels + 1
        let scores = try renderer.recordScores(camera: last, relevancy: true)
        let relevancy = try scores.buffer.read(Float.self, count: scores.length / 4, device: device)
        let map = try rasterizer.colorBuffer!.buffer.read(Float.self, count: P * stride, device: device)
        let samples = Array(Set((0..<min(256, P)).map { _ in Int(rng.next() % UInt64(P)) })).sorted()
        let sampledMap = samples.flatMap { p in map[(p * stride)..<((p + 1) * stride)].map(Double.init) }
        let decoded = LanguageReference.languageDecode(weightMap: sampledMap, mapStride: stride, pixels: samples.count,
                                                       codebook: field.codebooks.map(Double.init), levels: shape.levels,
                                                       codebookSize: shape.codebookSize, dimension: D)
        let unit = try LanguageRenderer.unitRows(rows, dimension: D, source: "bench rows").map(Double.init)
        let twin = LanguageReference.languageSimilarity(features: decoded, pixels: samples.count, levels: shape.levels, dimension: D,
                                                        queries: unit, queryCount: 1, canonicalCount: 4, temperature: 10, relevancy: true)
        var maxError = 0.0
        for level in 0..<shape.levels {
            for (i, p) in samples.enumerated() {
                maxError = max(maxError, abs(Double(relevancy[level * P + p]) - twin[level * samples.count + i]))
            }
        }
        let finite = relevancy.allSatisfy(\.isFinite)
        let rgb = median(rgbMs), feature = median(featureMs), q = median(queryMs)
        func fps(_ ms: Double) -> Double { round3(ms > 0 ? 1000 / ms : 0) }
        let result: [String: Any] = [
            "benchmark": "render-language",
            "device": device.info.displayName,
            "model": model ?? "synthetic (random field)",
            "gaussians": geometry.count,
            "width": camera.width,
            "height": camera.height,
            "levels": shape.levels,
            "codebook_size": shape.codebookSize,
            "top_k": shape.topK,
            "dimension": D,
            "baseline": "rgb-render-same-model-and-camera",
            "baseline_ms": round3(rgb),
            "baseline_blend_ms": round3(median(rgbBlendMs)),
            "feature_ms": round3(feature),
            "feature_blend_ms": round3(median(featureBlendMs)),
            "feature_fps": fps(feature),
            "feature_ratio": round3(rgb > 0 ? feature / rgb : 0),
            "query_ms": round3(q),
            "query_ratio": round3(rgb > 0 ? q / rgb : 0),
            "feature_and_query_ms": round3(feature + q),
            "feature_and_query_fps": fps(feature + q),
            "feature_and_query_ratio": round3(rgb > 0 ? (feature + q) / rgb : 0),
            "max_abs_error": maxError,
            "checked_pixels": samples.count,
            "bands": bands.count,
            "repeat": repeatCount,
            "verified": finite && maxError <= 1e-3,
        ]
        try report(result, json: json, text: """
            language field on \(geometry.count) Gaussians at \(camera.width)x\(camera.height) (\(shape.levels) levels, L \(shape.codebookSize), K \(shape.topK)): \
            RGB \(round3(rgb)) ms, features \(round3(feature)) ms (\(round3(rgb > 0 ? feature / rgb : 0))x), \
            one query \(round3(q)) ms (\(round3(rgb > 0 ? q / rgb : 0))x; with the features \(round3(rgb > 0 ? (feature + q) / rgb : 0))x); \
            relevancy vs the Swift twin: max abs error \(maxError)
            """)
    }
}
