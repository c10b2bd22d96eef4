import ArgumentParser
import Compute
import Datasets
import Foundation
import Models
import Splatting

/// How `splat upscale` and `splat eval-sr --method splat` fit each image.
struct UpscaleOptions: ParsableArguments {
    @Option(help: "2D Gaussians per image (default: half the output's pixel count).")
    var gaussians: Int?
    @Option(help: "Optimisation steps per image (half on the bicubic start, half through the degradation).")
    var iterations = 1500
    @Option(help: "Stop each image's fit after this many seconds.")
    var maxSeconds: Double?

    func validate() throws {
        try OptionCheck.whole("--gaussians", gaussians, 1...50_000_000)
        // Parameters, gradients, Adam moments and the rasterizer's per-Gaussian buffers: ~300 bytes each.
        if let gaussians { try HostMemory.check("--gaussians", count: gaussians, bytesPerItem: 300) }
        try OptionCheck.whole("--iterations", iterations, 1...10_000_000)
        try OptionCheck.number("--max-seconds", maxSeconds, 0...1e9, aboveLowerBound: true)
    }
}

struct Upscale: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Super-resolve an image by fitting 2D Gaussians through the bicubic degradation, then rendering them larger.",
        discussion: """
        GSASR (Chen et al. 2025) renders 2D Gaussians at the target scale;
        its encoder's weights cannot be had offline, so splat finds the
        Gaussians by fitting (docs/image2d.md): --gaussians N 2D Gaussians
        (default: half the output's pixel count) are first fitted to Pillow's
        bicubic upscale at the output size (half the --iterations), then
        fine-tuned so that their render at round(S x) the input's size,
        reduced by Pillow's antialiased bicubic (the degradation that made
        the usual LR test sets, modelled exactly, not as a box), matches the
        input (L1 and D-SSIM); the result is their render at S times the
        size. S is any real >= 1; --max-seconds bounds both phases.
        Grey inputs come out RGB; RGBA inputs are fitted premultiplied over
        black. Writes OUT (PNG) to a temporary name first.
        """)

    @Argument(help: "The low-resolution image (PNG or JPEG).")
    var image: String
    @Option(help: "The upscaling factor S (any real >= 1).")
    var scale: Double
    @Option(name: [.short, .long], help: "The super-resolved PNG to write.")
    var out: String
    @OptionGroup var fitting: UpscaleOptions
    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    func validate() throws {
        guard scale.isFinite, scale >= 1, scale <= 64 else { throw ValidationError("--scale must be a finite number in 1...64, got \(scale)") }
    }

    /// The super-resolved image of `input` at `scale` (shared with eval-sr).
    static func upscale(_ input: Image8, scale: Double, gaussians: Int?, iterations: Int, maxSeconds: Double?, seed: UInt64,
                        device: ComputeDevice, progress: ((Int) -> Void)? = nil) throws -> (image: Image8, iterations: Int) {
        var settings = ImageFitter.Settings()
        settings.seed = seed
        let (W, H) = (Int((Double(input.width) * scale).rounded()), Int((Double(input.height) * scale).rounded()))
        let count = gaussians ?? max(1, W * H / 2)
        let start = Date()
        let warmSteps = iterations / 2
        func expired() -> Bool { maxSeconds.map { Date().timeIntervalSince(start) > $0 } ?? false }
        // First the bicubic upscale itself, fitted at the target size: a
        // smooth start (fitting through the degradation alone leaves the
        // frequencies it removes free, and they come out as noise).
        let bicubic = BicubicResize.resize(input, width: W, height: H)
        let warm = try ImageFitter(device: device, image: bicubic, count: count, settings: settings)
        for k in 0..<warmSteps where !expired() {
            try warm.step()
            if (k + 1) % 50 == 0 { progress?(k + 1) }
        }
        // Then the same Gaussians, in input pixels, through the degradation.
        var model = try warm.model()
        let inverse = Float(1 / scale)
        model.means2D = model.means2D.map { $0 * inverse }
        model.cholesky = model.cholesky.map { $0 * inverse }
        // At a thirtieth of the fitting rates: larger steps re-introduce the
        // noise the warm start avoided (butterfly x4: 22.14 dB bicubic, 23.07
        // at 1/30, 23.04 at 1/10, 20.5 at the full rates).
        var fine = settings
        let factor: Float = 1.0 / 30
        fine.meanLR *= factor
        fine.choleskyLR *= factor
        fine.colorLR *= factor
        let fitter = try ImageFitter(device: device, image: input, count: count, settings: fine, model: model, upscale: scale)
        for k in warm.iteration..<iterations where !expired() {
            try fitter.step()
            if (k + 1) % 50 == 0 { progress?(k + 1) }
        }
        return (RenderOutput.rgb(try fitter.render(scale: scale)), warm.iteration + fitter.iteration)
    }

    func run() throws {
        try runReportingErrors {
            let input = try ImageIO.read(path: image)
            let device = try ComputeDevice.make()
            log("splat upscale: \(image) (\(input.width)x\(input.height)) x\(scale) on \(device.info.displayName)")
            var progress = RenderProgress(total: fitting.iterations, label: "upscale", unit: "iterations")
            let result = try Self.upscale(input, scale: scale, gaussians: fitting.gaussians, iterations: fitting.iterations, maxSeconds: fitting.maxSeconds,
                                          seed: seed, device: device) { progress.update(done: $0) }
            try ImageIO.writePNG(result.image, to: out)
            progress.finish(message: String(format: "splat upscale: wrote %@ (%dx%d) after %d iterations",
                                            out, result.image.width, result.image.height, result.iterations))
        }
    }
}
