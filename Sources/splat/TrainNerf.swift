import ArgumentParser
import Compute
import Datasets
import Fields
import Foundation
import Geometry
import Models
import Splatting

/// `splat train SCENE --method nerf`: the instant-ngp engine.
extension Train {
    func runNerf() throws {
        try runReportingErrors {
            if view { throw ValidationError("--view is not available for --method nerf yet") }
            // --resume DIR: DIR/checkpoint/model.nerf (or DIR as a checkpoint folder or file).
            var resumed: NerfModelFile.Contents?
            if let resume {
                let candidates = [resume + "/checkpoint/model.nerf", resume + "/model.nerf", resume]
                guard let path = candidates.first(where: { p in
                    var isFolder: ObjCBool = false
                    return FileManager.default.fileExists(atPath: p, isDirectory: &isFolder) && !isFolder.boolValue
                }) else {
                    throw DatasetError(resume, "no NeRF checkpoint here (expected checkpoint/model.nerf; train with --save-every or stop with Ctrl-C to write one)")
                }
                let contents = try NerfModelFile.read(path: path)
                guard contents.header.optimizer != nil else {
                    throw DatasetError(path, "a NeRF model without optimiser state, not a checkpoint (resume from the folder's checkpoint/model.nerf)")
                }
                if let previous = RenderModel.recordedConfig(resume) {
                    if let d = previous["downscale"] as? Int, d != downscale {
                        throw DatasetError(resume, "the checkpoint was trained with --downscale \(d); resume with the same value")
                    }
                    if let e = previous["eval"] as? Bool, e != eval {
                        throw DatasetError(resume, "the checkpoint was trained \(e ? "with" : "without") --eval; resume the same way")
                    }
                }
                resumed = contents
            }
            let neus = method == "neus" || resumed?.header.config.isSDF == true
            var (loaded, outDir, frames, train, test) = try loadTrainingScene()
            // Masks (NeuS/IDR scenes) become the images' alpha: masked-out pixels
            // are trained transparent over random backgrounds, and the SDF's
            // mask loss fits each ray's opacity to them.
            var testMasks: [[UInt8]?] = []
            if frames.contains(where: { $0.frame.maskPath != nil }) {
                func masked(_ f: LoadedFrame) throws -> LoadedFrame {
                    guard let mask = try SceneImages.mask(of: f.frame, downscale: downscale) else { return f }
                    var g = f
                    let rgb = f.image.rgb()
                    var pixels = [UInt8](repeating: 0, count: rgb.width * rgb.height * 4)
                    for p in 0..<(rgb.width * rgb.height) {
                        for c in 0..<3 { pixels[4 * p + c] = rgb.pixels[3 * p + c] }
                        pixels[4 * p + 3] = mask[p]
                    }
                    g.image = Image8(width: rgb.width, height: rgb.height, channels: 4, pixels: pixels)
                    return g
                }
                train = try train.map(masked)
                testMasks = try test.map { try SceneImages.mask(of: $0.frame, downscale: downscale) }
                log("splat train: masks for \(frames.filter { $0.frame.maskPath != nil }.count) of \(frames.count) images (pixels with mask 0 are background)")
                frames = train + test
            }
            let hasAlpha = frames.contains { $0.image.hasAlpha }
            // instant-ngp trains images with alpha over a random colour per ray.
            let backgroundName = background ?? (hasAlpha ? "random" : "black")
            // Masked scenes (DTU) are shown and evaluated over black, as their photos' backgrounds are not modelled.
            let bg = backgroundName == "black" || (backgroundName == "random" && !testMasks.isEmpty && background == nil)
                ? SIMD3<Float>(0, 0, 0) : SIMD3<Float>(1, 1, 1)

            var config = resumed?.header.config ?? (neus ? NerfConfig.neusDefaults : NerfConfig())
            if resumed != nil, nerfConfig != nil || raysPerBatch != nil || samplesPerBatch != nil || marchSteps != nil || aabbScale != nil {
                Diagnostics.warn("--resume: the NeRF recipe comes from the checkpoint; --nerf-config, --rays-per-batch, --samples-per-batch, --march-steps and --aabb-scale are ignored")
            }
            // The keys the file gives (they win over the CPU defaults below); NerfConfig.decode refuses unknown ones.
            var configKeys: Set<String> = []
            if resumed == nil, let nerfConfig {
                let data = try RegularFile.read(nerfConfig, limit: 16 << 20)
                config = try NerfConfig.decode(data, path: nerfConfig)
                configKeys = Set((try StrictJSON.object(data, path: nerfConfig) as? [String: Any] ?? [:]).keys)
                if neus {
                    // --method neus: NeuS's recipe where the file is silent.
                    let d = NerfConfig.neusDefaults
                    if !configKeys.contains("field") { config.field = d.field }
                    if !configKeys.contains("encoding") { config.encoding = d.encoding }
                    if !configKeys.contains("network") { config.network = d.network }
                    if !configKeys.contains("loss") { config.loss = d.loss }
                }
                if neus != config.isSDF { throw DatasetError(nerfConfig, "\"field\": \"\(config.field)\" does not fit --method \(method)") }
            }
            if resumed == nil {
                if fp16 { config.fp16Storage = true }
                if let raysPerBatch { config.raysPerBatch = raysPerBatch }
                if let samplesPerBatch { config.samplesPerBatch = samplesPerBatch }
                if let marchSteps { config.marchSteps = marchSteps }
            }
            if let problem = config.problem { throw ValidationError("NeRF configuration: \(problem)") }
            var box = NerfSceneBox.box(loaded, aabbScale: aabbScale)
            if let h = resumed?.header { box = (Vector3(h.boxCenter[0], h.boxCenter[1], h.boxCenter[2]), h.boxSize, h.aabbScale) }
            try checkFreeSpace(outDir, bytes: 256 << 20)
            let device = try ComputeDevice.make()
            // A CPU device (quality per minute is what counts; docs/nerf.md, "On a CPU device"):
            // 2^14 samples a batch (instant-ngp's 2^18 take seconds per step there),
            // a 64^3 occupancy grid (2^14 update points visit each cell every ~16 steps;
            // at 128^3 empty space stays occupied for hundreds of steps), 256 march
            // steps, and 32-wide MLPs with one hidden layer each (3.6 vs 2.2 it/s and
            // 20.7 vs 18.7 dB after 60 s on Scenes/demo). Every key the user gives wins.
            if resumed == nil && device.info.kind == .cpu {
                let defaults = NerfConfig.cpuDefaults
                if samplesPerBatch == nil && !configKeys.contains("samples_per_batch") { config.samplesPerBatch = defaults.samplesPerBatch }
                if raysPerBatch == nil && !configKeys.contains("rays_per_batch") { config.raysPerBatch = defaults.raysPerBatch }
                if marchSteps == nil && !configKeys.contains("march_steps") { config.marchSteps = defaults.marchSteps }
                if !configKeys.contains("grid_update_points") { config.gridUpdatePoints = defaults.gridUpdatePoints }
                if !configKeys.contains("grid_size") { config.gridSize = defaults.gridSize }
                if !configKeys.contains("network") {
                    config.network.neurons = defaults.network.neurons
                    config.network.hiddenLayers = defaults.network.hiddenLayers
                }
                if !configKeys.contains("rgb_network") { config.rgbNetwork = defaults.rgbNetwork }
            }
            let views = train.map { f -> NerfTrainer.View in
                // Random backgrounds keep the alpha; otherwise composite over the background now.
                let keepAlpha = backgroundName == "random" && f.image.hasAlpha
                let bgb = SIMD3<Double>(Double(bg.x), Double(bg.y), Double(bg.z))
                let image = keepAlpha || !f.image.hasAlpha ? f.image : GaussianTrainer.composite(f.image, over: bgb)
                return NerfTrainer.View(image: image, intrinsics: f.intrinsics, pose: f.frame.pose)
            }
            let trainer: NerfTrainer
            if let resumed {
                trainer = try NerfTrainer(device: device, model: resumed, views: views, randomBackground: backgroundName == "random")
                log("splat train: resuming the NeRF at iteration \(trainer.iteration)")
            } else {
                trainer = try NerfTrainer(device: device, views: views, boxCenter: box.center, boxSize: box.size, aabbScale: box.aabbScale,
                                          config: config, background: bg, randomBackground: backgroundName == "random",
                                          seed: UInt32(truncatingIfNeeded: seed))
            }
            trainer.profileKernels = profile
            let checkpointPath = outDir + "/checkpoint/model.nerf"
            var lastCheckpoint: Int?
            log(String(format: "splat train: \(config.isSDF ? "NeuS (SDF field)" : "NeRF"), hash grid %d parameters, box %.3g wide around (%.3g, %.3g, %.3g), aabb_scale %d (%d cascades), %d samples a batch, on %@",
                       trainer.grid.parameterCount, box.size, box.center.x, box.center.y, box.center.z, box.aabbScale,
                       trainer.occupancy.settings.cascades, config.samplesPerBatch, device.info.displayName))
            let total = iterations ?? (resume.flatMap { RenderModel.recordedConfig($0)?["iterations"] as? Int }) ?? 20_000
            let interrupt = InterruptFlag()
            let start = Date()
            let board = try logDir.map { try TensorBoardWriter(folder: $0) }
            let terminal = isatty(2) != 0
            var lastReport = Date.distantPast
            var stopReason: String?
            var recent: [Float] = []
            let firstIteration = trainer.iteration
            // A run bounded by time decays on its budget unless the config sets the schedule.
            // A resumed run of such a schedule keeps the rate it reached as a ceiling (on its
            // own budget if it has one, else at that rate) rather than starting again at the top.
            let reachedRate = resumed?.header.optimizer?.learningRate
            let decaysOnTime = maxSeconds != nil && (resumed == nil ? configKeys.isDisjoint(with: ["decay_start", "decay_interval"]) : reachedRate != nil)
            if let reachedRate { log(String(format: "splat train: the checkpoint's time-budget decay had reached a learning rate of %.3g; it stays at most that", reachedRate)) }
            while trainer.iteration < total {
                if decaysOnTime, let maxSeconds {
                    let progress = max(Date().timeIntervalSince(start) / maxSeconds, Double(trainer.iteration) / Double(total))
                    trainer.learningRateOverride = min(config.learningRate(progress: progress), reachedRate ?? .infinity)
                }
                let loss: Float
                do { loss = try trainer.step() } catch let failure as NerfTrainer.NonFiniteLoss {
                    if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
                    // The failed step already updated the parameters: nothing of this state is written.
                    let kept = lastCheckpoint.map { "the last good checkpoint (iteration \($0)) is \(checkpointPath); resume with --resume \(outDir)" }
                        ?? "no checkpoint was written before it (--save-every \(saveEvery))"
                    throw DatasetError(scene, "\(failure); training stopped: \(kept)")
                }
                recent.append(loss)
                if recent.count > 20 { recent.removeFirst() }
                let elapsed = Date().timeIntervalSince(start)
                let k = trainer.iteration
                if let board, k % 10 == 0 || k == total {
                    var values = [("train/loss", Double(loss)), ("train/iterations_per_second", Double(k - firstIteration) / max(elapsed, 1e-9)),
                                  ("train/learning_rate", Double(trainer.learningRateOverride ?? trainer.config.learningRate(at: k)))]
                    // The batch's PSNR where the loss is the mean squared error.
                    if config.loss == "L2" && !config.isSDF { values.append(("train/psnr", -10 * log10(Double(max(loss, 1e-12))))) }
                    try board.scalars(values, step: k)
                }
                if Date().timeIntervalSince(lastReport) > (terminal ? 0.25 : 10) || k == total {
                    lastReport = Date()
                    let mean = recent.reduce(0, +) / Float(recent.count)
                    let rate = Double(k - firstIteration) / max(elapsed, 1e-9)
                    let eta = maxSeconds.map { min(Double(total - k) / max(rate, 1e-9), max(0, $0 - elapsed)) } ?? Double(total - k) / max(rate, 1e-9)
                    let sdf = config.isSDF ? String(format: "  eikonal %.4f  inv_s %.0f  levels %d", trainer.lastEikonalLoss,
                                                    (try? trainer.inverseScale()) ?? .nan, trainer.activeLevels) : ""
                    let line = String(format: "iteration %d/%d  %.1f it/s  loss %.5f  batch PSNR %.2f  %d rays, %d samples", k, total, rate, mean,
                                      config.loss == "L2" && !config.isSDF ? -10 * log10(Double(max(mean, 1e-12))) : .nan,
                                      trainer.raysPerBatch, trainer.lastSamples) + sdf + "  ETA " + formatDuration(eta)
                    FileHandle.standardError.write(Data((terminal ? "\r" + line + "\u{1b}[K" : line + "\n").utf8))
                }
                if saveEvery > 0, k % saveEvery == 0, k < total {
                    try NerfModelFile.write(trainer, to: checkpointPath, checkpoint: true)
                    lastCheckpoint = k
                }
                if let maxSeconds, elapsed > maxSeconds { stopReason = "--max-seconds \(maxSeconds)"; break }
                if interrupt.isSet { stopReason = "interrupted"; break }
            }
            if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
            if let stopReason { log("splat train: stopping after \(trainer.iteration) iterations (\(stopReason))") }
            let seconds = Date().timeIntervalSince(start)
            try NerfModelFile.write(trainer, to: outDir + "/model.nerf")
            try NerfModelFile.write(trainer, to: checkpointPath, checkpoint: true)
            // The folder is a usable model before the (slow on a CPU) test rendering.
            try CamerasJSON.write(CamerasJSON.entries(frames), to: outDir + "/cameras.json")
            try writeJSON(["kind": config.isSDF ? "neus" : "nerf", "format_version": 1, "model": "model.nerf",
                           "background": [Double(bg.x), Double(bg.y), Double(bg.z)],
                           "training_background": backgroundName], to: outDir + "/model.json")
            let budgetPoints = config.decayBudgetPoints.isEmpty ? "none"
                : config.decayBudgetPoints.map { String(format: "%g%%", $0 * 100) }.joined(separator: ", ")
            let configJSON = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config))
            try writeJSON(["method": config.isSDF ? "neus" : "nerf", "scene": loaded.root, "downscale": downscale, "eval": eval, "seed": seed,
                           "iterations": total, "nerf": configJSON, "aabb_scale": box.aabbScale,
                           "learning_rate_decay": decaysOnTime ? "on the --max-seconds budget: x decay_base at " + budgetPoints + " of it" + (reachedRate.map { String(format: ", at most %.3g (the checkpoint's)", $0) } ?? "")
                                : reachedRate.map { String(format: "none: %.3g, the checkpoint's time-budget decay", $0) } ?? "on steps",
                           "box_center": [box.center.x, box.center.y, box.center.z], "box_size": box.size], to: outDir + "/config.json")
            var metrics: [String: Any] = ["iterations": trainer.iteration, "seconds": seconds, "final_loss": Double(recent.last ?? 0),
                                          "peak_memory_mb": peakResidentMegabytes(), "device": device.info.displayName]
            if profile {
                // Per-iteration means, largest first: where a step's time goes.
                let steps = Double(max(1, trainer.iteration - firstIteration))
                func table(_ totals: [String: Double]) -> [String: Double] { totals.mapValues { ($0 / steps * 1000).rounded() / 1000 } }
                for (title, totals) in [("stages (wall clock)", trainer.stageMilliseconds), ("GPU dispatches", trainer.kernelMilliseconds)] {
                    log("splat train: profile, \(title), ms per iteration:")
                    for (name, ms) in totals.sorted(by: { $0.value > $1.value }) { log(String(format: "  %9.3f  %@", ms / steps, name)) }
                }
                metrics["profile_ms"] = ["stages": table(trainer.stageMilliseconds), "dispatches": table(trainer.kernelMilliseconds)]
            }
            if !test.isEmpty {
                log("splat train: rendering \(test.count) test images")
                var progress = RenderProgress(total: test.count, label: "test", unit: "images")
                var done = 0
                var masked: [Double] = []
                let r = try Evaluate.metrics(device: device, frames: test, background: bg) { f in
                    defer { done += 1; progress.update(done: done) }
                    let color = try trainer.render(intrinsics: f.intrinsics, pose: f.frame.pose, background: bg).color
                    if done < testMasks.count, let mask = testMasks[done],
                       let psnr = Evaluate.maskedPSNR(rendered: color, image: f.image, mask: mask) { masked.append(psnr) }
                    return color
                }
                if !masked.isEmpty {
                    let mean = masked.reduce(0, +) / Double(masked.count)
                    metrics["test_masked_psnr"] = mean
                    log(String(format: "splat train: masked test PSNR %.2f dB (pixels with mask > 0.5, %d images)", mean, masked.count))
                }
                progress.abandon()
                metrics["test_psnr"] = r.psnr
                metrics["test_ssim"] = r.ssim
                try board?.scalars([("test/psnr", r.psnr), ("test/ssim", r.ssim)], step: trainer.iteration)
                metrics["test_images"] = r.perImage.count
                metrics["per_image"] = r.perImage.map { ["name": $0.name, "psnr": $0.psnr, "ssim": $0.ssim] }
                log(String(format: "splat train: test PSNR %.2f dB, SSIM %.4f (%d images, iteration %d, %.0f s of training)",
                           r.psnr, r.ssim, r.perImage.count, trainer.iteration, seconds))
            }
            try writeJSON(metrics, to: outDir + "/metrics.json")
            try board?.close()
            log("splat train: \(trainer.iteration) iterations in \(String(format: "%.1f", seconds)) s; wrote \(outDir)")
            if stopReason == "interrupted" { throw ExitCode(130) }
        }
    }
}
