import Compute
import ComputeTestSupport
import Datasets
import Geometry
@testable import Splatting
import Training
import XCTest

/// 4D space-time Gaussians: the slice (GaussianSlice, the twin of the 4D
/// front end) against central finite differences in Double, the GPU front
/// end against the 3D pipeline rendering the twin's slice, and the GPU
/// backward pass against finite differences of GPU renders.
final class Gaussians4DTests: GPUTestCase {
    var rng = SplitMix64(seed: 41)

    func randomParameters() -> Gaussian4DParametersD {
        func u(_ r: ClosedRange<Double>) -> Double { Double.random(in: r, using: &rng) }
        return Gaussian4DParametersD(
            position: SIMD3(u(-1...1), u(-1...1), u(-1...1)), timeMean: u(0.3...0.7),
            logScale: SIMD4(u(-1.5 ... -0.5), u(-1.5 ... -0.5), u(-1.5 ... -0.5), u(-1.8 ... -1.2)),
            left: SIMD4(u(-1...1), u(-1...1), u(-1...1), u(-1...1)), right: SIMD4(u(-1...1), u(-1...1), u(-1...1), u(-1...1)),
            logit: u(-1...1))
    }

    /// The twin's backward against central differences of a scalar made of
    /// every slice output (mean, covariance, opacity) with fixed random
    /// weights. The slice is smooth everywhere except at the cutoff, which
    /// the times stay well inside.
    func testSliceBackwardMatchesFiniteDifferences() throws {
        for trial in 0..<6 {
            let g = randomParameters()
            let time = Double.random(in: 0.35...0.65, using: &rng)
            let wMean = SIMD3((0..<3).map { _ in Double.random(in: -1...1, using: &rng) })
            let wCov = (0..<3).map { _ in (0..<3).map { _ in Double.random(in: -1...1, using: &rng) } }
            let wOpacity = Double.random(in: -1...1, using: &rng)
            func loss(_ p: Gaussian4DParametersD) throws -> Double {
                let s = try XCTUnwrap(GaussianSlice.slice(p, time: time))
                var value = (s.mean * wMean).sum() + wOpacity * s.opacity
                for r in 0..<3 { for c in 0..<3 { value += wCov[r][c] * s.covariance[r][c] } }
                return value
            }
            let analytic = GaussianSlice.backward(g, time: time, gradMean: wMean, gradCovariance: wCov, gradOpacity: wOpacity)
            let h = 1e-6
            func check(_ name: String, _ a: Double, _ change: (inout Gaussian4DParametersD, Double) -> Void) throws {
                var plus = g, minus = g
                change(&plus, h)
                change(&minus, -h)
                let numeric = (try loss(plus) - loss(minus)) / (2 * h)
                XCTAssertEqual(a, numeric, accuracy: 1e-6 + 1e-5 * abs(numeric), "trial \(trial): \(name)")
            }
            for k in 0..<3 { try check("position \(k)", analytic.position[k]) { $0.position[k] += $1 } }
            try check("time mean", analytic.timeMean) { $0.timeMean += $1 }
            for k in 0..<4 { try check("log-scale \(k)", analytic.logScale[k]) { $0.logScale[k] += $1 } }
            for k in 0..<4 { try check("left \(k)", analytic.left[k]) { $0.left[k] += $1 } }
            for k in 0..<4 { try check("right \(k)", analytic.right[k]) { $0.right[k] += $1 } }
            try check("logit", analytic.logit) { $0.logit += $1 }
        }
    }

    /// Without rotation the slice is the spatial Gaussian, still, weighted
    /// by the time Gaussian.
    func testUnrotatedSliceIsTheSpatialGaussian() throws {
        let g = Gaussian4DParametersD(position: SIMD3(1, 2, 3), timeMean: 0.5, logScale: SIMD4(log(0.1), log(0.2), log(0.3), log(0.25)),
                                      left: SIMD4(1, 0, 0, 0), right: SIMD4(2, 0, 0, 0), logit: 0)
        let s = try XCTUnwrap(GaussianSlice.slice(g, time: 0.75))
        XCTAssertEqual(s.mean, SIMD3(1, 2, 3))
        XCTAssertEqual(s.covariance[0][0], 0.01, accuracy: 1e-12)
        XCTAssertEqual(s.covariance[2][2], 0.09, accuracy: 1e-12)
        XCTAssertEqual(s.covariance[0][1], 0, accuracy: 1e-12)
        XCTAssertEqual(s.weight, exp(-0.5), accuracy: 1e-12)
        XCTAssertEqual(s.opacity, 0.5 * exp(-0.5), accuracy: 1e-12)
        // Beyond the cutoff: skipped.
        XCTAssertNil(GaussianSlice.slice(g, time: 0.5 + 0.25 * (2 * GaussianSlice.cutoff + 0.1).squareRoot()))
    }

    /// The symmetric eigensolver that `sliceModel` uses rebuilds its input.
    func testSymmetricEigenRebuildsTheMatrix() {
        for _ in 0..<20 {
            let a = (0..<3).map { _ in (0..<3).map { _ in Double.random(in: -1...1, using: &rng) } }
            let m = (0..<3).map { r in (0..<3).map { c in (0..<3).map { a[r][$0] * a[c][$0] }.reduce(0, +) } }
            let (values, vectors) = GaussianSlice.symmetricEigen(m)
            for r in 0..<3 {
                for c in 0..<3 {
                    let rebuilt = (0..<3).map { values[$0] * vectors[$0][r] * vectors[$0][c] }.reduce(0, +)
                    XCTAssertEqual(rebuilt, m[r][c], accuracy: 1e-10)
                }
            }
        }
    }

    /// A random 4D model in front of the default test camera: moving
    /// (rotations mix space and time) and fading in and out.
    func fixture(count: Int, degree: Int = 1) -> GaussianModel {
        var m = GaussianModel(count: count, shDegree: degree, hasTime: true)
        for i in 0..<count {
            m.positions[3 * i] = Float.random(in: -1.5...1.5, using: &rng)
            m.positions[3 * i + 1] = Float.random(in: -1...1, using: &rng)
            m.positions[3 * i + 2] = Float.random(in: 3...6, using: &rng)
            for k in 0..<3 {
                m.scales[3 * i + k] = Float.random(in: -2.5 ... -1, using: &rng)
                m.shDC[3 * i + k] = Float.random(in: -1.5...1.5, using: &rng)
            }
            for k in 0..<4 {
                m.rotations[4 * i + k] = Float.random(in: -1...1, using: &rng)
                m.rotationsRight[4 * i + k] = Float.random(in: -1...1, using: &rng)
            }
            m.opacities[i] = Float.random(in: -1...2, using: &rng)
            m.timeMeans[i] = Float.random(in: 0...1, using: &rng)
            m.timeScales[i] = Float.random(in: -2 ... -0.5, using: &rng)
        }
        for k in m.shRest.indices { m.shRest[k] = Float.random(in: -0.3...0.3, using: &rng) }
        return m
    }

    func camera(_ size: Int) -> RasterCamera {
        RasterCamera(width: size, height: size, fx: Float(size) * 0.8, fy: Float(size) * 0.8, cx: Float(size) / 2 + 0.5,
                     cy: Float(size) / 2 - 0.5, rotation: [1, 0, 0, 0, 1, 0, 0, 0, 1], translation: [0, 0, 0])
    }

    /// The GPU's 4D front end at time t renders what the 3D pipeline renders
    /// of the twin's slice at t (as a 3D model: the eigenvectors and values
    /// of each sliced covariance, the time weight in the opacity).
    func testGPUSliceRendersLikeTheSlicedModel() throws {
        let model = fixture(count: 120)
        let rasterizer = try GaussianRasterizer(device: device)
        let cam = camera(64)
        for time: Float in [0, 0.37, 1] {
            let settings = RasterSettings(background: SIMD3(0.1, 0.2, 0.3), antialias: false, shDegree: 1, time: time)
            try rasterizer.setModel(model)
            let image4D = try rasterizer.render(camera: cam, settings: settings)
            let sliced = GaussianSlice.sliceModel(model, time: Double(time))
            XCTAssertGreaterThan(sliced.count, 10)
            XCTAssertLessThan(sliced.count, model.count)
            try rasterizer.setModel(sliced)
            let image3D = try rasterizer.render(camera: cam, settings: settings)
            let worst = zip(image4D.color, image3D.color).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 2e-3, "time \(time)")
            XCTAssertTrue(image4D.color.allSatisfy(\.isFinite))
            XCTAssertGreaterThan(image4D.alpha.max() ?? 0, 0.5)
        }
    }

    /// The GPU backward pass into every 4D parameter group against central
    /// differences of GPU renders (f32), along a random direction per group:
    /// L = sum(w * rgb) with fixed random w. The render is discontinuous where
    /// a splat's alpha crosses the 1/255 cut (a ring around each splat), so
    /// the scene is a few splats much larger than the image, centred in it:
    /// their rings lie outside the image, and few enough that transmittance
    /// stays far above the early stop. (Steps of 1e-4 to 1e-2 agree there;
    /// with thin slices they did not.)
    func testGPUBackwardMatchesFiniteDifferences() throws { try backwardCheck(threeD: false) }

    /// The same check on the 3D slice of the same scene: the harness itself.
    func testGPUBackwardOfTheSliceMatchesFiniteDifferences() throws { try backwardCheck(threeD: true) }

    func backwardCheck(threeD: Bool) throws {
        var model = fixture(count: 4, degree: 1)
        for i in 0..<model.count {
            for k in 0..<3 { model.scales[3 * i + k] = Float.random(in: 0.5...0.8, using: &rng) }
            model.positions[3 * i] = Float.random(in: -0.2...0.2, using: &rng)
            model.positions[3 * i + 1] = Float.random(in: -0.2...0.2, using: &rng)
            model.positions[3 * i + 2] = Float.random(in: 4...5, using: &rng)
            model.opacities[i] = Float.random(in: -1...0, using: &rng)
            model.timeMeans[i] = Float.random(in: 0.45...0.55, using: &rng)
            model.timeScales[i] = Float.random(in: -0.5...0, using: &rng)
            // Rotations near the identity: a little mixing of space and time,
            // so no slice becomes thin enough to bring its ring into the image.
            for k in 0..<4 {
                model.rotations[4 * i + k] = k == 0 ? 1 : Float.random(in: -0.2...0.2, using: &rng)
                model.rotationsRight[4 * i + k] = k == 0 ? 1 : Float.random(in: -0.2...0.2, using: &rng)
            }
        }
        let size = 32
        if threeD { model = GaussianSlice.sliceModel(model, time: 0.5) }
        XCTAssertEqual(model.count, 4)
        let cam = camera(size)
        let settings = RasterSettings(background: SIMD3(0, 0, 0), antialias: false, shDegree: 1, time: 0.5)
        let weights = (0..<(size * size * 3)).map { _ in Float.random(in: -1...1, using: &rng) }
        let rasterizer = try GaussianRasterizer(device: device)
        func loss(_ m: GaussianModel) throws -> Double {
            try rasterizer.setModel(m)
            let image = try rasterizer.render(camera: cam, settings: settings)
            return zip(image.color, weights).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        _ = try loss(model)
        let gradient = try rasterizer.backward(gradColor: weights, gradAlpha: [Float](repeating: 0, count: size * size),
                                               gradDepth: [Float](repeating: 0, count: size * size))
        XCTAssertEqual(gradient.hasTime, !threeD)
        for (k, group) in model.schema.groups.enumerated() where group.floatsPerGaussian > 0 {
            let values = model.parameterGroups[k], grads = gradient.parameterGroups[k]
            XCTAssertTrue(grads.allSatisfy(\.isFinite), group.name)
            let direction = values.map { _ in Float.random(in: -1...1, using: &rng) }
            let h: Float = 2e-3
            func shifted(_ sign: Float) -> GaussianModel {
                var groups = model.parameterGroups
                groups[k] = zip(values, direction).map { $0 + sign * h * $1 }
                return GaussianModel(shDegree: model.shDegree, parameterGroups: groups, hasTime: model.hasTime)
            }
            let numeric = (try loss(shifted(1)) - loss(shifted(-1))) / (2 * Double(h))
            let analytic = zip(grads, direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(analytic, numeric, accuracy: 0.02 * max(abs(numeric), 1), "\(group.name)")
        }
    }

    /// A 4D model survives a PLY round trip, and the file is never read as 3D.
    func testPLYRoundTripKeepsTheTime() throws {
        let model = fixture(count: 9, degree: 2)
        let data = try GaussianPLY.encode(model)
        let text = String(decoding: data.prefix(2000), as: UTF8.self)
        XCTAssertTrue(text.contains("property float t\n") && text.contains("property float scale_t\n") && text.contains("property float rot_r_3\n"))
        let back = try GaussianPLY.decode(data, path: "m.ply")
        XCTAssertTrue(back.hasTime)
        XCTAssertEqual(back, model)
        XCTAssertThrowsError(try SplatFile.encode(model)) { error in
            XCTAssertTrue("\(error)".contains("--time"), "\(error)")
        }
    }
}

/// The opacity entropy regulariser: GPU against its twin, the twin against
/// central differences of its value.
final class OpacityEntropyTests: GPUTestCase {
    func testGPUMatchesTwinAndTwinMatchesFiniteDifferences() throws {
        var rng = SplitMix64(seed: 5)
        let logits = (0..<1000).map { _ in Float.random(in: -30...8, using: &rng) } + [0, -20, -21, 40]
        let start = logits.map { _ in Float.random(in: -1...1, using: &rng) }
        var twin = start
        OpacityEntropy.gradient(logits: logits, weight: 0.5, gradients: &twin)
        let entropy = try OpacityEntropy(device: device, weight: 0.5)
        let l = try GPUBuffer(device: device, logits), g = try GPUBuffer(device: device, start)
        let stream = try CommandStream(device: device)
        try entropy.record(stream, opacities: l.slice(offset: 0, length: logits.count * 4), gradients: g.slice(offset: 0, length: logits.count * 4),
                           count: logits.count)
        try stream.run()
        let gpu = try g.read(Float.self, count: logits.count, device: device)
        for i in logits.indices { XCTAssertEqual(gpu[i], twin[i], accuracy: 1e-6, "logit \(logits[i])") }
        for i in [0, 1, 2, 3, 1000] {
            var plus = logits, minus = logits
            plus[i] += 1e-2
            minus[i] -= 1e-2
            let numeric = (OpacityEntropy.value(logits: plus, weight: 0.5) - OpacityEntropy.value(logits: minus, weight: 0.5)) / 2e-2
            XCTAssertEqual(Double(twin[i] - start[i]), numeric, accuracy: 1e-6 + 1e-3 * abs(numeric), "logit \(logits[i])")
        }
    }
}

/// The shipped dynamic scene (Scenes/dynamic: four objects moving and
/// turning, 100 views at 128 px, each at its own time) trains as 4D
/// Gaussians to a held-out PSNR well above where it starts.
final class DynamicSceneTrainingTests: GPUTestCase {
    static let scene = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path + "/Scenes/dynamic"

    func testDynamicSceneTrains() throws {
        guard device.info.float32AtomicAdd else {
            throw XCTSkip("\(device.info.displayName) lacks shaderBufferFloat32AtomicAdd: training needs float atomics")
        }
        let scene = try SceneLoader.load(Self.scene)
        let cache = ImageCache(folder: NSTemporaryDirectory() + "splat-dynamic-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: cache.folder) }
        let (frames, _) = try SceneImages.load(scene.frames, root: scene.root, downscale: 1, cache: cache)
        let train = frames.filter { $0.frame.split == .train }, test = frames.filter { $0.frame.split == .test }
        XCTAssertEqual(train.count, 100)
        var config = GaussianTrainingConfig.dynamic
        config.iterations = Self.iterations
        config.randomPoints = 5000
        config.seed = 1
        config.maxSHDegree = 1
        config.densification.maxGaussians = 128 * 128  // splat train's cap: one per pixel
        let box = GaussianInitialization.lookAtBox(train.map(\.frame.pose))
        let initial = GaussianInitialization.addingTime(to: GaussianInitialization.random(in: box, config: config), times: 0...1, config: config)
        let black = SIMD3<Float>(0, 0, 0)
        let trainer = try GaussianTrainer(device: device, frames: train, initial: initial, extent: scene.normalization.extent,
                                          background: black, config: config)
        let before = try Evaluate4D.psnr(trainer.rasterizer, test)
        for _ in 0..<config.iterations { try trainer.step() }
        let after = try Evaluate4D.psnr(trainer.rasterizer, test)
        print("dynamic scene: test PSNR \(before) -> \(after) dB after \(config.iterations) iterations, \(trainer.rasterizer.gaussianCount) Gaussians")
        // The bar: 2000 iterations measured 28.5 dB (10.5 before); the default 14,000-iteration
        // recipe reaches more (docs/measurements.md, "4D Gaussians").
        XCTAssertGreaterThan(after, Self.minimumPSNR)
        XCTAssertTrue(try trainer.rasterizer.currentModel().timeMeans.allSatisfy(\.isFinite))
    }

    static let iterations = 2000
    static let minimumPSNR = 25.0
}

/// Held-out PSNR of a 4D model, each view at its time, over black.
enum Evaluate4D {
    static func psnr(_ rasterizer: GaussianRasterizer, _ frames: [LoadedFrame]) throws -> Double {
        var total = 0.0
        for f in frames {
            let image = try rasterizer.render(camera: RasterCamera(intrinsics: f.intrinsics, pose: f.frame.pose),
                                              settings: RasterSettings(background: SIMD3(0, 0, 0), time: Float(f.frame.time ?? 0)))
            total += ImageMetrics.psnr(rendered: image.color, target: GaussianTrainer.composite(f.image, over: SIMD3(0, 0, 0)).pixels)
        }
        return total / Double(frames.count)
    }
}
