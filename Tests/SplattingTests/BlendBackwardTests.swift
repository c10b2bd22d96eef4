import Compute
import ComputeTestSupport
import Datasets
import Geometry
@testable import Splatting
import XCTest

/// The blend backward pass, checked two ways: the Double twin against central
/// finite differences, and the GPU kernel against the twin.
final class BlendBackwardTests: GPUTestCase {
    /// A scene without discontinuities: three large, half-transparent
    /// Gaussians covering the whole 24x20 image, so at every pixel each one's
    /// alpha is far above the 1/255 cut, below the 0.99 clamp, the power is
    /// never positive and T never falls under 1e-4; depths are far apart, so
    /// small steps never reorder them. Only then is the image a smooth
    /// function of the parameters, which central differences need.
    func smoothScene() -> [ProjectedGaussianD] {
        let tiles = SIMD2(2, 2)
        return [
            ProjectedGaussianD(index: 0, mean: SIMD2(9.3, 8.1), conic: SIMD3(1.0 / 180, 0.0012, 1.0 / 150), opacity: 0.55,
                               color: SIMD3(0.9, 0.2, 0.1), depth: 2.0, tileMin: .zero, tileMax: tiles),
            ProjectedGaussianD(index: 1, mean: SIMD2(15.7, 11.4), conic: SIMD3(1.0 / 120, -0.002, 1.0 / 200), opacity: 0.45,
                               color: SIMD3(0.1, 0.7, 0.3), depth: 3.5, tileMin: .zero, tileMax: tiles),
            ProjectedGaussianD(index: 2, mean: SIMD2(12.2, 6.6), conic: SIMD3(1.0 / 250, 0.0, 1.0 / 250), opacity: 0.6,
                               color: SIMD3(0.2, 0.3, 0.95), depth: 5.0, tileMin: .zero, tileMax: tiles),
        ]
    }

    func testTwinMatchesFiniteDifferences() {
        let (w, h) = (24, 20)
        let bg = SIMD3(0.3, 0.5, 0.7)
        var rng = SplitMix64(seed: 3)
        let wC = (0..<w * h * 3).map { _ in Double(rng.uniform(-1, 1)) }
        let wA = (0..<w * h).map { _ in Double(rng.uniform(-1, 1)) }
        let wD = (0..<w * h).map { _ in Double(rng.uniform(-1, 1)) * 0.1 }
        func loss(_ s: [ProjectedGaussianD]) -> Double {
            let o = RasterizerBackward.forward(s, width: w, height: h, background: bg)
            return zip(o.color, wC).map(*).reduce(0, +) + zip(o.alpha, wA).map(*).reduce(0, +) + zip(o.depth, wD).map(*).reduce(0, +)
        }
        let scene = smoothScene()
        let grads = RasterizerBackward.blend(scene, width: w, height: h, background: bg, gradColor: wC, gradAlpha: wA, gradDepth: wD)
        // Every parameter, perturbed by +-h.
        let params: [(String, WritableKeyPath<ProjectedGaussianD, Double>, KeyPath<SplatGradientD, Double>, Double)] = [
            ("mean.x", \.mean.x, \.mean.x, 1e-4), ("mean.y", \.mean.y, \.mean.y, 1e-4),
            ("conic.a", \.conic.x, \.conic.x, 1e-7), ("conic.b", \.conic.y, \.conic.y, 1e-7), ("conic.c", \.conic.z, \.conic.z, 1e-7),
            ("opacity", \.opacity, \.opacity, 1e-6),
            ("color.r", \.color.x, \.color.x, 1e-6), ("color.g", \.color.y, \.color.y, 1e-6), ("color.b", \.color.z, \.color.z, 1e-6),
            ("depth", \.depth, \.depth, 1e-6),
        ]
        for i in scene.indices {
            for (name, key, gradKey, step) in params {
                var plus = scene, minus = scene
                plus[i][keyPath: key] += step
                minus[i][keyPath: key] -= step
                let numeric = (loss(plus) - loss(minus)) / (2 * step)
                let analytic = grads[i][keyPath: gradKey]
                XCTAssertEqual(analytic, numeric, accuracy: 1e-5 * max(1, abs(numeric)), "Gaussian \(i) \(name)")
            }
        }
    }

    /// Both kernel shapes: one pixel per thread (GPUs) and several (CPU drivers),
    /// at a size whose edge tiles are partial (rows and columns outside the image).
    func testGPUMatchesTheTwin() throws {
        guard device.info.float32AtomicAdd else {
            throw XCTSkip("\(device.info.displayName) lacks shaderBufferFloat32AtomicAdd (VK_EXT_shader_atomic_float): "
                          + "the blend backward kernel needs float atomics; the test checks it against the twin at several pixels per thread")
        }
        for pixelsPerThread in [1, 8, 16] {
            try checkGPUAgainstTheTwin(pixelsPerThread: pixelsPerThread, width: 64, height: 48)
            try checkGPUAgainstTheTwin(pixelsPerThread: pixelsPerThread, width: 37, height: 29)
        }
        // Without a depth gradient (training) the kernel skips the depth terms.
        try checkGPUAgainstTheTwin(pixelsPerThread: 16, width: 37, height: 29, depth: false)
        try checkGPUAgainstTheTwin(pixelsPerThread: 1, width: 37, height: 29, depth: false)
    }

    func checkGPUAgainstTheTwin(pixelsPerThread: Int, width: Int, height: Int, depth: Bool = true) throws {
        let fixtures = RasterizerGPUTests(name: "fixture", testClosure: { _ in })
        let model = fixtures.fixture(count: 200, degree: 1, extras: false)
        let camera = fixtures.camera(width: width, height: height)
        let settings = RasterSettings(background: SIMD3(0.2, 0.4, 0.6))
        let rasterizer = try GaussianRasterizer(device: device, pixelsPerThread: pixelsPerThread)
        try rasterizer.setModel(model)
        _ = try rasterizer.render(camera: camera, settings: settings)
        var rng = SplitMix64(seed: 5)
        let pixels = width * height
        let gC = (0..<pixels * 3).map { _ in rng.uniform(-1, 1) }
        let gA = (0..<pixels).map { _ in rng.uniform(-1, 1) }
        let gD = (0..<pixels).map { _ in depth ? rng.uniform(-0.1, 0.1) : 0 }
        let gpu = try rasterizer.backwardBlend(gradColor: gC, gradAlpha: gA, gradDepth: depth ? gD : nil)

        let projected = RasterizerReference.project(model, camera: camera, settings: settings).compactMap { $0 }.map(ProjectedGaussianD.init)
        let twin = RasterizerBackward.blend(projected, width: width, height: height, background: SIMD3(0.2, 0.4, 0.6),
                                            gradColor: gC.map(Double.init), gradAlpha: gA.map(Double.init), gradDepth: gD.map(Double.init))
        var checked = 0
        for (k, g) in projected.enumerated() {
            let t = twin[k], q = gpu[g.index]
            let pairs: [(Double, Float, String)] = [
                (t.mean.x, q.meanX, "mean.x"), (t.mean.y, q.meanY, "mean.y"), (t.conic.x, q.conicA, "conic.a"),
                (t.conic.y, q.conicB, "conic.b"), (t.conic.z, q.conicC, "conic.c"), (t.opacity, q.opacity, "opacity"),
                (t.color.x, q.colorR, "color.r"), (t.color.y, q.colorG, "color.g"), (t.color.z, q.colorB, "color.b"),
                (t.depth, q.depth, "depth"),
            ]
            for (expected, actual, name) in pairs {
                XCTAssertTrue(actual.isFinite, "Gaussian \(g.index) \(name) is not finite")
                XCTAssertEqual(Double(actual), expected, accuracy: 2e-3 * max(1, abs(expected)),
                               "Gaussian \(g.index) \(name), \(width)x\(height), ppt \(pixelsPerThread), depth \(depth)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 100, "\(width)x\(height), ppt \(pixelsPerThread)")
    }

    func testWholeBackwardMatchesTheTwins() throws {
        guard device.info.float32AtomicAdd else {
            throw XCTSkip("\(device.info.displayName) lacks shaderBufferFloat32AtomicAdd (VK_EXT_shader_atomic_float): "
                          + "the blend backward kernel needs float atomics; the test checks the whole rasterizer backward against the twins")
        }
        let fixtures = RasterizerGPUTests(name: "fixture", testClosure: { _ in })
        for (degree, antialias) in [(0, false), (2, true), (3, false)] {
            let model = fixtures.fixture(count: 120, degree: degree, extras: false)
            let camera = fixtures.camera(width: 48, height: 40)
            let settings = RasterSettings(background: SIMD3(0.3, 0.3, 0.3), antialias: antialias)
            let rasterizer = try GaussianRasterizer(device: device)
            try rasterizer.setModel(model)
            _ = try rasterizer.render(camera: camera, settings: settings)
            var rng = SplitMix64(seed: 9)
            let pixels = 48 * 40
            let gC = (0..<pixels * 3).map { _ in rng.uniform(-1, 1) }
            let gA = (0..<pixels).map { _ in rng.uniform(-1, 1) }
            let gD = (0..<pixels).map { _ in rng.uniform(-0.1, 0.1) }
            let gpu = try rasterizer.backward(gradColor: gC, gradAlpha: gA, gradDepth: gD)

            let projected = RasterizerReference.project(model, camera: camera, settings: settings).compactMap { $0 }
            let splatGrads = RasterizerBackward.blend(projected.map(ProjectedGaussianD.init), width: 48, height: 40,
                                                      background: SIMD3(0.3, 0.3, 0.3), gradColor: gC.map(Double.init),
                                                      gradAlpha: gA.map(Double.init), gradDepth: gD.map(Double.init))
            let cam = ProjectionBackward.Camera(camera)
            let k = (degree + 1) * (degree + 1)
            for (j, g) in projected.enumerated() {
                let i = g.index
                let twin = ProjectionBackward.backward(GaussianParametersD(model, i), camera: cam, degree: degree,
                                                       antialias: antialias, gradient: splatGrads[j])
                func close(_ actual: Float, _ expected: Double, _ what: String) {
                    XCTAssertTrue(actual.isFinite, "\(what) not finite")
                    XCTAssertEqual(Double(actual), expected, accuracy: 5e-3 * max(1, abs(expected)),
                                   "Gaussian \(i) \(what), degree \(degree), antialias \(antialias)")
                }
                for c in 0..<3 {
                    close(gpu.positions[3 * i + c], twin.position[c], "position[\(c)]")
                    close(gpu.scales[3 * i + c], twin.logScale[c], "logScale[\(c)]")
                    close(gpu.shDC[3 * i + c], twin.sh[0][c], "sh dc[\(c)]")
                    for r in 1..<k { close(gpu.shRest[i * 3 * (k - 1) + c * (k - 1) + r - 1], twin.sh[r][c], "sh rest[\(c)][\(r)]") }
                }
                for c in 0..<4 { close(gpu.rotations[4 * i + c], twin.rotation[c], "rotation[\(c)]") }
                close(gpu.opacities[i], twin.logit, "logit")
            }
        }
    }
}
