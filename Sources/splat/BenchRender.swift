import ArgumentParser
import Compute
import Datasets
import Foundation
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
    @Flag(help: "Skip the Swift baseline (it takes minutes at 10M Gaussians); speedup and error are then not measured.")
    var skipBaseline = false
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
    }

    func run() throws {
        try runReportingErrors {
            if let writeModel {
                let scene = SyntheticScene.make(count: count, seed: 1)
                try GaussianPLY.write(scene, to: writeModel)
                log("splat bench render: wrote \(writeModel): \(scene.count) Gaussians (synthetic scene, seed 1)")
                return
            }
            let gaussians: GaussianModel
            let camera: RasterCamera
            var settings = RasterSettings()
            if let model {
                let input = try RenderModel.load(model)
                gaussians = try input.gaussians(for: "splat bench render")
                settings = input.settings
                let view = RenderModel.orbit(count: 1, model: input, width: width, height: height)[0]
                camera = RasterCamera(intrinsics: view.intrinsics, pose: view.pose)
            } else {
                gaussians = SyntheticScene.make(count: count, seed: 1)
                camera = SyntheticScene.defaultCamera(width: width, height: height)
            }

            let device = try ComputeDevice.make()
            log("bench render: \(gaussians.count) Gaussians, \(camera.width)x\(camera.height) on \(device.info.displayName)")
            let rasterizer = try GaussianRasterizer(device: device)
            try rasterizer.setModel(gaussians)

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
                baselineSamples.append(milliseconds { reference = RasterizerReference.renderTiled(gaussians, camera: camera, settings: settings) })
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
}
