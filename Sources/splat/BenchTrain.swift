import ArgumentParser
import Compute
import Datasets
import Foundation
import Splatting

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Time Gaussian training iterations on a scene: iterations/s and per-stage ms.",
        discussion: """
        Runs --iterations training steps (after --warmup) and reports the
        median wall-clock ms of each stage: forward (render), loss (L1 + D-SSIM
        and its gradient), backward (blend and projection), optimiser (Adam).
        Densification is not part of training yet (densify_ms is 0).
        """)

    @Option(help: "The scene folder or transforms.json.")
    var scene: String
    @Option(help: "Timed iterations.")
    var iterations = 100
    @Option(help: "Untimed iterations first.")
    var warmup = 5
    @Option(help: "Downscale images by this integer factor.")
    var downscale = 1
    @Option(help: "Random initial points when the scene has none.")
    var randomPoints = 100_000
    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    func run() throws {
        try runReportingErrors {
            let loaded = try SceneLoader.load(scene)
            let (frames, _) = try SceneImages.load(loaded.trainFrames, root: loaded.root, downscale: downscale)
            var config = GaussianTrainingConfig()
            config.iterations = warmup + iterations
            config.randomPoints = randomPoints
            let initial = GaussianInitialization.forScene(points: loaded.points, poses: frames.map(\.frame.pose), config: config)
            let device = try ComputeDevice.make()
            let bg: SIMD3<Float> = frames.contains { $0.image.hasAlpha } ? SIMD3(1, 1, 1) : .zero
            let trainer = try GaussianTrainer(device: device, frames: frames, initial: initial,
                                              extent: loaded.normalization.extent, background: bg, config: config)
            log("bench train: \(initial.count) Gaussians, \(frames.count) views on \(device.info.displayName)")
            for _ in 0..<warmup { try trainer.step() }
            var stages: [String: [Double]] = [:]
            let start = Date()
            for _ in 0..<iterations {
                try trainer.step()
                for (k, v) in trainer.lastStageMilliseconds { stages[k, default: []].append(v) }
            }
            let seconds = Date().timeIntervalSince(start)
            let result: [String: Any] = [
                "benchmark": "train",
                "device": device.info.displayName,
                "scene": loaded.root,
                "gaussians": initial.count,
                "views": frames.count,
                "width": frames.first?.image.width ?? 0,
                "height": frames.first?.image.height ?? 0,
                "iterations": iterations,
                "iterations_per_s": round3(Double(iterations) / seconds),
                "ms_per_iteration": round3(seconds * 1000 / Double(iterations)),
                "stages_ms": stages.mapValues { round3(median($0)) }.merging(["densify": 0]) { a, _ in a },
            ]
            if json { try printJSON(result) } else {
                print("train \(iterations) iterations: \(round3(Double(iterations) / seconds)) it/s; stages \(stages.mapValues { round3(median($0)) })")
            }
        }
    }
}
