import ArgumentParser
import Compute
import Datasets
import Foundation
import Geometry
import Splatting
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train 3D Gaussians from posed photos (COLMAP or transforms.json).",
        discussion: """
        The 3DGS recipe on the GPU: each iteration renders one training view,
        computes (1 - lambda) L1 + lambda (1 - SSIM), back-propagates through the
        rasterizer and steps Adam with the original learning rates (position lr
        decaying 1.6e-4 -> 1.6e-6, times the scene extent). Gaussians start from
        the scene's points (COLMAP), else from random points in a box around
        where the cameras look. With --eval, every 8th image (by name) is held
        out unless the scene has its own test split, and test PSNR/SSIM are
        reported at the end.

        Output (--out, default output/<scene>): point_cloud.ply (3DGS layout),
        cameras.json, model.json, config.json, metrics.json; each written to a
        temporary name and renamed.

        Not yet: densification (clone/split/prune), checkpoints and --resume,
        random backgrounds; the Gaussian count stays at its initial value.
        """)

    @Argument(help: "The scene folder or transforms.json.")
    var scene: String
    @Option(help: "Output folder.")
    var out: String?
    @Option(help: "Training iterations.")
    var iterations = 7000
    @Option(help: "Downscale images by this integer factor.")
    var downscale = 1
    @Flag(help: "Hold out test images (every 8th by name without a test split) and report test metrics.")
    var eval = false
    @Option(help: "Stop after this many seconds (the model so far is saved).")
    var maxSeconds: Double?
    @Option(help: "Random seed.")
    var seed: UInt64 = 0
    @Option(help: "Background: white or black (default: white for images with alpha, else black).")
    var background: String?
    @Option(help: "Random initial points when the scene has none.")
    var randomPoints = 100_000
    @Option(help: "Initial position learning rate (times the scene extent).")
    var positionLR = 1.6e-4
    @Option(help: "Final position learning rate (times the scene extent).")
    var positionLRFinal = 1.6e-6
    @Option(help: "SH DC learning rate (rest: / 20).")
    var featureLR = 2.5e-3
    @Option(help: "Opacity learning rate.")
    var opacityLR = 0.025
    @Option(help: "Scale learning rate.")
    var scalingLR = 5e-3
    @Option(help: "Rotation learning rate.")
    var rotationLR = 1e-3
    @Option(help: "D-SSIM weight lambda.")
    var lambdaDSSIM = 0.2
    @Option(help: "Maximum SH degree (one more every 1000 iterations).")
    var shDegree = 3

    func validate() throws {
        guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1") }
        guard downscale >= 1 else { throw ValidationError("--downscale must be an integer >= 1") }
        guard (0...3).contains(shDegree) else { throw ValidationError("--sh-degree must be within 0...3") }
        if let background, !["white", "black"].contains(background) {
            throw ValidationError("--background must be white or black (random backgrounds are not supported yet)")
        }
    }

    func run() throws {
        try runReportingErrors {
            let loaded = try SceneLoader.load(scene, options: SceneOptions(eval: eval))
            let outDir = out ?? "output/" + ((loaded.root as NSString).standardizingPath as NSString).lastPathComponent
            try checkWritable(outDir)
            log("splat train: \(loaded.frames.count) images (\(loaded.trainFrames.count) train, \(loaded.testFrames.count) test); split: \(loaded.splitSource.isEmpty ? "scene files" : loaded.splitSource)")
            let (frames, _) = try SceneImages.load(loaded.frames, root: loaded.root, downscale: downscale)
            let train = frames.filter { $0.frame.split == .train }, test = frames.filter { $0.frame.split == .test }
            if train.isEmpty { throw DatasetError(scene, "no training images left after the split") }
            let hasAlpha = frames.contains { $0.image.hasAlpha }
            let white = (background ?? (hasAlpha ? "white" : "black")) == "white"
            let bg = white ? SIMD3<Float>(1, 1, 1) : SIMD3<Float>(0, 0, 0)

            var config = GaussianTrainingConfig()
            config.iterations = iterations
            config.seed = seed
            config.randomPoints = randomPoints
            config.positionLR = positionLR
            config.positionLRFinal = positionLRFinal
            config.featureLR = featureLR
            config.opacityLR = opacityLR
            config.scalingLR = scalingLR
            config.rotationLR = rotationLR
            config.lambdaDSSIM = lambdaDSSIM
            config.maxSHDegree = shDegree
            let initial = GaussianInitialization.forScene(points: loaded.points, poses: train.map(\.frame.pose), config: config)
            let device = try ComputeDevice.make()
            log("splat train: \(initial.count) initial Gaussians on \(device.info.displayName)")
            let trainer = try GaussianTrainer(device: device, frames: train, initial: initial,
                                              extent: loaded.normalization.extent, background: bg, config: config)
            let start = Date()
            var lastReport = Date.distantPast
            var lastLoss: Float = 0
            let terminal = isatty(2) != 0
            for k in 1...iterations {
                let v = try trainer.step()
                lastLoss = v.loss
                let elapsed = Date().timeIntervalSince(start)
                if Date().timeIntervalSince(lastReport) > (terminal ? 0.2 : 5) || k == iterations {
                    lastReport = Date()
                    let rate = Double(k) / max(elapsed, 1e-9)
                    let line = String(format: "iteration %d/%d  %.1f it/s  loss %.4f  %d Gaussians  ETA %.0f s",
                                      k, iterations, rate, v.loss, initial.count, Double(iterations - k) / max(rate, 1e-9))
                    FileHandle.standardError.write(Data((terminal ? "\r" + line : line + "\n").utf8))
                }
                if let maxSeconds, elapsed > maxSeconds {
                    log("\nsplat train: stopping after \(k) iterations (--max-seconds \(maxSeconds))")
                    break
                }
            }
            if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
            let seconds = Date().timeIntervalSince(start)
            let model = try trainer.rasterizer.currentModel()

            var metrics: [String: Any] = ["iterations": trainer.iteration, "seconds": seconds, "final_loss": Double(lastLoss),
                                          "gaussians": model.count]
            if !test.isEmpty {
                let (psnr, ssim, perImage) = try Evaluate.metrics(rasterizer: trainer.rasterizer, frames: test, background: bg)
                metrics["test_psnr"] = psnr
                metrics["test_ssim"] = ssim
                metrics["test_images"] = perImage.count
                log(String(format: "splat train: test PSNR %.2f dB, SSIM %.4f over %d images", psnr, ssim, perImage.count))
            }
            try GaussianPLY.write(model, to: outDir + "/point_cloud.ply")
            try CamerasJSON.write(CamerasJSON.entries(frames), to: outDir + "/cameras.json")
            let center = loaded.normalization.center
            try writeJSON(["kind": "gaussians", "format_version": 1, "sh_degree": model.shDegree, "antialias": "classic",
                           "background": [bg.x, bg.y, bg.z].map(Double.init), "scene_center": [center.x, center.y, center.z],
                           "scene_extent": loaded.normalization.extent, "split": loaded.splitSource], to: outDir + "/model.json")
            let configJSON = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config))
            try writeJSON(["training": configJSON, "scene": loaded.root, "downscale": downscale, "eval": eval], to: outDir + "/config.json")
            try writeJSON(metrics, to: outDir + "/metrics.json")
            log("splat train: \(trainer.iteration) iterations in \(String(format: "%.1f", seconds)) s; wrote \(outDir)")
        }
    }
}

func checkWritable(_ folder: String) throws {
    do {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let probe = folder + "/.splat-write-test"
        guard FileManager.default.createFile(atPath: probe, contents: Data("ok".utf8)) else {
            throw DatasetError(folder, "the output folder is not writable")
        }
        try? FileManager.default.removeItem(atPath: probe)
    } catch let error as DatasetError {
        throw error
    } catch {
        throw DatasetError(folder, "cannot create the output folder: \(error.localizedDescription)")
    }
}

func writeJSON(_ object: Any, to path: String) throws {
    try AtomicFile.write(try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), to: path)
}

/// Test-set metrics: PSNR (renders clamped to [0, 1]) and SSIM (GPU, 11x11
/// Gaussian window), means over images.
enum Evaluate {
    static func metrics(rasterizer: GaussianRasterizer, frames: [LoadedFrame], background: SIMD3<Float>) throws
        -> (psnr: Double, ssim: Double, perImage: [(name: String, psnr: Double, ssim: Double)]) {
        let loss = try ImageLoss(device: rasterizer.device)
        var results: [(String, Double, Double)] = []
        for f in frames {
            let camera = RasterCamera(intrinsics: f.intrinsics, pose: f.frame.pose)
            let image = try rasterizer.render(camera: camera, settings: RasterSettings(background: background))
            let bg = SIMD3<Double>(Double(background.x), Double(background.y), Double(background.z))
            let target = GaussianTrainer.composite(f.image, over: bg)
            let psnr = ImageMetrics.psnr(rendered: image.color, target: target.pixels)
            // SSIM on the GPU through the loss's SSIM map.
            var packed = [UInt32](repeating: 0, count: image.width * image.height)
            for p in packed.indices {
                packed[p] = UInt32(target.pixels[3 * p]) | UInt32(target.pixels[3 * p + 1]) << 8 | UInt32(target.pixels[3 * p + 2]) << 16
            }
            var clamped = [Float](repeating: 1, count: image.width * image.height * 4)
            for p in 0..<(image.width * image.height) {
                for c in 0..<3 { clamped[4 * p + c] = min(1, max(0, image.color[3 * p + c])) }
            }
            let device = rasterizer.device
            let r = try GPUBuffer(device: device, clamped), t = try GPUBuffer(device: device, packed)
            let g = try GPUBuffer(device: device, length: image.width * image.height * 12)
            let stream = try CommandStream(device: device)
            try loss.record(stream, rendered: r, target: t, gradient: g, width: image.width, height: image.height)
            try stream.run()
            results.append((f.frame.name, psnr, Double(try loss.values().ssim)))
        }
        let n = Double(max(results.count, 1))
        return (results.map(\.1).reduce(0, +) / n, results.map(\.2).reduce(0, +) / n, results)
    }
}
