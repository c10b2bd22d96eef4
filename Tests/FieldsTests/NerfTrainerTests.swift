import Compute
import ComputeTestSupport
import Datasets
@testable import Fields
import Foundation
import Geometry
import XCTest

final class NerfTrainerTests: GPUTestCase {
    static let demo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Scenes/demo").path

    /// End to end on the project's 64x64 demo scene (Gaussians within 1.3 of
    /// the origin, images with alpha, so random backgrounds): a small
    /// configuration (L8 T14 hash grid, 32-wide networks, 512 rays, a 32^3
    /// grid, 128 steps across the box) so that lavapipe runs it in seconds.
    /// The loss must fall well below where it starts and stay finite.
    func testDemoSceneLossFalls() throws {
        let scene = try SceneLoader.load(Self.demo)
        let (frames, _) = try SceneImages.load(scene.trainFrames, root: scene.root, downscale: 1,
                                               cache: ImageCache(folder: NSTemporaryDirectory() + "splat-nerf-test-\(UUID().uuidString)"))
        let views = frames.map { NerfTrainer.View(image: $0.image, intrinsics: $0.intrinsics, pose: $0.frame.pose) }
        var config = NerfConfig()
        config.encoding = HashGridConfig(levels: 8, featuresPerLevel: 2, log2HashmapSize: 14)
        config.network = MLPConfig(neurons: 32, hiddenLayers: 1)
        config.rgbNetwork = MLPConfig(neurons: 32, hiddenLayers: 1)
        config.raysPerBatch = 512
        config.samplesPerBatch = 8192
        config.gridSize = 32
        config.gridUpdatePoints = 4096
        config.marchSteps = 128
        let trainer = try NerfTrainer(device: device, views: views, boxCenter: .zero, boxSize: 2.8, config: config,
                                      randomBackground: true, seed: 3)
        var losses: [Float] = []
        for _ in 0..<80 { losses.append(try trainer.step()) }
        let first = losses.prefix(5).reduce(0, +) / 5, last = losses.suffix(5).reduce(0, +) / 5
        XCTAssertTrue(losses.allSatisfy(\.isFinite))
        XCTAssertLessThan(last, first * 0.5, "loss \(first) -> \(last)")
        // A held-out view over white: rendered, finite, and closer to the photo than a blank frame.
        let (tests, _) = try SceneImages.load(Array(scene.testFrames.prefix(1)), root: scene.root, downscale: 1)
        let f = try XCTUnwrap(tests.first)
        let image = try trainer.render(intrinsics: f.intrinsics, pose: f.frame.pose, background: SIMD3(1, 1, 1), chunk: 1000)
        XCTAssertEqual(image.count, f.image.width * f.image.height * 4)
        XCTAssertTrue(image.allSatisfy(\.isFinite))
        var mse = 0.0, blank = 0.0
        let c = f.image.channels
        for p in 0..<(f.image.width * f.image.height) {
            let a = c == 4 ? Double(f.image.pixels[c * p + 3]) / 255 : 1
            for k in 0..<3 {
                let target = Double(f.image.pixels[c * p + k]) / 255 * a + (1 - a)
                mse += pow(Double(min(max(image[4 * p + k], 0), 1)) - target, 2)
                blank += pow(1 - target, 2)
            }
        }
        let psnr = -10 * log10(mse / Double(3 * f.image.width * f.image.height))
        let blankPSNR = -10 * log10(blank / Double(3 * f.image.width * f.image.height))
        XCTAssertGreaterThan(psnr, blankPSNR + 3, "test view \(psnr) dB vs a white frame's \(blankPSNR) dB")
        // The model file round trip renders the same image; damaged files are refused.
        let path = NSTemporaryDirectory() + "splat-nerf-\(UUID().uuidString).nerf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try NerfModelFile.write(trainer, to: path)
        let loaded = try NerfTrainer(device: device, model: try NerfModelFile.read(path: path))
        XCTAssertEqual(try loaded.render(intrinsics: f.intrinsics, pose: f.frame.pose, background: SIMD3(1, 1, 1), chunk: 1000), image)
        XCTAssertEqual(loaded.iteration, 80)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try NerfModelFile.read(path: path)) { XCTAssertTrue("\($0)".contains("truncated"), "\($0)") }
        var other = bytes
        other[8] = 9
        try other.write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try NerfModelFile.read(path: path)) { XCTAssertTrue("\($0)".contains("version 9"), "\($0)") }
        print("NeRF demo: loss \(first) -> \(last) (batch PSNR \(-10 * log10(first)) -> \(-10 * log10(last)) dB); test view \(psnr) dB (white frame \(blankPSNR) dB)")
    }
}
