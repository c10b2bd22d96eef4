import ArgumentParser
import Compute
import Datasets
import Fields
import Foundation
import Geometry
import Splatting

/// `splat train SCENE --method nerf`: the instant-ngp engine.
extension Train {
    /// Cascade 0 of the occupancy grid in the world frame, and aabb_scale
    /// (CONVENTIONS.md): for a transforms.json with instant-ngp's extras, its
    /// unit cube mapped back into the world frame (ngp = cycle(world) scale +
    /// offset, cycle (x, y, z) -> (y, z, x)); otherwise a cube of the camera
    /// extent's size around the camera centroid.
    static func nerfBox(_ scene: Scene, aabbScale override: Int?) -> (center: Vector3, size: Double, aabbScale: Int) {
        var aabb = override ?? Int((scene.ngp?.aabbScale ?? 1).rounded(.up))
        aabb = max(1, aabb)
        var p = 1
        while p < aabb { p *= 2 }  // cascades double: a power of two
        if let ngp = scene.ngp, ngp.scale > 0 {
            let c = (Vector3(0.5, 0.5, 0.5) - ngp.offset) / ngp.scale  // cycled axes
            return (Vector3(c.z, c.x, c.y), 1 / ngp.scale, p)
        }
        return (scene.normalization.center, scene.normalization.extent, p)
    }

    func runNerf() throws {
        try runReportingErrors {
            if resume != nil { throw ValidationError("--resume is not available for --method nerf yet") }
            if view { throw ValidationError("--view is not available for --method nerf yet") }
            let (loaded, outDir, frames, train, test) = try loadTrainingScene()
            let hasAlpha = frames.contains { $0.image.hasAlpha }
            // instant-ngp trains images with alpha over a random colour per ray.
            let backgroundName = background ?? (hasAlpha ? "random" : "black")
            let bg = backgroundName == "black" ? SIMD3<Float>(0, 0, 0) : SIMD3<Float>(1, 1, 1)

            var config = NerfConfig()
            if let nerfConfig {
                guard let data = FileManager.default.contents(atPath: nerfConfig) else { throw DatasetError(nerfConfig, "cannot read the file") }
                do { config = try JSONDecoder().decode(NerfConfig.self, from: data) } catch {
                    throw DatasetError(nerfConfig, "not a NeRF configuration: \(error)")
                }
            }
            var configKeys: Set<String> = []
            if let nerfConfig, let data = FileManager.default.contents(atPath: nerfConfig),
               let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] { configKeys = Set(object.keys) }
            if let raysPerBatch { config.raysPerBatch = raysPerBatch }
            if let samplesPerBatch { config.samplesPerBatch = samplesPerBatch }
            if let marchSteps { config.marchSteps = marchSteps }
            if let problem = config.problem { throw ValidationError("NeRF configuration: \(problem)") }
            let box = Self.nerfBox(loaded, aabbScale: aabbScale)
            try checkFreeSpace(outDir, bytes: 256 << 20)
            let device = try ComputeDevice.make()
            // A CPU device: 2^14 samples a batch (instant-ngp's 2^18 take seconds per step there;
            // quality per minute is what counts).
            if device.info.kind == .cpu && samplesPerBatch == nil && !configKeys.contains("samples_per_batch") {
                config.samplesPerBatch = 1 << 14
                if raysPerBatch == nil && !configKeys.contains("rays_per_batch") { config.raysPerBatch = 512 }
                if !configKeys.contains("grid_update_points") { config.gridUpdatePoints = 1 << 14 }
            }
            let views = train.map { f -> NerfTrainer.View in
                // Random backgrounds keep the alpha; otherwise composite over the background now.
                let keepAlpha = backgroundName == "random" && f.image.hasAlpha
                let bgb = SIMD3<Double>(Double(bg.x), Double(bg.y), Double(bg.z))
                let image = keepAlpha || !f.image.hasAlpha ? f.image : GaussianTrainer.composite(f.image, over: bgb)
                return NerfTrainer.View(image: image, intrinsics: f.intrinsics, pose: f.frame.pose)
            }
            let trainer = try NerfTrainer(device: device, views: views, boxCenter: box.center, boxSize: box.size, aabbScale: box.aabbScale,
                                          config: config, background: bg, randomBackground: backgroundName == "random",
                                          seed: UInt32(truncatingIfNeeded: seed))
            log(String(format: "splat train: NeRF, hash grid %d parameters, box %.3g wide around (%.3g, %.3g, %.3g), aabb_scale %d (%d cascades), %d samples a batch, on %@",
                       trainer.grid.parameterCount, box.size, box.center.x, box.center.y, box.center.z, box.aabbScale,
                       trainer.occupancy.settings.cascades, config.samplesPerBatch, device.info.displayName))
            let total = iterations ?? 20_000
            let interrupt = InterruptFlag()
            let start = Date()
            let terminal = isatty(2) != 0
            var lastReport = Date.distantPast
            var stopReason: String?
            var recent: [Float] = []
            while trainer.iteration < total {
                let loss = try trainer.step()
                recent.append(loss)
                if recent.count > 20 { recent.removeFirst() }
                let elapsed = Date().timeIntervalSince(start)
                let k = trainer.iteration
                if Date().timeIntervalSince(lastReport) > (terminal ? 0.25 : 10) || k == total {
                    lastReport = Date()
                    let mean = recent.reduce(0, +) / Float(recent.count)
                    let rate = Double(k) / max(elapsed, 1e-9)
                    let eta = maxSeconds.map { min(Double(total - k) / max(rate, 1e-9), max(0, $0 - elapsed)) } ?? Double(total - k) / max(rate, 1e-9)
                    let line = String(format: "iteration %d/%d  %.1f it/s  loss %.5f  batch PSNR %.2f  %d rays, %d samples  ETA ", k, total, rate, mean,
                                      config.loss == "L2" ? -10 * log10(Double(max(mean, 1e-12))) : .nan,
                                      trainer.raysPerBatch, trainer.lastSamples) + formatDuration(eta)
                    FileHandle.standardError.write(Data((terminal ? "\r" + line + "\u{1b}[K" : line + "\n").utf8))
                }
                if let maxSeconds, elapsed > maxSeconds { stopReason = "--max-seconds \(maxSeconds)"; break }
                if interrupt.isSet { stopReason = "interrupted"; break }
            }
            if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
            if let stopReason { log("splat train: stopping after \(trainer.iteration) iterations (\(stopReason))") }
            let seconds = Date().timeIntervalSince(start)
            try NerfModelFile.write(trainer, to: outDir + "/model.nerf")
            var metrics: [String: Any] = ["iterations": trainer.iteration, "seconds": seconds, "final_loss": Double(recent.last ?? 0),
                                          "peak_memory_mb": peakResidentMegabytes(), "device": device.info.displayName]
            if !test.isEmpty {
                log("splat train: rendering \(test.count) test images")
                let r = try Evaluate.metrics(device: device, frames: test, background: bg) { f in
                    let rgba = try trainer.render(intrinsics: f.intrinsics, pose: f.frame.pose, background: bg)
                    var rgb = [Float](repeating: 0, count: rgba.count / 4 * 3)
                    for p in 0..<(rgba.count / 4) { for c in 0..<3 { rgb[3 * p + c] = rgba[4 * p + c] } }
                    return rgb
                }
                metrics["test_psnr"] = r.psnr
                metrics["test_ssim"] = r.ssim
                metrics["test_images"] = r.perImage.count
                metrics["per_image"] = r.perImage.map { ["name": $0.name, "psnr": $0.psnr, "ssim": $0.ssim] }
                log(String(format: "splat train: test PSNR %.2f dB, SSIM %.4f (%d images, iteration %d, %.0f s of training)",
                           r.psnr, r.ssim, r.perImage.count, trainer.iteration, seconds))
            }
            try CamerasJSON.write(CamerasJSON.entries(frames), to: outDir + "/cameras.json")
            try writeJSON(["kind": "nerf", "format_version": 1, "model": "model.nerf",
                           "background": [Double(bg.x), Double(bg.y), Double(bg.z)],
                           "training_background": backgroundName], to: outDir + "/model.json")
            let configJSON = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config))
            try writeJSON(["method": "nerf", "scene": loaded.root, "downscale": downscale, "eval": eval, "seed": seed,
                           "iterations": total, "nerf": configJSON, "aabb_scale": box.aabbScale,
                           "box_center": [box.center.x, box.center.y, box.center.z], "box_size": box.size], to: outDir + "/config.json")
            try writeJSON(metrics, to: outDir + "/metrics.json")
            log("splat train: \(trainer.iteration) iterations in \(String(format: "%.1f", seconds)) s; wrote \(outDir)")
            if stopReason == "interrupted" { throw ExitCode(130) }
        }
    }
}
