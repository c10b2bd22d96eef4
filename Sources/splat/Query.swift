import ArgumentParser
import Compute
import Datasets
import Foundation
import Geometry
import Language
import Models
import Splatting

struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask a language model where text queries are: relevancy heatmaps and masks per view.",
        discussion: """
        MODEL is the output folder of `splat train --method language`. The
        queries are text embeddings made elsewhere (no text encoder runs
        here): --text Q.npy holds [Q, D] float rows (D the model's feature
        dimension, 512 for CLIP ViT-B/16), --names Q.txt one name per line,
        in the same order. --canonical C.npy and --canonical-names C.txt are
        LERF's canonical phrases (LangSplat uses "object", "things", "stuff",
        "texture"); with them each query's score is LERF's relevancy, the
        minimum over the canonical phrases c of the pairwise softmax
        exp(10 s_q) / (exp(10 s_q) + exp(10 s_c)) of the cosines s; without
        them it is the cosine itself. README.md ("Language features") shows
        how to make these files with CLIP.

        Per view and query, the level (s, m, l) whose map has the highest
        maximum is chosen, as LangSplat does; its map is normalised as
        LangSplat's evaluation does (min..max spread to -1..1, clipped to
        0..1) and thresholded at --threshold. Pixels the Gaussians cover
        less than half (opacity < 0.5) count as background: a normalised
        feature carries no opacity, so without this an object's faint edge
        would score as high as its middle. Cameras: --cameras SCENE
        [--split S] (the scene's cameras at --downscale) or --orbit N
        (--width x --height, as `splat render`).

        Output in DIR: heatmaps/<query>/00000.png (the normalised map in a
        colour map over the RGB render), masks/<query>/00000.png (white where
        the map exceeds --threshold), query.json (per view and query: the
        chosen level, the maximum score and its pixel [x, y], the mask's
        pixel count; with the model's names and the options) and
        cameras.json. --json prints query.json on stdout. Query names become
        folder names with every character other than letters, digits, '-'
        and '_' replaced by '_'.
        """)

    @Argument(help: "A language model folder (splat train --method language).")
    var model: String
    @Option(help: ArgumentHelp("Text embeddings, [Q, D] float32 or float16.", valueName: "Q.npy"))
    var text: String
    @Option(help: ArgumentHelp("One name per query, one per line.", valueName: "Q.txt"))
    var names: String
    @Option(help: ArgumentHelp("Canonical phrase embeddings [C, D] for LERF's relevancy (at most 16).", valueName: "C.npy"))
    var canonical: String?
    @Option(name: .customLong("canonical-names"), help: ArgumentHelp("One name per canonical phrase.", valueName: "C.txt"))
    var canonicalNames: String?
    @Option(help: "Query the cameras of this scene folder or transforms.json.")
    var cameras: String?
    @Option(help: "With --cameras: train, test, val or all (default all).")
    var split: String?
    @Option(help: "Query N views on a circle around the model's centre.")
    var orbit: Int?
    @Option(help: "Orbit image width (default 640).")
    var width: Int?
    @Option(help: "Orbit image height (default 480).")
    var height: Int?
    @OptionGroup var imageScale: ImageScaleOptions
    @Option(name: [.short, .long], help: "The output folder.")
    var out: String
    @Option(help: "Mask threshold on the normalised map, in [0, 1].")
    var threshold = 0.5
    @Flag(help: "Print query.json on stdout.")
    var json = false

    func validate() throws {
        guard (cameras == nil) != (orbit == nil) else { throw ValidationError("give exactly one of --cameras SCENE and --orbit N") }
        try OptionCheck.whole("--orbit", orbit, 1...100_000)
        try OptionCheck.whole("--width", width, 1...16384)
        try OptionCheck.whole("--height", height, 1...16384)
        if cameras != nil, width != nil || height != nil {
            throw ValidationError("--width and --height apply to --orbit; --cameras queries at the cameras' size (see --downscale)")
        }
        if let split {
            guard cameras != nil else { throw ValidationError("--split applies to --cameras") }
            try OptionCheck.choice("--split", split, ["train", "test", "val", "all"])
        }
        guard (canonical == nil) == (canonicalNames == nil) else {
            throw ValidationError("give --canonical and --canonical-names together")
        }
        try OptionCheck.number("--threshold", threshold, 0...1)
    }

    /// Rows [R, D] of an embeddings file and their names; every problem names the file.
    static func embeddings(_ path: String, names namesPath: String, dimension D: Int, what: String) throws -> (rows: [Float], names: [String]) {
        let array = try NPY.read(path: path)
        guard array.shape.count == 2, array.shape[0] > 0 else {
            throw DatasetError(path, "\(what) must be a 2-D array [count, \(D)], found shape \(array.shape)")
        }
        guard array.shape[1] == D else {
            throw DatasetError(path, "\(what) have dimension \(array.shape[1]); the model's features have D = \(D) (shape [\(array.shape[0]), \(D)] expected, found \(array.shape))")
        }
        if let bad = array.values.firstIndex(where: { !$0.isFinite }) {
            throw DatasetError(path, "row \(bad / D) holds NaN or infinity")
        }
        for r in 0..<array.shape[0] where array.values[(r * D)..<((r + 1) * D)].allSatisfy({ $0 == 0 }) {
            throw DatasetError(path, "row \(r) is all zeros (no direction to compare with)")
        }
        let text = String(decoding: try RegularFile.read(namesPath, limit: 16 << 20), as: UTF8.self)
        let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard names.count == array.shape[0] else {
            throw DatasetError(namesPath, "\(names.count) names for the \(array.shape[0]) rows of \(path)")
        }
        return (array.values, names)
    }

    /// A name as a folder name.
    static func slug(_ name: String) -> String {
        let mapped = String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
        return mapped.isEmpty ? "query" : mapped
    }

    func run() throws {
        try runReportingErrors {
            let input = try RenderModel.load(model)
            guard let featuresFile = input.languageFeatures else {
                throw DatasetError(model, "\(input.kindDescription), not a language model: train one with `splat train SCENE --method language --init MODEL --features DIR`")
            }
            let geometry = try input.gaussians(for: "splat query")
            let field = try LanguageFeatureFile.read(path: featuresFile).field
            let D = field.shape.dimension
            let queries = try Self.embeddings(text, names: names, dimension: D, what: "the text embeddings")
            var canonicalRows: [Float] = [], canonicalList: [String] = []
            if let canonical, let canonicalNames {
                (canonicalRows, canonicalList) = try Self.embeddings(canonical, names: canonicalNames, dimension: D, what: "the canonical embeddings")
                guard canonicalList.count <= Int(LanguageRenderer.maxCanonical) else {
                    throw DatasetError(canonical, "\(canonicalList.count) canonical phrases; at most \(LanguageRenderer.maxCanonical) are supported")
                }
            }
            let slugs = queries.names.map(Self.slug)
            if Set(slugs).count != slugs.count {
                throw DatasetError(names, "two queries have the same folder name (\(slugs.joined(separator: ", "))); rename one")
            }
            let views: [(camera: RenderCamera, split: Split)]
            if let cameras {
                views = try Render.sceneViews(cameras, input: input, split: split, downscale: imageScale.factor(), command: "splat query")
            } else {
                views = RenderModel.orbit(count: orbit ?? 1, model: input, width: width ?? 640, height: height ?? 480).map { ($0, .test) }
            }
            try OutputFolder.prepare(out)
            let outURL = URL(fileURLWithPath: out)
            for slug in slugs {
                for kind in ["heatmaps", "masks"] {
                    try FileManager.default.createDirectory(at: outURL.appendingPathComponent(kind).appendingPathComponent(slug),
                                                            withIntermediateDirectories: true)
                }
            }

            let device = try ComputeDevice.make()
            let renderer = try LanguageRenderer(device: device, geometry: geometry, field: field)
            try renderer.setQueries(queries.rows, canonical: canonicalRows, source: text)
            let relevancy = !canonicalRows.isEmpty
            let settings = input.settings
            log("splat query: \(queries.names.count) quer\(queries.names.count == 1 ? "y" : "ies") (\(relevancy ? "LERF relevancy against \(canonicalList.count) canonical phrases" : "cosine similarity: no --canonical")) on \(views.count) views of \(input.path), \(field.shape.levels) levels, on \(device.info.displayName)")

            let levelNames = field.levelNames
            var results: [[String: Any]] = []
            var progress = RenderProgress(total: views.count, label: "query", unit: "views")
            let writer = FrameWriter()
            let Q = queries.names.count, levels = field.shape.levels
            for (index, view) in views.enumerated() {
                let camera = RasterCamera(intrinsics: view.camera.intrinsics, pose: view.camera.pose)
                let image = try renderer.rasterizer.render(camera: camera, settings: settings)
                let scores = try renderer.scores(camera: camera, settings: settings, relevancy: relevancy)
                let P = camera.width * camera.height
                guard scores.allSatisfy(\.isFinite) else {
                    throw DatasetError(featuresFile, "view \(view.camera.name): the scores hold NaN or infinity (a damaged features file?)")
                }
                let best = RelevancyMaps.bestLevels(scores: scores, levels: levels, queries: Q, pixels: P, alpha: image.alpha)
                var perQuery: [[String: Any]] = []
                for q in 0..<Q {
                    let base = (best[q].level * Q + q) * P
                    let map = RelevancyMaps.normalised(scores[base..<(base + P)], alpha: image.alpha)
                    var heat = [UInt8](repeating: 0, count: P * 3), mask = [UInt8](repeating: 0, count: P)
                    var covered = 0
                    for p in 0..<P {
                        let rgb = SIMD3(image.color[3 * p], image.color[3 * p + 1], image.color[3 * p + 2])
                        let c = RelevancyMaps.overlay(rgb, map[p])
                        for k in 0..<3 { heat[3 * p + k] = RenderOutput.byte(c[k]) }
                        if Double(map[p]) > threshold { mask[p] = 255; covered += 1 }
                    }
                    perQuery.append(["query": queries.names[q], "level": levelNames[best[q].level], "max_score": Double(best[q].maximum),
                                     "pixel": [best[q].pixel % camera.width, best[q].pixel / camera.width], "mask_pixels": covered])
                    let name = String(format: "%05d.png", index), slug = slugs[q]
                    let (w, h) = (camera.width, camera.height)
                    try writer.submit {
                        try ImageIO.writePNG(Image8(width: w, height: h, channels: 3, pixels: heat),
                                             to: outURL.appendingPathComponent("heatmaps/\(slug)/\(name)").path)
                        try ImageIO.writePNG(Image8(width: w, height: h, channels: 1, pixels: mask),
                                             to: outURL.appendingPathComponent("masks/\(slug)/\(name)").path)
                    }
                }
                results.append(["index": index, "camera": view.camera.name, "width": camera.width, "height": camera.height,
                                "queries": perQuery])
                progress.update(done: index + 1)
            }
            try writer.finish()
            let entries = views.enumerated().map { i, v in
                CameraEntry(id: i, name: v.camera.name, intrinsics: v.camera.intrinsics, pose: v.camera.pose, split: v.split, time: v.camera.time)
            }
            try CamerasJSON.write(entries, to: outURL.appendingPathComponent("cameras.json").path)
            let report: [String: Any] = [
                "model": model, "queries": queries.names, "canonical": canonicalList,
                "score": relevancy ? "lerf-relevancy (temperature 10)" : "cosine",
                "threshold": threshold, "levels": levelNames, "views": results,
            ]
            let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try AtomicFile.write(data, to: outURL.appendingPathComponent("query.json").path)
            if json { FileHandle.standardOutput.write(data + Data("\n".utf8)) }
            progress.finish(message: "splat query: wrote heatmaps and masks of \(Q) quer\(Q == 1 ? "y" : "ies") on \(views.count) views to \(out)")
        }
    }
}
