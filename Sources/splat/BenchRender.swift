import ArgumentParser
import Compute
import Datasets
import Foundation
import Geometry
import Language
import Models
import Splatting

struct BenchRender: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render",
        abstract: "Rasterize one frame on the GPU vs the Swift tiled reference rasterizer in the same process.",
        discussion: """
        Without --model: SyntheticScene.make(count: N, seed: 1) seen from
        SyntheticScene.defaultCamera(width:height:); with --model (.ply, .splat
        or a training output folder): the first frame of `splat render --orbit`
        at --width x --height. `ms` is the median GPU-timestamp time of the
        frame (prepare, bin, sort, blend; upload of the model and download of
        the image excluded) over --repeat frames after one warm-up frame;
        `stages_ms` the median of each stage. The baseline renders the same
        frame with RasterizerReference.renderTiled (median of 3 runs, or a
        single run when it takes over 5 s). `gaussians_per_pixel` is the mean
        number of Gaussians blended into a pixel (the frame's contributors);
        `tile_gaussians_per_pixel` = intersections x 256 / (width x height),
        the Gaussians the blend stage visits per pixel (partial edge tiles
        counted whole); `tiles_per_gaussian` = intersections / gaussians
        (all Gaussians, visible or not). `max_abs_error` is the largest
        difference of a colour value between the two, and the result is
        verified when it is at most \(BenchRender.tolerance).

        With --channels C or --sparse K/L the frame blends a random payload of
        C dense channels (or K (channel, weight) pairs per Gaussian over L
        channels) instead of the model's RGB, and the baseline is the RGB
        (C = 3) render of the same model, camera and blend mode, timed alternately in the
        same process: `ratio` = ms / baseline_ms. --blend picks the blend
        mode (alpha compositing or additive).

        A language model (--model of `splat train --method language`, or
        --kind language: a random field of LangSplatV2's shape on the
        synthetic scene) times three things of the same camera, alternately:
        the RGB frame (`baseline_ms`), the weight map of its sparse features
        (`feature_ms`, the feature rendering) and one query (`query_ms`: LERF
        relevancy of one text row against four canonical rows on every level,
        from the weight map; `feature_and_query_ms` both), with ratios to the
        RGB frame; the relevancy is checked against the Swift twins.
        """)

    /// The largest colour difference (values in 0...1) between the GPU frame
    /// and the Swift reference that still counts as the same image.
    static let tolerance = 0.02

    @Option(help: "Render this model (.ply, .splat or a training output folder) instead of the synthetic scene.")
    var model: String?
    @Option(help: "Gaussians of the synthetic scene.")
    var count = 100_000
    @Option(help: "Image width.")
    var width = 1280
    @Option(help: "Image height.")
    var height = 720
    @Option(name: .customLong("repeat"), help: "Timed frames; the median is reported.")
    var repeatCount = 10
    @Option(help: "Payload channels to blend (a random payload; 3 without --channels is the model's RGB).")
    var channels: Int?
    @Option(help: ArgumentHelp("A sparse payload of K (channel, weight) pairs per Gaussian over L channels.", valueName: "K/L"))
    var sparse: String?
    @Option(help: "Blend mode: alpha (front-to-back compositing) or additive.")
    var blend = "alpha"
    @Flag(help: "Skip the Swift baseline (it takes minutes at 10M Gaussians); speedup and error are then not measured.")
    var skipBaseline = false
    @Option(help: "4D models (and --kind gaussians4d): render at this time, in [0, 1] (default 0.5); the baseline renders the slice at that time.")
    var time: Double?

    @Option(help: "The synthetic scene's kind: gaussians, gaussians4d (the same Gaussians with random times, time deviation 0.1) or language (a random language field: 3 levels, L 64, K 4, D 512).")
    var kind = "gaussians"

    @Flag(help: "Print one JSON object on stdout.")
    var json = false
    @Option(name: .customLong("write-model"),
            help: ArgumentHelp("Write the synthetic scene of --count Gaussians to this .ply and exit.", visibility: .hidden))
    var writeModel: String?

    func validate() throws {
        try OptionCheck.whole("--count", count, 0...100_000_000)
        // The synthetic Gaussians, their device copy and the Swift baseline's projections: ~1 KB each.
        try HostMemory.check("--count", count: count, bytesPerItem: 1024)
        try OptionCheck.whole("--width", width, 1...16384)
        try OptionCheck.whole("--height", height, 1...16384)
        try OptionCheck.whole("--repeat", repeatCount, 1...100_000)
        if writeModel != nil, model != nil { throw ValidationError("--write-model writes the synthetic scene; leave out --model") }
        if let channels { try OptionCheck.whole("--channels", channels, 1...4096) }
        try OptionCheck.choice("--blend", blend, ["alpha", "additive"])
        if let sparse {
            guard sparseLayout != nil else {
                throw ValidationError("--sparse must be K/L with 1 <= K <= min(L, 32) and L <= 4096, got '\(sparse)'")
            }
            if channels != nil { throw ValidationError("--sparse K/L sets the channels (L); leave out --channels") }
        }
    }

    /// The --sparse layout, when valid.
    var sparseLayout: PayloadLayout? {
        guard let sparse else { return nil }
        let parts = sparse.split(separator: "/").map { Int($0) }
        guard parts.count == 2, let k = parts[0], let l = parts[1], k >= 1, k <= min(l, 32), l <= 4096 else { return nil }
        return PayloadLayout(channels: l, sparsePairs: k)
    }

    /// The payload layout to benchmark; nil: the model's RGB, against the Swift reference.
    var payloadLayout: PayloadLayout? {
        if let sparseLayout { return sparseLayout }
        if let channels { return PayloadLayout(channels: channels) }
        return blend == "additive" ? .rgb : nil
    }

    func run() throws {
        try runReportingErrors {
            if let writeModel {
                let scene = SyntheticScene.make(count: count, seed: 1)
                try GaussianPLY.write(scene, to: writeModel)
                log("splat bench render: wrote \(writeModel): \(scene.count) Gaussians (synthetic scene, seed 1)")
                return
            }
            var gaussians: GaussianModel
            let camera: RasterCamera
            var settings = RasterSettings()
            var languageField: LanguageFeatureField?
            try OptionCheck.choice("--kind", kind, ["gaussians", "gaussians4d", "language"])
            try OptionCheck.number("--time", time, 0...1)
            if let model {
                let input = try RenderModel.load(model)
                gaussians = try input.gaussians(for: "splat bench render")
                settings = input.settings
                if let file = input.languageFeatures { languageField = try LanguageFeatureFile.read(path: file).field }
                let view = RenderModel.orbit(count: 1, model: input, width: width, height: height)[0]
                camera = RasterCamera(intrinsics: view.intrinsics, pose: view.pose)
            } else {
                gaussians = SyntheticScene.make(count: count, seed: 1)
                if kind == "gaussians4d" {
                    gaussians = GaussianInitialization.addingTime(to: gaussians, times: 0...1, config: GaussianTrainingConfig.dynamic)
                }
                camera = SyntheticScene.defaultCamera(width: width, height: height)
                if kind == "language" { languageField = Self.syntheticLanguageField(gaussians: gaussians.count) }
            }
            if languageField != nil, payloadLayout != nil || time != nil {
                throw ValidationError("a language model's benchmark times its own payload: leave out --channels, --sparse, --blend additive and --time")
            }
            if time != nil && !gaussians.hasTime { throw DatasetError(model ?? "synthetic", "a 3D Gaussian model has no time; --time is for 4D models") }
            settings.time = Float(time ?? 0.5)
            // The baseline renders what a 4D model shows at that time: its slice (GaussianSlice, the 4D front end's twin).
            let baselineModel = gaussians.hasTime ? GaussianSlice.sliceModel(gaussians, time: Double(settings.time)) : gaussians

            let device = try ComputeDevice.make()
            log("bench render: \(gaussians.count) Gaussians, \(camera.width)x\(camera.height) on \(device.info.displayName)")
            if let languageField {
                try benchLanguage(field: languageField, geometry: gaussians, device: device, camera: camera, settings: settings)
                return
            }
            let rasterizer = try GaussianRasterizer(device: device)
            try rasterizer.setModel(gaussians)
            if let layout = payloadLayout {
                try benchPayload(layout, rasterizer: rasterizer, device: device, gaussians: gaussians.count, camera: camera, settings: settings)
                return
            }

            // One warm-up frame, then --repeat timed ones (GPU timestamps).
            var image = try rasterizer.render(camera: camera, settings: settings)
            var totals: [Double] = []
            var stages: [String: [Double]] = [:]
            for _ in 0..<repeatCount {
                var wall = 0.0
                wall = try milliseconds { image = try rasterizer.render(camera: camera, settings: settings) }
                let timings = rasterizer.lastTimings
                totals.append(timings["total"] ?? wall)  // no timestamps on this queue: wall clock
                for (stage, ms) in timings where stage != "total" { stages[stage, default: []].append(ms) }
            }
            let ms = median(totals)
            let intersections = rasterizer.lastIntersections

            // Baseline: the Swift tiled reference on the same frame.
            var reference = image
            var baselineSamples: [Double] = []
            for _ in 0..<(skipBaseline ? 0 : 3) {
                baselineSamples.append(milliseconds { reference = RasterizerReference.renderTiled(baselineModel, camera: camera, settings: settings) })
                if baselineSamples[0] > 5000 { break }
            }
            let baselineMs = median(baselineSamples)
            var maxError: Float = 0
            if skipBaseline {
                maxError = 0  // not checked: --skip-baseline
            } else if reference.color.count == image.color.count {
                for (a, b) in zip(image.color, reference.color) { maxError = max(maxError, abs(a - b)) }
            } else {
                maxError = .infinity
            }
            let pixels = max(1, image.width * image.height)
            let contributors = image.contributors.reduce(0) { $0 + Int($1) }
            let verified = Double(maxError) <= Self.tolerance

            let result: [String: Any] = [
                "benchmark": "render",
                "device": device.info.displayName,
                "model": model ?? "synthetic",
                "gaussians": gaussians.count,
                "kind": gaussians.kind,
                "time": gaussians.hasTime ? Double(settings.time) : NSNull(),
                "width": camera.width,
                "height": camera.height,
                "ms": round3(ms),
                "fps": round3(ms > 0 ? 1000 / ms : 0),
                "stages_ms": stages.mapValues { round3(median($0)) },
                "intersections": intersections,
                "tiles_per_gaussian": round3(Double(intersections) / Double(max(1, gaussians.count))),
                "gaussians_per_pixel": round3(Double(contributors) / Double(pixels)),
                "tile_gaussians_per_pixel": round3(Double(intersections * rasterTileSize * rasterTileSize) / Double(pixels)),
                "baseline": skipBaseline ? "none (--skip-baseline: not compared)" : "swift-tiled-reference",
                "baseline_ms": round3(baselineMs),
                "baseline_runs": baselineSamples.count,
                "speedup": round3(ms > 0 ? baselineMs / ms : 0),
                "max_abs_error": maxError.isFinite ? Double(maxError) : -1,
                "tolerance": Self.tolerance,
                "repeat": repeatCount,
                "verified": verified,
            ]
            try report(result, json: json,
                       text: "render \(gaussians.count) Gaussians at \(camera.width)x\(camera.height): \(round3(ms)) ms (\(round3(ms > 0 ? 1000 / ms : 0)) frames/s), \(intersections) tile intersections; swift tiled reference \(round3(baselineMs)) ms; speedup \(round3(ms > 0 ? baselineMs / ms : 0))x; max abs error \(maxError)")
        }
    }

    /// Times a frame blending a random `layout` payload against the RGB
    /// render of the same model and camera, alternately.
    func benchPayload(_ layout: PayloadLayout, rasterizer: GaussianRasterizer, device: ComputeDevice, gaussians n: Int,
                      camera: RasterCamera, settings: RasterSettings) throws {
        var rng = SplitMix64(seed: 7)
        var floats = [Float](repeating: 0, count: max(1, n * layout.stride))
        for i in 0..<n {
            if layout.sparsePairs > 0 {
                for q in 0..<layout.sparsePairs {
                    // K distinct channels: a random start and stride through the L channels.
                    let channel = (Int(rng.next() % UInt64(layout.channels)) + q * max(1, layout.channels / layout.sparsePairs)) % layout.channels
                    floats[i * layout.stride + 2 * q] = Float(bitPattern: UInt32(channel))
                    floats[i * layout.stride + 2 * q + 1] = rng.uniform()
                }
            } else {
                for c in 0..<layout.channels { floats[i * layout.stride + c] = rng.uniform() }
            }
        }
        let payload = RasterPayload(layout: layout, buffer: try GPUBuffer(device: device, floats, label: "bench payload"))
        var payloadSettings = settings
        payloadSettings.blendMode = blend == "additive" ? .additive : .alpha
        payloadSettings.channelBackgroundValues = [Float](repeating: 0, count: layout.channels)
        // The baseline: the model's RGB in the same blend mode.
        var rgbSettings = settings
        rgbSettings.blendMode = payloadSettings.blendMode
        func frame(_ withPayload: Bool) throws -> Double {
            var wall = 0.0
            wall = try milliseconds {
                if withPayload {
                    try rasterizer.renderOnDevice(camera: camera, settings: payloadSettings, payload: payload)
                } else {
                    try rasterizer.renderOnDevice(camera: camera, settings: rgbSettings)
                }
            }
            return rasterizer.lastTimings["total"] ?? wall
        }
        _ = try frame(true)
        _ = try frame(false)
        var payloadMs: [Double] = [], rgbMs: [Double] = [], blendMs: [Double] = [], rgbBlendMs: [Double] = []
        for _ in 0..<repeatCount {
            rgbMs.append(try frame(false))
            rgbBlendMs.append(rasterizer.lastTimings["blend"] ?? 0)
            payloadMs.append(try frame(true))
            blendMs.append(rasterizer.lastTimings["blend"] ?? 0)
        }
        let image = try rasterizer.download(camera: camera)
        let finite = image.color.allSatisfy(\.isFinite)
        let ms = median(payloadMs), baseline = median(rgbMs)
        let result: [String: Any] = [
            "benchmark": "render",
            "device": device.info.displayName,
            "model": model ?? "synthetic",
            "gaussians": n,
            "width": camera.width,
            "height": camera.height,
            "channels": layout.channels,
            "sparse_pairs": layout.sparsePairs,
            "blend": blend,
            "ms": round3(ms),
            "blend_ms": round3(median(blendMs)),
            "baseline": "rgb-render-same-model-and-camera",
            "baseline_ms": round3(baseline),
            "baseline_blend_ms": round3(median(rgbBlendMs)),
            "ratio": round3(baseline > 0 ? ms / baseline : 0),
            "repeat": repeatCount,
            "verified": finite,
        ]
        let what = layout.sparsePairs > 0 ? "\(layout.sparsePairs) of \(layout.channels) sparse channels" : "\(layout.channels) channels"
        try report(result, json: json,
                   text: "render \(n) Gaussians at \(camera.width)x\(camera.height) with \(what) (\(blend)): \(round3(ms)) ms vs RGB \(round3(baseline)) ms: \(round3(baseline > 0 ? ms / baseline : 0))x")
    }
}
