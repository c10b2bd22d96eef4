import Compute
import ComputeTestSupport
import Datasets
import Geometry
@testable import Splatting
import Training
import XCTest

/// A short training on the project's demo scene (64x64, 24 views): the loss
/// must fall and the held-out PSNR must rise well above the initial model's.
final class GaussianTrainingTests: GPUTestCase {
    static let demo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path + "/Scenes/demo"

    func psnr(_ trainer: GaussianTrainer, _ frames: [LoadedFrame], background: SIMD3<Double>) throws -> Double {
        var total = 0.0
        for f in frames {
            let image = try trainer.rasterizer.render(camera: RasterCamera(intrinsics: f.intrinsics, pose: f.frame.pose),
                                                      settings: RasterSettings(background: SIMD3(Float(background.x), Float(background.y), Float(background.z))))
            let target = GaussianTrainer.composite(f.image, over: background)
            total += ImageMetrics.psnr(rendered: image.color, target: target.pixels)
        }
        return total / Double(frames.count)
    }

    func testDemoSceneTrains() throws {
        guard device.info.float32AtomicAdd else {
            throw XCTSkip("\(device.info.displayName) lacks shaderBufferFloat32AtomicAdd (VK_EXT_shader_atomic_float): "
                          + "training needs float atomics; the test checks that the demo scene trains to a PSNR")
        }
        let scene = try SceneLoader.load(Self.demo)
        let cache = ImageCache(folder: NSTemporaryDirectory() + "splat-train-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: cache.folder) }
        let (frames, _) = try SceneImages.load(scene.frames, root: scene.root, downscale: 1,
                                               cache: cache)
        let train = frames.filter { $0.frame.split == .train }, test = frames.filter { $0.frame.split == .test }
        var config = GaussianTrainingConfig()
        config.iterations = 300
        config.randomPoints = 3000
        config.seed = 1
        let initial = GaussianInitialization.random(in: Box(min: Vector3(-1.3, -1.3, -1.3), max: Vector3(1.3, 1.3, 1.3)), config: config)
        let white = SIMD3<Double>(1, 1, 1)
        let trainer = try GaussianTrainer(device: device, frames: train, initial: initial, extent: scene.normalization.extent,
                                          background: SIMD3(1, 1, 1), config: config)
        let before = try psnr(trainer, test, background: white)
        var first: Float = 0, last: Float = 0
        for k in 0..<config.iterations {
            let v = try trainer.step()
            if k < 10 { first += v.loss }
            if k >= config.iterations - 10 { last += v.loss }
        }
        let after = try psnr(trainer, test, background: white)
        print("demo training: test PSNR \(before) -> \(after) dB, loss \(first / 10) -> \(last / 10)")
        XCTAssertLessThan(last, first * 0.7)
        XCTAssertGreaterThan(after, before + 3)
        // The fixed bar of the issue: 300 iterations reach 17 dB on the held-out views (measured 19.8).
        XCTAssertGreaterThan(after, 17)
        XCTAssertTrue(try trainer.rasterizer.currentModel().positions.allSatisfy(\.isFinite))
    }

    func demoFrames() throws -> (train: [LoadedFrame], test: [LoadedFrame], extent: Double) {
        let scene = try SceneLoader.load(Self.demo)
        let cache = ImageCache(folder: NSTemporaryDirectory() + "splat-train-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: cache.folder) }
        let (frames, _) = try SceneImages.load(scene.frames, root: scene.root, downscale: 1,
                                               cache: cache)
        return (frames.filter { $0.frame.split == .train }, frames.filter { $0.frame.split == .test }, scene.normalization.extent)
    }

    /// A short schedule that densifies within 60 steps and passes through
    /// the three sizes of the resolution schedule: adaptive densification
    /// also resets opacities and prunes; MCMC relocates and grows to a budget.
    func shortConfig(_ strategy: DensificationStrategy = .adaptive) -> GaussianTrainingConfig {
        var config = GaussianTrainingConfig()
        config.densify = strategy
        config.iterations = 60
        config.randomPoints = 1500
        config.seed = 2
        config.densification.from = 5
        config.densification.interval = 10
        config.densification.opacityResetInterval = 25
        config.densification.gradThreshold = 2e-4
        config.mcmc.from = 5
        config.mcmc.interval = 10
        config.mcmc.budget = 1800
        config.resolution.interval = 20
        return config
    }

    /// Training straight through and training with a checkpoint written to
    /// disk, read back and resumed in a new trainer end in the same place
    /// (within float-atomic noise: test PSNR within 0.1 dB, CONVENTIONS.md).
    func testResumeMatchesUninterrupted() throws {
        guard device.info.float32AtomicAdd else {
            throw XCTSkip("\(device.info.displayName) lacks shaderBufferFloat32AtomicAdd (VK_EXT_shader_atomic_float): "
                          + "training needs float atomics; the test checks that a resumed checkpoint ends where uninterrupted training does")
        }
        for strategy in DensificationStrategy.allCases { try resumeMatchesUninterrupted(strategy) }
    }

    func resumeMatchesUninterrupted(_ strategy: DensificationStrategy) throws {
        let (train, test, extent) = try demoFrames()
        let config = shortConfig(strategy)
        let initial = GaussianInitialization.random(in: Box(min: Vector3(-1.3, -1.3, -1.3), max: Vector3(1.3, 1.3, 1.3)), config: config)
        let white = SIMD3<Double>(1, 1, 1)
        let straight = try GaussianTrainer(device: device, frames: train, initial: initial, extent: extent, background: SIMD3(1, 1, 1), config: config)
        for _ in 0..<60 { try straight.step() }
        XCTAssertNotEqual(straight.rasterizer.gaussianCount, initial.count, "densification ran")
        if strategy == .mcmc {
            XCTAssertEqual(straight.rasterizer.gaussianCount, config.mcmc.budget, "MCMC grew to its budget and stopped")
            XCTAssertNotNil(straight.lastRefinement)
        }

        let first = try GaussianTrainer(device: device, frames: train, initial: initial, extent: extent, background: SIMD3(1, 1, 1), config: config)
        for _ in 0..<33 { try first.step() }
        let folder = NSTemporaryDirectory() + "splat-checkpoint-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try first.checkpoint().write(to: folder)
        let saved = try GaussianCheckpoint.read(from: folder)
        XCTAssertEqual(saved.iteration, 33)
        XCTAssertEqual(saved.model, try first.rasterizer.currentModel())
        let resumed = try GaussianTrainer(device: device, frames: train, initial: GaussianModel(count: 1, shDegree: 3), extent: extent,
                                          background: SIMD3(1, 1, 1), config: saved.config)
        try resumed.restore(saved)
        for _ in 0..<27 { try resumed.step() }
        XCTAssertEqual(resumed.iteration, 60)
        let a = try psnr(straight, test, background: white), b = try psnr(resumed, test, background: white)
        print("resume (\(strategy)): straight \(a) dB (\(straight.rasterizer.gaussianCount) Gaussians), resumed \(b) dB (\(resumed.rasterizer.gaussianCount))")
        XCTAssertEqual(a, b, accuracy: 0.1)
        XCTAssertEqual(Double(straight.rasterizer.gaussianCount), Double(resumed.rasterizer.gaussianCount),
                       accuracy: 0.02 * Double(straight.rasterizer.gaussianCount))
    }

    func testDamagedCheckpointsAreRefused() throws {
        let (train, _, extent) = try demoFrames()
        var config = shortConfig()
        config.randomPoints = 50
        let initial = GaussianInitialization.random(in: Box(min: Vector3(-1, -1, -1), max: Vector3(1, 1, 1)), config: config)
        let trainer = try GaussianTrainer(device: device, frames: train, initial: initial, extent: extent, background: SIMD3(1, 1, 1), config: config)
        let folder = NSTemporaryDirectory() + "splat-checkpoint-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try trainer.checkpoint().write(to: folder)
        let path = folder + "/" + GaussianCheckpoint.fileName
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        func refused(_ bytes: Data, _ expected: String) {
            try? bytes.write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try GaussianCheckpoint.read(from: folder)) { error in
                XCTAssertTrue("\(error)".contains(expected) && "\(error)".contains(path), "\(error)")
            }
        }
        refused(data.prefix(data.count - 10), "truncated")
        refused(Data("NOTACHECKPOINT..".utf8) + data.dropFirst(16), "bad magic")
        var future = data
        future[8] = 9
        refused(future, "version 9")
        XCTAssertThrowsError(try GaussianCheckpoint.read(from: NSTemporaryDirectory() + "no-such-\(UUID().uuidString)"))
    }

    /// Degenerate captures train without NaN: one image, and three identical
    /// cameras (no crossing point of the optical axes for the initial box).
    func testSingleImageAndIdenticalCamerasTrain() throws {
        guard device.info.float32AtomicAdd else {
            throw XCTSkip("\(device.info.displayName) lacks shaderBufferFloat32AtomicAdd (VK_EXT_shader_atomic_float): "
                          + "training needs float atomics; the test checks that one image and identical cameras train without NaN")
        }
        let (train, _, _) = try demoFrames()
        for frames in [[train[0]], [train[0], train[0], train[0]]] {
            var config = shortConfig(.mcmc)
            config.iterations = 30
            config.randomPoints = 500
            let box = GaussianInitialization.lookAtBox(frames.map(\.frame.pose))
            let centre = (box.min + box.max) / 2
            let pose = frames[0].frame.pose
            XCTAssertGreaterThan((centre - pose.position).dot(pose.forward), 0.5, "the box is in front of the camera")
            let initial = GaussianInitialization.forScene(points: nil, poses: frames.map(\.frame.pose), config: config)
            let trainer = try GaussianTrainer(device: device, frames: frames, initial: initial, extent: 1, background: SIMD3(1, 1, 1), config: config)
            for _ in 0..<30 {
                let v = try trainer.step()
                XCTAssertTrue(v.loss.isFinite)
            }
            let model = try trainer.rasterizer.currentModel()
            XCTAssertTrue(model.positions.allSatisfy(\.isFinite) && model.scales.allSatisfy(\.isFinite) && model.opacities.allSatisfy(\.isFinite))
        }
    }
}
