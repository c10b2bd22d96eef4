import Compute
import ComputeTestSupport
import Datasets
import Geometry
@testable import Splatting
import XCTest

/// The blend backward pass, checked two ways: the Double twin against central
/// finite differences, and the GPU kernel against the twin, for every payload
/// layout (dense C channels, sparse K of L) and both blend modes.
final class BlendBackwardTests: GPUTestCase {
    /// The payload layouts and modes the kernels are checked at: RGB (3D),
    /// C = 1, 16 and 64 channels, K = 4 sparse pairs of L = 64 channels, and
    /// grouped pairs (a language field's levels).
    static let variants: [(PayloadLayout, BlendMode)] = [
        (.rgb, .alpha), (.rgb, .additive), (PayloadLayout(channels: 1), .alpha), (PayloadLayout(channels: 16), .additive),
        (PayloadLayout(channels: 64), .alpha), (PayloadLayout(channels: 64, sparsePairs: 4), .alpha),
        (PayloadLayout(channels: 64, sparsePairs: 4), .additive),
        // A language field's payload: 3 levels of K = 4 pairs over L = 64 channels each.
        (PayloadLayout(channels: 192, sparsePairs: 12, sparseGroups: 3), .alpha),
    ]

    /// A random payload row for `layout`: channel values in [0, 1], or K
    /// distinct channels with weights in [0, 1].
    static func payloadRow(_ layout: PayloadLayout, _ rng: inout SplitMix64) -> [Double] {
        guard layout.sparsePairs > 0 else { return (0..<layout.channels).map { _ in Double(rng.uniform()) } }
        // Grouped pairs: group g's pairs name channels of group g's range only.
        let perGroup = layout.channels / layout.sparseGroups
        var channels: [Int] = []
        while channels.count < layout.sparsePairs {
            let group = channels.count / (layout.sparsePairs / layout.sparseGroups)
            let c = group * perGroup + Int(rng.uniform() * Float(perGroup)) % perGroup
            if !channels.contains(c) { channels.append(c) }
        }
        return channels.flatMap { [Double($0), Double(rng.uniform())] }
    }

    /// The payload's GPU encoding: floats, sparse channel indices as their UInt32 bit patterns.
    static func encode(_ row: [Double], _ layout: PayloadLayout) -> [Float] {
        row.enumerated().map { k, v in layout.sparsePairs > 0 && k % 2 == 0 ? Float(bitPattern: UInt32(v)) : Float(v) }
    }

    /// A scene without discontinuities: three large, half-transparent
    /// Gaussians covering the whole 24x20 image, so at every pixel each one's
    /// weight is far above the 1/255 cut, below the 0.99 clamp, the power is
    /// never positive and T never falls under 1e-4; depths are far apart, so
    /// small steps never reorder them. Only then is the image a smooth
    /// function of the parameters, which central differences need.
    func smoothScene(_ layout: PayloadLayout) -> [ProjectedGaussianD] {
        let tiles = SIMD2(2, 2)
        var rng = SplitMix64(seed: 11)
        return [
            ProjectedGaussianD(index: 0, mean: SIMD2(9.3, 8.1), conic: SIMD3(1.0 / 180, 0.0012, 1.0 / 150), opacity: 0.55,
                               payload: Self.payloadRow(layout, &rng), depth: 2.0, tileMin: .zero, tileMax: tiles),
            ProjectedGaussianD(index: 1, mean: SIMD2(15.7, 11.4), conic: SIMD3(1.0 / 120, -0.002, 1.0 / 200), opacity: 0.45,
                               payload: Self.payloadRow(layout, &rng), depth: 3.5, tileMin: .zero, tileMax: tiles),
            ProjectedGaussianD(index: 2, mean: SIMD2(12.2, 6.6), conic: SIMD3(1.0 / 250, 0.0, 1.0 / 250), opacity: 0.6,
                               payload: Self.payloadRow(layout, &rng), depth: 5.0, tileMin: .zero, tileMax: tiles),
        ]
    }

    /// Central differences for RGB, more channels than 3, a sparse payload and the additive mode.
    func testTwinMatchesFiniteDifferences() {
        let cases: [(PayloadLayout, BlendMode)] = [(.rgb, .alpha), (PayloadLayout(channels: 7), .alpha), (.rgb, .additive),
                                                   (PayloadLayout(channels: 7), .additive), (PayloadLayout(channels: 9, sparsePairs: 3), .alpha),
                                                   (PayloadLayout(channels: 9, sparsePairs: 3), .additive)]
        for (layout, mode) in cases {
            checkTwinAgainstFiniteDifferences(layout, mode)
        }
    }

    func checkTwinAgainstFiniteDifferences(_ layout: PayloadLayout, _ mode: BlendMode) {
        let (w, h) = (24, 20)
        let C = layout.channels
        let bg = (0..<C).map { 0.3 + 0.4 * Double($0) / Double(C) }
        var rng = SplitMix64(seed: 3)
        let wC = (0..<w * h * C).map { _ in Double(rng.uniform(-1, 1)) }
        let wA = (0..<w * h).map { _ in Double(rng.uniform(-1, 1)) }
        let wD = (0..<w * h).map { _ in Double(rng.uniform(-1, 1)) * 0.1 }
        func loss(_ s: [ProjectedGaussianD]) -> Double {
            let o = RasterizerBackward.forward(s, width: w, height: h, background: bg, layout: layout, mode: mode)
            return zip(o.color, wC).map(*).reduce(0, +) + zip(o.alpha, wA).map(*).reduce(0, +) + zip(o.depth, wD).map(*).reduce(0, +)
        }
        let scene = smoothScene(layout)
        let grads = RasterizerBackward.blend(scene, width: w, height: h, background: bg, gradColor: wC, gradAlpha: wA, gradDepth: wD,
                                             layout: layout, mode: mode)
        // Every parameter, perturbed by +-h (sparse payloads: the weights, not the channel indices).
        var params: [(String, WritableKeyPath<ProjectedGaussianD, Double>, KeyPath<SplatGradientD, Double>, Double)] = [
            ("mean.x", \.mean.x, \.mean.x, 1e-4), ("mean.y", \.mean.y, \.mean.y, 1e-4),
            ("conic.a", \.conic.x, \.conic.x, 1e-7), ("conic.b", \.conic.y, \.conic.y, 1e-7), ("conic.c", \.conic.z, \.conic.z, 1e-7),
            ("opacity", \.opacity, \.opacity, 1e-6), ("depth", \.depth, \.depth, 1e-6),
        ]
        let slots = layout.sparsePairs > 0 ? (0..<layout.sparsePairs).map { 2 * $0 + 1 } : Array(0..<C)
        for k in slots { params.append(("payload[\(k)]", \.payload[k], \.payload[k], 1e-6)) }
        for i in scene.indices {
            for (name, key, gradKey, step) in params {
                var plus = scene, minus = scene
                plus[i][keyPath: key] += step
                minus[i][keyPath: key] -= step
                let numeric = (loss(plus) - loss(minus)) / (2 * step)
                let analytic = grads[i][keyPath: gradKey]
                XCTAssertEqual(analytic, numeric, accuracy: 1e-5 * max(1, abs(numeric)), "Gaussian \(i) \(name), \(layout), \(mode)")
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

    /// Every payload layout and mode of `variants`, forward and backward, on
    /// the device's own pixels per thread and on one pixel per thread.
    func testPayloadVariantsMatchTheTwin() throws {
        guard device.info.float32AtomicAdd else {
            throw XCTSkip("\(device.info.displayName) lacks shaderBufferFloat32AtomicAdd (VK_EXT_shader_atomic_float): "
                          + "the blend backward kernel needs float atomics; the test checks every payload variant against the twin")
        }
        for (layout, mode) in Self.variants {
            try checkGPUAgainstTheTwin(pixelsPerThread: nil, width: 37, height: 29, layout: layout, mode: mode)
        }
        try checkGPUAgainstTheTwin(pixelsPerThread: 1, width: 37, height: 29, layout: PayloadLayout(channels: 16), mode: .alpha)
        try checkGPUAgainstTheTwin(pixelsPerThread: 1, width: 37, height: 29, layout: PayloadLayout(channels: 64, sparsePairs: 4),
                                   mode: .additive)
    }

    /// Renders the fixture with `layout`'s payload (the 3D front end's RGB
    /// when nil layout is RGB and mode alpha, else a random payload of the
    /// caller's) and checks the image and the blend gradients against the twin.
    func checkGPUAgainstTheTwin(pixelsPerThread: Int?, width: Int, height: Int, depth: Bool = true,
                                layout: PayloadLayout = .rgb, mode: BlendMode = .alpha, external: Bool? = nil) throws {
        let fixtures = RasterizerGPUTests(name: "fixture", testClosure: { _ in })
        let model = fixtures.fixture(count: 200, degree: 1, extras: false)
        let camera = fixtures.camera(width: width, height: height)
        let C = layout.channels
        let background = (0..<C).map { Float(0.2 + 0.5 * Double($0 % 5) / 5) }
        let settings = RasterSettings(background: SIMD3(background[0], background[min(1, C - 1)], background[min(2, C - 1)]),
                                      blendMode: mode, channelBackground: C == 3 ? nil : background)
        let rasterizer = try GaussianRasterizer(device: device, pixelsPerThread: pixelsPerThread)
        try rasterizer.setModel(model)
        let useExternal = external ?? (layout != .rgb || mode != .alpha)
        var rng = SplitMix64(seed: 21)
        let rows = (0..<model.count).map { _ in Self.payloadRow(layout, &rng) }
        var payload: RasterPayload?
        if useExternal {
            let floats = rows.flatMap { Self.encode($0, layout) }
            payload = RasterPayload(layout: layout, buffer: try GPUBuffer(device: device, floats, label: "test payload"))
        }
        let image = try rasterizer.render(camera: camera, settings: settings, payload: payload)
        let pixels = width * height
        let gC = (0..<pixels * C).map { _ in rng.uniform(-1, 1) }
        let gA = (0..<pixels).map { _ in rng.uniform(-1, 1) }
        let gD = (0..<pixels).map { _ in depth ? rng.uniform(-0.1, 0.1) : 0 }
        let gpu = try rasterizer.backwardBlend(gradColor: gC, gradAlpha: gA, gradDepth: depth ? gD : nil)

        var projected = RasterizerReference.project(model, camera: camera, settings: settings).compactMap { $0 }.map(ProjectedGaussianD.init)
        if useExternal { for k in projected.indices { projected[k].payload = rows[projected[k].index] } }
        let what = "\(width)x\(height), ppt \(pixelsPerThread.map(String.init) ?? "device"), depth \(depth), \(layout), \(mode)"
        let forward = RasterizerBackward.forward(projected, width: width, height: height, background: background.map(Double.init),
                                                 layout: layout, mode: mode)
        var worst = 0.0
        let pairs = Array(zip(image.color, forward.color)) + Array(zip(image.alpha, forward.alpha)) + Array(zip(image.depth, forward.depth))
        for (a, b) in pairs {
            XCTAssertTrue(a.isFinite, "image value not finite, \(what)")
            worst = max(worst, abs(Double(a) - b) / max(1, abs(b)))
        }
        XCTAssertLessThan(worst, 1e-4, "forward image vs twin, \(what)")
        let twin = RasterizerBackward.blend(projected, width: width, height: height, background: background.map(Double.init),
                                            gradColor: gC.map(Double.init), gradAlpha: gA.map(Double.init), gradDepth: gD.map(Double.init),
                                            layout: layout, mode: mode)
        var checked = 0
        for (k, g) in projected.enumerated() {
            let t = twin[k], q = gpu.splats[g.index]
            var pairs: [(Double, Float, String)] = [
                (t.mean.x, q.meanX, "mean.x"), (t.mean.y, q.meanY, "mean.y"), (t.conic.x, q.conicA, "conic.a"),
                (t.conic.y, q.conicB, "conic.b"), (t.conic.z, q.conicC, "conic.c"), (t.opacity, q.opacity, "opacity"),
                (t.depth, q.depth, "depth"),
            ]
            let slots = layout.sparsePairs > 0 ? (0..<layout.sparsePairs).map { 2 * $0 + 1 } : Array(0..<C)
            for s in slots { pairs.append((t.payload[s], gpu.payload[g.index * layout.stride + s], "payload[\(s)]")) }
            for (expected, actual, name) in pairs {
                XCTAssertTrue(actual.isFinite, "Gaussian \(g.index) \(name) is not finite")
                XCTAssertEqual(Double(actual), expected, accuracy: 2e-3 * max(1, abs(expected)), "Gaussian \(g.index) \(name), \(what)")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 100, what)
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
                                                      background: [0.3, 0.3, 0.3], gradColor: gC.map(Double.init),
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
