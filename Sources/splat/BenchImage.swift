import ArgumentParser
import Compute
import Datasets
import Foundation
import Geometry
import Splatting

struct BenchImage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Render and fit 2D image Gaussians (image2d) on the GPU vs the Swift twin.",
        discussion: """
        --gaussians N random 2D Gaussians over a --width x --height image
        (seed 1: uniform means, Cholesky factors 0.5-3 px, random colours),
        or the Gaussians fitted to --image after --warmup steps. `ms` is the
        median GPU-timestamp time of one frame (prepare, bin, sort, additive
        blend) over --repeat frames after a warm-up; the baseline renders the
        same frame with GaussianImagePlane.renderReference (the CPU twin,
        median of 3 runs, one when over 5 s); `max_abs_error` compares the
        two. `fit_iterations_per_second` times --steps fitting steps (render,
        loss, backward, Adam) of the same Gaussians to the frame (or
        --image) by wall clock.
        """)

    @Option(help: "Image width.")
    var width = 768
    @Option(help: "Image height.")
    var height = 512
    @Option(help: "Number of 2D Gaussians.")
    var gaussians = 70_000
    @Option(help: "Fit to this image (its size replaces --width/--height) instead of the random frame.")
    var image: String?
    @Option(name: .customLong("repeat"), help: "Timed frames; the median is reported.")
    var repeatCount = 20
    @Option(help: "Fitting steps timed.")
    var steps = 50
    @Flag(help: "Skip the Swift twin.")
    var skipBaseline = false
    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    func validate() throws {
        try OptionCheck.whole("--width", width, 1...16384)
        try OptionCheck.whole("--height", height, 1...16384)
        try OptionCheck.whole("--gaussians", gaussians, 1...50_000_000)
        try OptionCheck.whole("--repeat", repeatCount, 1...100_000)
        try OptionCheck.whole("--steps", steps, 1...1_000_000)
    }

    func run() throws {
        try runReportingErrors {
            let target = try image.map { try ImageIO.read(path: $0) }
            let (w, h) = target.map { ($0.width, $0.height) } ?? (width, height)
            var rng = SplitMix64(seed: 1)
            var model = GaussianModel.image2D(count: gaussians)
            if let target {
                model = ImageFitter.initialModel(image: target, count: gaussians, seed: 1)
            } else {
                for i in 0..<gaussians {
                    model.means2D[2 * i] = rng.uniform(0, Float(w))
                    model.means2D[2 * i + 1] = rng.uniform(0, Float(h))
                    model.cholesky[3 * i] = rng.uniform(0.5, 3)
                    model.cholesky[3 * i + 1] = rng.uniform(-1, 1)
                    model.cholesky[3 * i + 2] = rng.uniform(0.5, 3)
                    for k in 0..<3 { model.colors[3 * i + k] = rng.uniform(0, 0.3) }
                }
            }
            let device = try ComputeDevice.make()
            log("bench image: \(gaussians) 2D Gaussians, \(w)x\(h) on \(device.info.displayName)")
            let rasterizer = try GaussianRasterizer(device: device)
            try rasterizer.setModel(model)
            let camera = RasterCamera.imagePlane(width: w, height: h, scale: 1)
            let settings = GaussianImagePlane.settings()
            var frame = try rasterizer.render(camera: camera, settings: settings)
            var times: [Double] = []
            for _ in 0..<repeatCount {
                var wall = 0.0
                wall = try milliseconds { try rasterizer.renderOnDevice(camera: camera, settings: settings) }
                times.append(rasterizer.lastTimings["total"] ?? wall)
            }
            frame = try rasterizer.download(camera: camera)
            let ms = median(times)
            var baseline: [Double] = []
            var twin: [Float] = []
            for _ in 0..<(skipBaseline ? 0 : 3) {
                baseline.append(milliseconds { twin = GaussianImagePlane.renderReference(model, camera: camera) })
                if baseline[0] > 5000 { break }
            }
            let baselineMs = median(baseline)
            let maxError = twin.isEmpty ? 0 : Double(zip(frame.color, twin).map { abs($0 - $1) }.max() ?? 0)
            // Fitting: to --image, else to the random frame itself (rounded to 8 bits).
            let fitTarget = target ?? Image8(width: w, height: h, channels: 3, pixels: frame.color.map { UInt8(max(0, min(255, ($0 * 255).rounded()))) })
            let fitter = try ImageFitter(device: device, image: fitTarget, count: gaussians, model: model)
            try fitter.step()
            let fitSeconds = try milliseconds { for _ in 0..<steps { try fitter.step() } } / 1000
            let result: [String: Any] = [
                "benchmark": "image",
                "device": device.info.displayName,
                "gaussians": gaussians,
                "width": w,
                "height": h,
                "image": image ?? "random",
                "ms": round3(ms),
                "fps": round3(ms > 0 ? 1000 / ms : 0),
                "stages_ms": rasterizer.lastTimings.mapValues(round3),
                "baseline": skipBaseline ? "none (--skip-baseline)" : "swift-twin (GaussianImagePlane.renderReference)",
                "baseline_ms": round3(baselineMs),
                "speedup": round3(ms > 0 && baselineMs > 0 ? baselineMs / ms : 0),
                "max_abs_error": maxError,
                "verified": skipBaseline || maxError <= 1e-3,
                "fit_steps": steps,
                "fit_iterations_per_second": round3(Double(steps) / max(fitSeconds, 1e-9)),
                "repeat": repeatCount,
            ]
            try report(result, json: json, text: "2D render of \(gaussians) Gaussians at \(w)x\(h): \(round3(ms)) ms (\(round3(ms > 0 ? 1000 / ms : 0)) FPS); Swift twin \(round3(baselineMs)) ms (speedup \(round3(ms > 0 && baselineMs > 0 ? baselineMs / ms : 0))x, max abs error \(maxError)); fitting \(round3(Double(steps) / max(fitSeconds, 1e-9))) it/s")
        }
    }
}
