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
        guard device.info.float32AtomicAdd else { return }
        let scene = try SceneLoader.load(Self.demo)
        let (frames, _) = try SceneImages.load(scene.frames, root: scene.root, downscale: 1,
                                               cache: ImageCache(folder: NSTemporaryDirectory() + "splat-train-test-\(UUID().uuidString)"))
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
        XCTAssertTrue(try trainer.rasterizer.currentModel().positions.allSatisfy(\.isFinite))
    }
}
