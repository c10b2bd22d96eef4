import Compute
import ComputeTestSupport
import Datasets
import Geometry
@testable import Splatting
import Training
import XCTest

/// 2D image-plane Gaussians (kind image2d) on the shared rasterizer: the 2D
/// front end renders what the 3D pipeline renders of the equivalent flat 3D
/// model at any scale, and its backward pass matches central differences of
/// GPU renders.
final class Image2DTests: GPUTestCase {
    var rng = SplitMix64(seed: 21)

    func model(count: Int, width: Int, height: Int) -> GaussianModel {
        var m = GaussianModel.image2D(count: count)
        for i in 0..<count {
            m.means2D[2 * i] = rng.uniform(0, Float(width))
            m.means2D[2 * i + 1] = rng.uniform(0, Float(height))
            m.cholesky[3 * i] = rng.uniform(0.7, 4)
            m.cholesky[3 * i + 1] = rng.uniform(-2, 2)
            m.cholesky[3 * i + 2] = rng.uniform(0.7, 4)
            for k in 0..<3 { m.colors[3 * i + k] = rng.uniform(0.05, 1) }
            m.opacities[i] = rng.uniform(0, 3)
        }
        return m
    }

    func testGPUMatchesTheEquivalent3DModel() throws {
        let (w, h) = (40, 28)
        let m = model(count: 150, width: w, height: h)
        let rasterizer = try GaussianRasterizer(device: device)
        for scale in [1.0, 2.5] {
            let camera = RasterCamera.imagePlane(width: Int(Double(w) * scale), height: Int(Double(h) * scale), scale: scale)
            let settings = GaussianImagePlane.settings()
            try rasterizer.setModel(m)
            let flat = try rasterizer.render(camera: camera, settings: settings)
            try rasterizer.setModel(GaussianImagePlane.equivalent3D(m))
            let solid = try rasterizer.render(camera: camera, settings: settings)
            let worst = zip(flat.color, solid.color).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 2e-3, "scale \(scale)")
            XCTAssertTrue(flat.color.allSatisfy(\.isFinite))
            XCTAssertGreaterThan(flat.color.max() ?? 0, 0.3)
        }
    }

    /// The GPU frame against the CPU twin of the whole 2D render (front end,
    /// projection, additive blend), colours of either sign, two scales.
    func testGPUMatchesTheTwin() throws {
        var m = model(count: 200, width: 30, height: 20)
        for i in stride(from: 0, to: m.count, by: 3) { m.colors[3 * i] = -m.colors[3 * i] }
        let rasterizer = try GaussianRasterizer(device: device)
        try rasterizer.setModel(m)
        for (scale, w, h) in [(1.0, 30, 20), (1.7, 51, 34)] {
            let camera = RasterCamera.imagePlane(width: w, height: h, scale: scale)
            let gpu = try rasterizer.render(camera: camera, settings: GaussianImagePlane.settings()).color
            let twin = GaussianImagePlane.renderReference(m, camera: camera)
            XCTAssertEqual(gpu.count, twin.count)
            let worst = zip(gpu, twin).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-4, "scale \(scale)")
            XCTAssertGreaterThan(twin.map(abs).max() ?? 0, 0.5)
        }
    }

    /// A Gaussian at (x, y) renders its peak at scale (x, y).
    func testScaleMovesAndWidensTheSplat() throws {
        var m = GaussianModel.image2D(count: 1)
        m.means2D = [10.5, 6.5]
        m.cholesky = [1.5, 0, 1.5]
        m.colors = [1, 1, 1]
        let rasterizer = try GaussianRasterizer(device: device)
        try rasterizer.setModel(m)
        for scale in [1.0, 3.0] {
            let (w, h) = (Int(24 * scale), Int(16 * scale))
            let image = try rasterizer.render(camera: .imagePlane(width: w, height: h, scale: scale), settings: GaussianImagePlane.settings())
            let red = stride(from: 0, to: image.color.count, by: 3).map { image.color[$0] }
            let peak = red.indices.max { red[$0] < red[$1] }!
            XCTAssertEqual(Double(peak % w) + 0.5, 10.5 * scale, accuracy: 0.51, "scale \(scale)")
            XCTAssertEqual(Double(peak / w) + 0.5, 6.5 * scale, accuracy: 0.51, "scale \(scale)")
        }
    }

    /// Central differences of GPU renders (f32) along a random direction per
    /// group, L = sum(w * rgb). Additive blending has no transmittance, so the
    /// only discontinuity is each splat's 1/255 cut: the splats are wide and
    /// centred, their cut rings outside the 24x24 image.
    func testGPUBackwardMatchesFiniteDifferences() throws {
        let size = 24
        var m = GaussianModel.image2D(count: 3)
        for i in 0..<3 {
            m.means2D[2 * i] = rng.uniform(10, 14)
            m.means2D[2 * i + 1] = rng.uniform(10, 14)
            m.cholesky[3 * i] = rng.uniform(9, 12)
            m.cholesky[3 * i + 1] = rng.uniform(-3, 3)
            m.cholesky[3 * i + 2] = rng.uniform(9, 12)
            for k in 0..<3 { m.colors[3 * i + k] = rng.uniform(-0.5, 1) }
            m.opacities[i] = rng.uniform(-1, 1)
        }
        let camera = RasterCamera.imagePlane(width: size, height: size, scale: 1)
        let settings = GaussianImagePlane.settings()
        let weights = (0..<(size * size * 3)).map { _ in rng.uniform(-1, 1) }
        let rasterizer = try GaussianRasterizer(device: device)
        func loss(_ model: GaussianModel) throws -> Double {
            try rasterizer.setModel(model)
            let image = try rasterizer.render(camera: camera, settings: settings)
            return zip(image.color, weights).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        _ = try loss(m)
        let gradient = try rasterizer.backward(gradColor: weights, gradAlpha: [Float](repeating: 0, count: size * size),
                                               gradDepth: [Float](repeating: 0, count: size * size))
        XCTAssertTrue(gradient.isImage2D)
        for (k, group) in m.schema.groups.enumerated() {
            let values = m.parameterGroups[k], grads = gradient.parameterGroups[k]
            XCTAssertTrue(grads.allSatisfy(\.isFinite), group.name)
            let direction = values.map { _ in rng.uniform(-1, 1) }
            let step: Float = 2e-3
            func shifted(_ sign: Float) -> GaussianModel {
                var groups = m.parameterGroups
                groups[k] = zip(values, direction).map { $0 + sign * step * $1 }
                return GaussianModel(shDegree: 0, parameterGroups: groups, image2D: true)
            }
            let numeric = (try loss(shifted(1)) - loss(shifted(-1))) / (2 * Double(step))
            let analytic = zip(grads, direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            XCTAssertEqual(analytic, numeric, accuracy: 0.02 * max(abs(numeric), 1), group.name)
        }
    }
}

/// Fitting 2D Gaussians to an image (GaussianImage).
final class ImageFitterTests: GPUTestCase {
    /// A 64x64 test card: smooth colour ramps, a disc with a hard edge and
    /// a few stripes.
    static func card(_ size: Int = 64) -> Image8 {
        var pixels: [UInt8] = []
        for y in 0..<size { for x in 0..<size {
            let u = Double(x) / Double(size), v = Double(y) / Double(size)
            let inDisc = (u - 0.6) * (u - 0.6) + (v - 0.4) * (v - 0.4) < 0.04
            let stripe = y > size * 3 / 4 && (x / 4) % 2 == 0
            let r = inDisc ? 0.9 : 0.2 + 0.6 * u, g = stripe ? 0.9 : 0.3 + 0.4 * v, b = inDisc ? 0.1 : 0.5 + 0.3 * sin(6 * u)
            pixels += [r, g, b].map { UInt8(max(0, min(255, ($0 * 255).rounded()))) }
        } }
        return Image8(width: size, height: size, channels: 3, pixels: pixels)
    }

    func testFitsASmallImage() throws {
        let image = Self.card()
        let fitter = try ImageFitter(device: device, image: image, count: 1500)
        let before = ImageMetrics.psnr(rendered: try fitter.render().color, target: image.pixels)
        for _ in 0..<400 { try fitter.step() }
        let after = ImageMetrics.psnr(rendered: try fitter.render().color, target: image.pixels)
        print("fit 64x64, 1500 Gaussians, 400 iterations: \(before) -> \(after) dB")
        XCTAssertGreaterThan(after, 30, "from \(before) dB")
        XCTAssertTrue(try fitter.model().colors.allSatisfy(\.isFinite))
    }
}
