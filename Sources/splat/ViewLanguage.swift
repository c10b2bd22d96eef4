import Compute
import ComputePrimitives
import Datasets
import Foundation
import Geometry
import Language
import Splatting
import Viewer

/// The viewer's frames of a language model: the RGB render, the feature
/// field as false colour (cosines with three principal directions of the
/// codebook entries of one level) or the relevancy of one query over the
/// render, as `splat query` draws it. L cycles the three, N the queries.
/// Feature frames are composed on the host and uploaded.
final class LanguageFrameSource: ViewerFrameSource {
    enum Mode: String, CaseIterable { case colour, features, relevancy }

    let renderer: LanguageRenderer
    var settings: RasterSettings
    let queries: (rows: [Float], names: [String])?
    let canonical: [Float]
    /// The level the feature field shows (m, the middle one, when there are several).
    let featureLevel: Int
    let principal: (directions: [Float], mean: [Float], spread: [Float])
    var mode = Mode.colour
    var queryIndex = 0
    var shownLevel: Int?
    /// Which rows `renderer` holds: the principal directions or the queries.
    var rowsHold: Mode?
    let color = ScratchBuffer(label: "viewer language colour"), depth = ScratchBuffer(label: "viewer language depth")

    init(device: ComputeDevice, geometry: GaussianModel, field: LanguageFeatureField, settings: RasterSettings,
         queries: (rows: [Float], names: [String])?, canonical: [Float]) throws {
        renderer = try LanguageRenderer(device: device, geometry: geometry, field: field)
        self.settings = settings
        self.queries = queries
        self.canonical = canonical
        featureLevel = min(1, field.shape.levels - 1)
        principal = LanguageRenderer.principalDirections(codebooks: field.codebooks, shape: field.shape)[featureLevel]
    }

    func press(_ key: String) -> Bool {
        switch key {
        case "L":
            let modes = Mode.allCases.filter { $0 != .relevancy || queries != nil }
            mode = modes[((modes.firstIndex(of: mode) ?? 0) + 1) % modes.count]
            if mode == .relevancy && queries == nil { mode = .colour }
            return true
        case "N":
            guard let queries else { return false }
            queryIndex = (queryIndex + 1) % queries.names.count
            if mode != .relevancy { mode = .relevancy }
            FileHandle.standardError.write(Data("splat view: query \(queryIndex + 1)/\(queries.names.count) \(queries.names[queryIndex])\n".utf8))
            return true
        default:
            return false
        }
    }

    var status: String? {
        let names = renderer.field.levelNames
        switch mode {
        case .colour: return nil
        case .features: return "feature field (PCA of level \(names[featureLevel]))"
        case .relevancy:
            guard let queries else { return nil }
            return "\"\(queries.names[queryIndex])\"" + (shownLevel.map { " (level \(names[$0]))" } ?? "")
        }
    }

    var summary: String {
        "\(renderer.rasterizer.gaussianCount) Gaussians with language features (\(renderer.shape.levels) levels)"
    }

    func render(intrinsics: Intrinsics, pose: Pose, background: SIMD3<Float>) throws -> (color: BufferRange, depth: BufferRange) {
        var s = settings
        s.background = background
        let camera = RasterCamera(intrinsics: intrinsics, pose: pose)
        let rasterizer = renderer.rasterizer
        if mode == .colour {
            try rasterizer.renderOnDevice(camera: camera, settings: s)
            return (rasterizer.colorBuffer!, rasterizer.depthBuffer!)
        }
        let image = try rasterizer.render(camera: camera, settings: s)
        let P = camera.width * camera.height
        var rgba = [Float](repeating: 0, count: P * 4)
        if mode == .features {
            if rowsHold != .features {
                try renderer.setQueries(principal.directions, canonical: [], source: "principal directions")
                rowsHold = .features
            }
            let scores = try renderer.scores(camera: camera, settings: s, relevancy: false)
            let base = featureLevel * 3 * P
            for p in 0..<P {
                let a = image.alpha[p]
                for c in 0..<3 {
                    let v = 0.5 + (scores[base + c * P + p] - principal.mean[c]) / (4 * principal.spread[c])
                    // Over the background by coverage, as the colour frame is.
                    rgba[4 * p + c] = min(max(v, 0), 1) * a + background[c] * (1 - a)
                }
                rgba[4 * p + 3] = a
            }
        } else if let queries {
            if rowsHold != .relevancy {
                try renderer.setQueries(queries.rows, canonical: canonical, source: "query embeddings")
                rowsHold = .relevancy
            }
            let Q = queries.names.count
            let scores = try renderer.scores(camera: camera, settings: s, relevancy: !canonical.isEmpty)
            let best = RelevancyMaps.bestLevels(scores: scores, levels: renderer.shape.levels, queries: Q, pixels: P, alpha: image.alpha)[queryIndex]
            shownLevel = best.level
            let start = (best.level * Q + queryIndex) * P
            let map = RelevancyMaps.normalised(scores[start..<(start + P)], alpha: image.alpha)
            for p in 0..<P {
                let c = RelevancyMaps.overlay(SIMD3(image.color[3 * p], image.color[3 * p + 1], image.color[3 * p + 2]), map[p])
                for k in 0..<3 { rgba[4 * p + k] = c[k] }
                rgba[4 * p + 3] = image.alpha[p]
            }
        }
        return try ModelFrameSource.upload(rgba: rgba, depth: image.depth, color: color, depthBuffer: depth, device: renderer.device)
    }
}
