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
        and its gradient), backward (blend and projection), optimiser (Adam
        and the densification statistics), and densify: the mean ms per
        iteration of clone/split/prune (the bench densifies every
        --densify-interval iterations from the start, so the timed steps
        include some) and, in densify_event_ms, the median of one
        densification. forward_gpu_ms and backward_gpu_ms split the forward
        and backward stages into their GPU kernels; --profile adds every
        dispatch of the loss and optimiser stages.
        """)

    @Option(help: "The scene folder or transforms.json.")
    var scene: String
    @Option(help: "Timed iterations.")
    var iterations = 100
    @Option(help: "Untimed iterations first.")
    var warmup = 5
    @OptionGroup var imageScale: ImageScaleOptions
    var downscale: Int { imageScale.factor() }
    @Option(help: "Random initial points when the scene has none.")
    var randomPoints = 100_000
    @Option(help: "Start from this model (.ply or .splat, e.g. a trained point_cloud.ply) instead of the scene's initial Gaussians.")
    var model: String?
    @Option(help: "Densify every this many iterations (0: never).")
    var densifyInterval = 50
    @Option(help: "adaptive (clone/split/prune) or mcmc (relocation; the bench's budget is the starting count, so the model keeps its size).")
    var densify = GaussianTrainingConfig().densify.rawValue
    @Flag(help: "Sparse Adam: skip parameters whose gradient is zero (Gaussians the view did not see).")
    var sparseAdam = false
    @Flag(help: "Also time every dispatch of the loss and optimiser stages on the GPU (loss_optimiser_gpu_ms in the JSON).")
    var profile = false
    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    func validate() throws {
        try OptionCheck.whole("--iterations", iterations, 1...100_000_000)
        try OptionCheck.whole("--warmup", warmup, 0...100_000_000)
        try OptionCheck.whole("--random-points", randomPoints, 1...100_000_000)
        try HostMemory.check("--random-points", count: randomPoints, bytesPerItem: 1024)
        try OptionCheck.whole("--densify-interval", densifyInterval, 0...100_000_000)
        try OptionCheck.choice("--densify", densify, DensificationStrategy.allCases.map(\.rawValue))
    }

    func run() throws {
        try runReportingErrors {
            let loaded = try SceneLoader.load(scene)
            let (frames, _) = try SceneImages.load(loaded.trainFrames, root: loaded.root, downscale: downscale)
            var config = GaussianTrainingConfig()
            config.iterations = warmup + iterations
            config.randomPoints = randomPoints
            config.sparseAdam = sparseAdam
            // A trained model: its full SH degree from the first steps on.
            if model != nil { config.shDegreeInterval = 1 }
            config.densification.from = 0
            config.densification.interval = densifyInterval
            config.densify = DensificationStrategy(rawValue: densify) ?? config.densify
            config.mcmc.from = 0
            config.mcmc.interval = densifyInterval
            // The images at the size asked for, every step.
            config.resolution.downscales = 0
            var initial: GaussianModel
            let dynamic = !frames.isEmpty && frames.allSatisfy { $0.frame.time != nil }
            if dynamic && model == nil {
                config.randomPoints = randomPoints
                config.initialTimeScale = GaussianTrainingConfig.dynamic.initialTimeScale
            }
            if let model {
                initial = try GaussianModelFile.read(path: model)
                config.maxSHDegree = initial.shDegree
            } else {
                initial = GaussianInitialization.forScene(points: loaded.points, poses: frames.map(\.frame.pose), config: config)
                if dynamic {
                    let times = frames.compactMap(\.frame.time)
                    initial = GaussianInitialization.addingTime(to: initial, times: times.min()!...times.max()!, config: config)
                }
            }
            config.mcmc.budget = initial.count
            let device = try ComputeDevice.make()
            let bg: SIMD3<Float> = frames.contains { $0.image.hasAlpha } ? SIMD3(1, 1, 1) : .zero
            let trainer = try GaussianTrainer(device: device, frames: frames, initial: initial,
                                              extent: loaded.normalization.extent, background: bg, config: config)
            trainer.profileKernels = profile
            log("bench train: \(initial.count) Gaussians, \(frames.count) views on \(device.info.displayName)")
            for _ in 0..<warmup { try trainer.step() }
            var stages: [String: [Double]] = [:]
            var densifyEvents: [Double] = []
            var forwardGPU: [String: [Double]] = [:]
            var kernelGPU: [String: [Double]] = [:]
            var backwardGPU: [String: [Double]] = [:]
            let start = Date()
            for _ in 0..<iterations {
                try trainer.step()
                for (k, v) in trainer.lastStageMilliseconds where k != "densify" { stages[k, default: []].append(v) }
                for (k, v) in trainer.rasterizer.lastTimings where k != "total" { forwardGPU[k, default: []].append(v) }
                for (k, v) in trainer.lastKernelMilliseconds { kernelGPU[k, default: []].append(v) }
                for (k, v) in trainer.rasterizer.lastBackwardTimings { backwardGPU[k, default: []].append(v) }
                let d = trainer.lastStageMilliseconds["densify"] ?? 0
                stages["densify", default: []].append(d)
                let densified = config.densify == .mcmc ? config.mcmc.refines(at: trainer.iteration) : config.densification.densifies(at: trainer.iteration)
                if densified { densifyEvents.append(d) }
            }
            let seconds = Date().timeIntervalSince(start)
            var summary = stages.filter { $0.key != "densify" }.mapValues { round3(median($0)) }
            summary["densify"] = round3((stages["densify"] ?? []).reduce(0, +) / Double(max(1, iterations)))
            let result: [String: Any] = [
                "benchmark": "train",
                "device": device.info.displayName,
                "scene": loaded.root,
                "gaussians": initial.count,
                "kind": initial.kind,
                "gaussians_after": trainer.rasterizer.gaussianCount,
                "densify": config.densify.rawValue,
                "densify_events": densifyEvents.count,
                "densify_event_ms": densifyEvents.isEmpty ? 0 : round3(median(densifyEvents)),
                "views": frames.count,
                "sparse_adam": sparseAdam,
                "width": frames.first?.image.width ?? 0,
                "height": frames.first?.image.height ?? 0,
                "iterations": iterations,
                "iterations_per_s": round3(Double(iterations) / seconds),
                "ms_per_iteration": round3(seconds * 1000 / Double(iterations)),
                "stages_ms": summary,
                "forward_gpu_ms": forwardGPU.mapValues { round3(median($0)) },
                "backward_gpu_ms": backwardGPU.mapValues { round3(median($0)) },
            ]
            var output = result
            if profile { output["loss_optimiser_gpu_ms"] = kernelGPU.mapValues { round3(median($0)) } }
            if json { try printJSON(output) } else {
                print("train \(iterations) iterations: \(round3(Double(iterations) / seconds)) it/s; stages \(summary)")
            }
        }
    }
}
