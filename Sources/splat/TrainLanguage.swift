import ArgumentParser
import Compute
import Datasets
import Foundation
import Geometry
import Language
import Models
import Splatting

/// `splat train SCENE --method language --init MODEL --features DIR`:
/// LangSplatV2's sparse codebook features on a frozen 3D Gaussian model.
extension Train {
    /// The language frames of one split: cameras at --downscale and their
    /// feature files (frames without one are counted, not loaded).
    func languageFrames(_ frames: [SceneFrame], directory: String, levels: Int) throws -> (frames: [LanguageFrame], missing: [String]) {
        var out: [LanguageFrame] = [], missing: [String] = []
        for frame in frames {
            let intrinsics = try SceneImages.intrinsics(of: frame, downscale: downscale)
            guard let features = try LanguageFeatureFiles.load(directory: directory, imageName: frame.imagePath, width: intrinsics.width,
                                                               height: intrinsics.height, levels: levels) else {
                missing.append(frame.name)
                continue
            }
            out.append(LanguageFrame(name: frame.name, camera: RasterCamera(intrinsics: intrinsics, pose: frame.pose), features: features))
        }
        return (out, missing)
    }

    func runLanguage() throws {
        try runReportingErrors {
            if view { throw ValidationError("--view is not available for --method language yet (splat view shows the trained model's feature field)") }
            guard let initPath = initModel else {
                throw ValidationError("--method language needs --init MODEL: the trained 3D Gaussian model whose geometry the features are learnt on")
            }
            guard let featureDirectory = features else {
                throw ValidationError("--method language needs --features DIR: LangSplat's <image>_f.npy and <image>_s.npy per training image (or <image>.npy dense maps); README.md, \"Language features\", says how to make them")
            }
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: featureDirectory, isDirectory: &isFolder), isFolder.boolValue else {
                throw DatasetError(featureDirectory, "no such features folder")
            }
            let base = try RenderModel.load(initPath)
            let geometry = try base.gaussians(for: "splat train --method language")
            if geometry.hasTime { throw DatasetError(base.path, "\(base.kindDescription): language features are learnt on a 3D Gaussian model") }
            guard geometry.count > 0 else { throw DatasetError(base.path, "the model has no Gaussians") }

            var resumed: LanguageFeatureFile.Checkpoint?
            if let resume {
                let path = [resume + "/checkpoint/" + LanguageFeatureFile.checkpointName, resume + "/" + LanguageFeatureFile.checkpointName, resume]
                    .first { p in var d: ObjCBool = false; return FileManager.default.fileExists(atPath: p, isDirectory: &d) && !d.boolValue }
                guard let path else {
                    throw DatasetError(resume, "no language checkpoint here (expected checkpoint/\(LanguageFeatureFile.checkpointName))")
                }
                guard let checkpoint = try LanguageFeatureFile.read(path: path).checkpoint else {
                    throw DatasetError(path, "a features file without optimiser state, not a checkpoint")
                }
                guard checkpoint.field.gaussianCount == geometry.count else {
                    throw DatasetError(path, "the checkpoint holds features for \(checkpoint.field.gaussianCount) Gaussians; --init \(initPath) has \(geometry.count)")
                }
                if let previous = RenderModel.recordedConfig(resume), let d = previous["downscale"] as? Int, d != downscale {
                    throw DatasetError(resume, "the checkpoint was trained with --downscale \(d); resume with the same value")
                }
                resumed = checkpoint
            }

            var config = resumed?.state.config ?? LanguageTrainingConfig(
                shape: LanguageShape(levels: levels ?? 3, codebookSize: codebook ?? 64, topK: topK ?? 4, dimension: 512), seed: seed)
            if let iterations { config.iterations = iterations }
            if resumed == nil {
                if let logitLR { config.logitLR = Float(logitLR) }
                if let codebookLR { config.codebookLR = Float(codebookLR) }
            }
            let loaded = try SceneLoader.load(scene, options: SceneOptions(eval: eval))
            let outDir = try Self.outputFolder(out: out, resume: resume, overwrite: overwrite,
                                               scene: ((loaded.root as NSString).standardizingPath as NSString).lastPathComponent + "-language")
            try OutputFolder.prepare(outDir)
            AtomicFile.removeStale(in: outDir + "/checkpoint")

            let (train, missingTrain) = try languageFrames(loaded.trainFrames, directory: featureDirectory, levels: config.shape.levels)
            var (test, missingTest) = try languageFrames(loaded.testFrames, directory: featureDirectory, levels: config.shape.levels)
            if train.isEmpty {
                throw DatasetError(featureDirectory, "no feature files for any of the \(loaded.trainFrames.count) training images (expected <image>_f.npy and <image>_s.npy, or <image>.npy, e.g. \((loaded.trainFrames.first?.imagePath as NSString?)?.lastPathComponent ?? "?"))")
            }
            if !missingTrain.isEmpty {
                Diagnostics.warn("\(featureDirectory): no features for \(missingTrain.count) of \(loaded.trainFrames.count) training images (e.g. \(missingTrain[0])); training on the other \(train.count)")
            }
            if !missingTest.isEmpty && !test.isEmpty {
                Diagnostics.warn("\(featureDirectory): no features for \(missingTest.count) of \(loaded.testFrames.count) test images; evaluating on the other \(test.count)")
            }
            // Every file must agree on D; the first sets it.
            let dimension = train[0].features.dimension
            for frame in train + test where frame.features.dimension != dimension {
                throw DatasetError(frame.features.source, "features of dimension \(frame.features.dimension); \(train[0].features.source) has \(dimension)")
            }
            let fileLevels = (train + test).map(\.features.segments.count).min() ?? 1
            if resumed == nil {
                config.shape.dimension = dimension
                if fileLevels < config.shape.levels {
                    log("splat train: the feature files have \(fileLevels) level\(fileLevels == 1 ? "" : "s") (dense maps have one); training \(fileLevels)")
                    config.shape.levels = fileLevels
                }
            } else if dimension != config.shape.dimension {
                throw DatasetError(featureDirectory, "features of dimension \(dimension); the checkpoint was trained on \(config.shape.dimension)")
            }
            if let p = config.shape.problem { throw ValidationError(p) }
            if missingTest.count == loaded.testFrames.count { missingTest = []; test = [] }

            let device = try ComputeDevice.make()
            var settings = base.settings
            settings.shDegree = nil
            let start = Date()
            log("splat train: language features on \(geometry.count) Gaussians of \(base.path): \(train.count) training views, \(test.count) test views, \(config.shape.levels) levels, codebook \(config.shape.codebookSize) x \(config.shape.dimension), top \(config.shape.topK), on \(device.info.displayName)")
            if resumed == nil { log("splat train: codebooks by k-means over the training features") }
            let trainer = try LanguageTrainer(device: device, geometry: geometry, frames: train, config: config, settings: settings,
                                              initialCodebooks: resumed?.field.codebooks, initialLogits: resumed?.logits)
            if let resumed {
                try trainer.restore(resumed)
                log("splat train: resuming at iteration \(trainer.iteration)")
            }
            var history: [[String: Any]] = []
            let board = try logDir.map { try TensorBoardWriter(folder: $0) }
            func evaluate() throws -> [Double?]? {
                guard !test.isEmpty else { return nil }
                let cosines = try trainer.evaluate(test)
                let known = cosines.compactMap { $0 }
                if let board, !known.isEmpty { try board.scalar("test/cosine", known.reduce(0, +) / Double(known.count), step: trainer.iteration) }
                let text = zip(trainer.config.shape.levels == 3 ? ["s", "m", "l"] : Array(["s", "m", "l"].prefix(cosines.count)), cosines)
                    .map { "\($0) \($1.map { String(format: "%.4f", $0) } ?? "-")" }.joined(separator: ", ")
                log("splat train: test cosine \(text) (iteration \(trainer.iteration))")
                history.append(["iteration": trainer.iteration, "test_cosine": cosines.map { $0 as Any? ?? NSNull() },
                                "seconds": Date().timeIntervalSince(start)])
                return cosines
            }
            func saveCheckpoint() throws {
                let checkpoint = try trainer.checkpoint()
                try FileManager.default.createDirectory(atPath: outDir + "/checkpoint", withIntermediateDirectories: true)
                try LanguageFeatureFile.write(checkpoint.field, to: outDir + "/checkpoint/" + LanguageFeatureFile.checkpointName, checkpoint: checkpoint)
            }
            let interrupt = InterruptFlag()
            let terminal = isatty(2) != 0
            let total = config.iterations, startIteration = trainer.iteration
            var lastReport = Date.distantPast, lastLoss = 0.0
            var stopReason: String?
            while trainer.iteration < total {
                let report = Date().timeIntervalSince(lastReport) > (terminal ? 0.25 : 10) || trainer.iteration + 1 == total
                let logged = board != nil && ((trainer.iteration + 1) % 10 == 0 || trainer.iteration + 1 == total)
                do {
                    if let loss = try trainer.step(readLoss: report || logged) { lastLoss = loss }
                } catch let error as ComputeError {
                    throw ComputeError.invalidArgument("\(error.description); training stopped")
                }
                guard lastLoss.isFinite else {
                    throw ComputeError.invalidArgument("the loss became \(lastLoss) at iteration \(trainer.iteration); training stopped (the last checkpoint is kept)")
                }
                let k = trainer.iteration, elapsed = Date().timeIntervalSince(start)
                if let board, logged {
                    try board.scalars([("train/loss", lastLoss), ("train/learning_rate", Double(trainer.config.logitLR)),
                                       ("train/iterations_per_second", Double(k - startIteration) / max(elapsed, 1e-9))], step: k)
                }
                if report {
                    lastReport = Date()
                    let rate = Double(k - startIteration) / max(elapsed, 1e-9)
                    let line = String(format: "iteration %d/%d  %.1f it/s  loss %.4f (1 - cos, summed over levels)  ETA ", k, total, rate, lastLoss)
                        + formatDuration(Double(total - k) / max(rate, 1e-9))
                    FileHandle.standardError.write(Data((terminal ? "\r" + line + "\u{1b}[K" : line + "\n").utf8))
                }
                if evalEvery > 0 && k % evalEvery == 0 && k < total && !test.isEmpty {
                    if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
                    _ = try evaluate()
                }
                if saveEvery > 0 && k % saveEvery == 0 && k < total { try saveCheckpoint() }
                if let maxSeconds, elapsed > maxSeconds { stopReason = "--max-seconds \(maxSeconds)"; break }
                if interrupt.isSet { stopReason = "interrupted"; break }
            }
            if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
            if let stopReason { log("splat train: stopping after \(trainer.iteration) iterations (\(stopReason))") }
            let seconds = Date().timeIntervalSince(start)
            try saveCheckpoint()
            let field = try trainer.field()
            var metrics: [String: Any] = ["iterations": trainer.iteration, "seconds": seconds, "final_loss": lastLoss,
                                          "gaussians": geometry.count, "peak_memory_mb": peakResidentMegabytes(),
                                          "device": device.info.displayName, "training_views": train.count]
            if let cosines = try evaluate() {
                metrics["test_cosine"] = cosines.map { $0 as Any? ?? NSNull() }
                let known = cosines.compactMap { $0 }
                if !known.isEmpty { metrics["test_cosine_mean"] = known.reduce(0, +) / Double(known.count) }
            }
            if !history.isEmpty { metrics["history"] = history }
            try board?.close()
            // The folder stands alone: the frozen geometry goes with the features.
            try GaussianPLY.write(geometry, to: outDir + "/point_cloud.ply")
            try LanguageFeatureFile.write(field, to: outDir + "/" + LanguageFeatureFile.fileName)
            let cameraFrames = loaded.frames
            let entries = try cameraFrames.enumerated().map { i, f in
                CameraEntry(id: i, name: f.name, intrinsics: try SceneImages.intrinsics(of: f, downscale: downscale), pose: f.pose, split: f.split, time: f.time)
            }
            try CamerasJSON.write(entries, to: outDir + "/cameras.json")
            let bg = base.settings.background
            try writeJSON(["kind": "language", "format_version": 1, "sh_degree": geometry.shDegree,
                           "antialias": base.settings.antialias ? "antialiased" : "classic",
                           "background": [bg.x, bg.y, bg.z].map(Double.init), "features": LanguageFeatureFile.fileName,
                           "levels": field.levelNames, "codebook_size": config.shape.codebookSize, "top_k": config.shape.topK,
                           "dimension": config.shape.dimension, "base_model": base.path, "split": loaded.splitSource,
                           "checkpoint": "checkpoint/" + LanguageFeatureFile.checkpointName], to: outDir + "/model.json")
            let configJSON = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config))
            try writeJSON(["training": configJSON, "method": "language", "scene": loaded.root, "init": initPath, "features": featureDirectory,
                           "downscale": downscale, "eval": eval, "resumed_from": resume as Any? ?? NSNull()], to: outDir + "/config.json")
            try writeJSON(metrics, to: outDir + "/metrics.json")
            log("splat train: \(trainer.iteration) iterations in \(String(format: "%.1f", seconds)) s; wrote \(outDir)")
            if interrupt.isSet {
                log("splat train: resume with: splat train \(scene) --method language --init \(initPath) --features \(featureDirectory) --resume \(outDir)")
                throw ExitCode(130)
            }
        }
    }
}
