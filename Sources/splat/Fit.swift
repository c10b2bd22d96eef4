import ArgumentParser
import Compute
import Datasets
import Foundation
import Models
import Splatting
import Training

struct Fit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit 2D Gaussians to an image (GaussianImage), to render it at any scale.",
        discussion: """
        Fits --gaussians N 2D Gaussians (mean, Cholesky factor of the
        covariance, RGB colour; kind image2d, docs/image2d.md) to IMAGE with
        Adam on the 3DGS loss (L1 and D-SSIM, lambda 0.2), rendering them
        additively at the image's size, for --iterations steps or until
        --max-seconds. Grey images are fitted as RGB; an RGBA image as its
        colour premultiplied by alpha (over black, the additive model's
        background); 16-bit images are read as 8-bit.

        Writes OUT/model.ply (x, y, chol_0..2, red, green, blue, opacity per
        Gaussian), OUT/model.json (kind image2d and the image's size), OUT/
        render.png (the fit at scale 1) and OUT/metrics.json (PSNR, SSIM,
        iterations, seconds), each to a temporary name first. Ctrl-C stops
        after the current step and writes them. `splat render OUT --scale S`
        renders the model at any scale.
        """)

    @Argument(help: "The image to fit (PNG or JPEG).")
    var image: String
    @Option(help: "Number of 2D Gaussians.")
    var gaussians = 10_000
    @Option(name: [.customShort("n"), .long], help: "Optimisation steps (default 5000).")
    var iterations = 5000
    @Option(help: "Stop after this many seconds.")
    var maxSeconds: Double?
    @Option(help: "Random seed.")
    var seed: UInt64 = 0
    @Option(name: [.short, .long], help: "Output folder.")
    var out: String
    @Flag(help: "Print metrics.json on stdout.")
    var json = false
    @Option(help: "Write TensorBoard training curves (loss, PSNR, SSIM, iterations per second) to an events.out.tfevents file in this folder.")
    var logDir: String?

    func validate() throws {
        try OptionCheck.whole("--gaussians", gaussians, 1...50_000_000)
        // Parameters, gradients, Adam moments and the rasterizer's per-Gaussian buffers: ~300 bytes each.
        try HostMemory.check("--gaussians", count: gaussians, bytesPerItem: 300)
        try OptionCheck.whole("--iterations", iterations, 1...10_000_000)
        try OptionCheck.number("--max-seconds", maxSeconds, 0...1e9, aboveLowerBound: true)
    }

    func run() throws {
        try runReportingErrors {
            let target = try ImageIO.read(path: image)
            try OutputFolder.prepare(out)
            let device = try ComputeDevice.make()
            var settings = ImageFitter.Settings()
            settings.seed = seed
            let fitter = try ImageFitter(device: device, image: target, count: gaussians, settings: settings)
            let board = try logDir.map { try TensorBoardWriter(folder: $0) }
            log("splat fit: \(gaussians) 2D Gaussians to \(image) (\(target.width)x\(target.height)) on \(device.info.displayName)")
            let interrupt = InterruptFlag()
            let start = Date()
            var progress = RenderProgress(total: iterations, label: "fit", unit: "iterations")
            var stopReason: String?
            var lastLoss: Float = 0
            for k in 1...iterations {
                let read = k % 50 == 0 || k == iterations || (board != nil && k % 10 == 0)
                if let value = try fitter.step(readLoss: read) { lastLoss = value }
                if let board, read {
                    try board.scalars([("train/loss", Double(lastLoss)),
                                       ("train/iterations_per_second", Double(k) / max(Date().timeIntervalSince(start), 1e-9))], step: k)
                }
                if read { progress.update(done: k) }
                progress.done = k
                if let maxSeconds, Date().timeIntervalSince(start) > maxSeconds { stopReason = "--max-seconds \(maxSeconds)"; break }
                if interrupt.isSet { stopReason = "interrupted"; break }
            }
            let seconds = Date().timeIntervalSince(start)
            let rendered = try fitter.render()
            let rgb = RenderOutput.rgb(rendered)
            let reference = Image8(width: target.width, height: target.height, channels: 3,
                                   pixels: ImageFitter.premultipliedRGB(target))
            let psnr = ImageMetrics.psnr(rendered: rendered.color, target: reference.pixels)
            let ssim = SuperResolutionMetrics.ssimRGB(rgb, reference)
            let model = try fitter.model()
            try GaussianPLY.write(model, to: out + "/model.ply")
            try ImageIO.writePNG(rgb, to: out + "/render.png")
            try writeJSON(["kind": "image2d", "format_version": 1, "model": "model.ply", "width": target.width, "height": target.height,
                           "gaussians": model.count, "image": image], to: out + "/model.json")
            let metrics: [String: Any] = ["psnr": psnr, "ssim": ssim, "iterations": fitter.iteration, "seconds": seconds,
                                          "iterations_per_second": Double(fitter.iteration) / max(seconds, 1e-9),
                                          "final_loss": Double(lastLoss), "gaussians": model.count, "device": device.info.displayName,
                                          "stopped_by": stopReason ?? "iterations"]
            try writeJSON(metrics, to: out + "/metrics.json")
            try board?.scalars([("test/psnr", psnr), ("test/ssim", ssim), ("gaussians/count", Double(model.count))], step: fitter.iteration)
            try board?.close()
            progress.finish(message: String(format: "splat fit: PSNR %.2f dB, SSIM %.4f after %d iterations in %.1f s; wrote %@",
                                            psnr, ssim, fitter.iteration, seconds, out))
            if json { try printJSON(metrics) }
            if interrupt.isSet { throw ExitCode(130) }
        }
    }
}
