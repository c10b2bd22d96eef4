import Compute
import ComputePrimitives
import ComputeTestSupport
import Datasets
import Geometry
@testable import Splatting
import XCTest

/// The GPU rasterizer against its Swift twins (brute force and tiled), per
/// output, on fixture scenes with the hard cases the issue names. Tolerance
/// 1e-4 per channel: both sides compute in f32; exp/log/sqrt differ by ulps.
final class RasterizerGPUTests: GPUTestCase {
    var rng = SplitMix64(seed: 7)

    /// Random Gaussians in front of a camera at the origin looking down +z,
    /// plus the edge cases.
    func fixture(count: Int, degree: Int, extras: Bool) -> GaussianModel {
        var m = GaussianModel(count: count, shDegree: degree)
        for i in 0..<count {
            m.positions[3 * i] = Float.random(in: -2...2, using: &rng)
            m.positions[3 * i + 1] = Float.random(in: -1.5...1.5, using: &rng)
            m.positions[3 * i + 2] = Float.random(in: 1...8, using: &rng)
            for k in 0..<3 {
                m.scales[3 * i + k] = Float.random(in: -4.5 ... -1.5, using: &rng)
                m.shDC[3 * i + k] = Float.random(in: -1.5...1.5, using: &rng)
            }
            for k in 0..<4 { m.rotations[4 * i + k] = Float.random(in: -1...1, using: &rng) }
            m.opacities[i] = Float.random(in: -3...3, using: &rng)
        }
        for k in m.shRest.indices { m.shRest[k] = Float.random(in: -0.3...0.3, using: &rng) }
        guard extras, count >= 8 else { return m }
        // Behind the camera, straddling the near plane, sub-pixel, huge, grazing needle.
        m.positions[0...2] = [0, 0, -2]
        m.positions[3...5] = [0.1, 0, 0.012]; m.scales[3...5] = [-2, -2, -2]
        m.positions[6...8] = [0.3, 0.2, 3]; m.scales[6...8] = [-9, -9, -9]; m.opacities[2] = 4
        m.positions[9...11] = [0, 0, 6]; m.scales[9...11] = [1.5, 1.5, 1.5]; m.opacities[3] = -1
        m.positions[12...14] = [1.5, 0, 2]; m.scales[12...14] = [1, -6, -6]
        m.rotations[20...23] = [0.92, 0, 0.38, 0]  // long axis turned towards the view direction
        m.positions[15...17] = [-0.5, 0.5, 0.02]; m.scales[15...17] = [-1, -1, -1]
        return m
    }

    func camera(width: Int, height: Int) -> RasterCamera {
        RasterCamera(width: width, height: height, fx: Float(width) * 0.8, fy: Float(width) * 0.8,
                     cx: Float(width) / 2 + 1.5, cy: Float(height) / 2 - 0.5,
                     rotation: [1, 0, 0, 0, 1, 0, 0, 0, 1], translation: [0, 0, 0])
    }

    func assertClose(_ gpu: RasterImage, _ ref: RasterImage, tolerance: Float = 1e-4, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        func worst(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? 0 }
        XCTAssertTrue(gpu.color.allSatisfy(\.isFinite), "\(what): non-finite colour", file: file, line: line)
        XCTAssertLessThanOrEqual(worst(gpu.color, ref.color), tolerance, "\(what): colour", file: file, line: line)
        XCTAssertLessThanOrEqual(worst(gpu.alpha, ref.alpha), tolerance, "\(what): alpha", file: file, line: line)
        XCTAssertLessThanOrEqual(worst(gpu.transmittance, ref.transmittance), tolerance, "\(what): T", file: file, line: line)
        // Depth is a sum of z-weighted terms: compare relative to the depth scale.
        XCTAssertLessThanOrEqual(worst(gpu.depth, ref.depth), tolerance * 10, "\(what): depth", file: file, line: line)
        let countDiff = zip(gpu.contributors, ref.contributors).filter { $0 != $1 }.count
        XCTAssertLessThanOrEqual(countDiff, gpu.contributors.count / 1000, "\(what): contributor counts differ in \(countDiff) pixels", file: file, line: line)
    }

    func testMatchesTheSwiftTwins() throws {
      // Both blend layouts (one pixel per thread: GPUs; eight: CPU drivers) on every device.
      for pixelsPerThread in [1, 8, 16] {
        let rasterizer = try GaussianRasterizer(device: device, pixelsPerThread: pixelsPerThread)
        for (w, h) in [(64, 48), (100, 70)] {
            for degree in 0...3 {
                for antialias in [false, true] {
                    let model = fixture(count: 300, degree: degree, extras: true)
                    let settings = RasterSettings(background: SIMD3(0.2, 0.4, 0.6), antialias: antialias)
                    let cam = camera(width: w, height: h)
                    try rasterizer.setModel(model)
                    let gpu = try rasterizer.render(camera: cam, settings: settings)
                    let brute = RasterizerReference.render(model, camera: cam, settings: settings)
                    let tiled = RasterizerReference.renderTiled(model, camera: cam, settings: settings)
                    let what = "\(w)x\(h) degree \(degree) antialias \(antialias) ppt \(pixelsPerThread)"
                    assertClose(gpu, brute, what + " vs brute force")
                    assertClose(gpu, tiled, what + " vs tiled twin")
                }
            }
        }
      }
    }

    func testPerGaussianBuffersSplitAcrossBindings() throws {
        // Small chunks force the multi-binding path that large models take on
        // devices with a small maxStorageBufferRange (lavapipe: 128 MiB).
        let rasterizer = try GaussianRasterizer(device: device)
        rasterizer.chunkGaussiansForTesting = 64
        for degree in [0, 3] {
            let model = fixture(count: 230, degree: degree, extras: true)
            try rasterizer.setModel(model)
            XCTAssertEqual(rasterizer.chunkGaussians, 64)
            let cam = camera(width: 64, height: 48)
            let settings = RasterSettings(background: SIMD3(0.1, 0.2, 0.3))
            let gpu = try rasterizer.render(camera: cam, settings: settings)
            assertClose(gpu, RasterizerReference.renderTiled(model, camera: cam, settings: settings), "4 chunks, degree \(degree)")
        }
        // Beyond RASTER_CHUNKS bindings: an error naming the limit.
        XCTAssertThrowsError(try rasterizer.setModel(fixture(count: 257, degree: 1, extras: false))) { error in
            XCTAssertTrue("\(error)".contains("maxStorageBufferRange"), "\(error)")
        }
    }

    func testEmptyModelRendersTheBackground() throws {
        let rasterizer = try GaussianRasterizer(device: device)
        try rasterizer.setModel(GaussianModel(count: 0, shDegree: 0))
        let image = try rasterizer.render(camera: camera(width: 33, height: 17), settings: RasterSettings(background: SIMD3(1, 0.5, 0)))
        XCTAssertEqual(Set(stride(from: 0, to: image.color.count, by: 3).map { image.color[$0] }), [1])
        XCTAssertEqual(Set(image.alpha), [0])
    }

    func testNonFiniteGaussiansAreSkippedAndCounted() throws {
        var model = fixture(count: 50, degree: 1, extras: false)
        model.positions[0] = .nan
        model.opacities[1] = .infinity
        model.shRest[5 * 9] = .nan
        let rasterizer = try GaussianRasterizer(device: device)
        try rasterizer.setModel(model)
        let image = try rasterizer.render(camera: camera(width: 40, height: 30), settings: RasterSettings())
        XCTAssertEqual(rasterizer.lastInvalidCount, 3)
        XCTAssertTrue(image.color.allSatisfy(\.isFinite))
    }

    func testCameraInsideAHugeGaussianAndOddResolutions() throws {
        var model = GaussianModel(count: 1, shDegree: 0)
        model.scales = [3, 3, 3]
        model.opacities = [5]
        let rasterizer = try GaussianRasterizer(device: device)
        try rasterizer.setModel(model)
        for (w, h) in [(1, 1), (17, 1), (1, 33)] {
            let image = try rasterizer.render(camera: camera(width: w, height: h), settings: RasterSettings())
            XCTAssertTrue(image.color.allSatisfy(\.isFinite))
        }
        XCTAssertThrowsError(try rasterizer.render(camera: camera(width: 0, height: 10), settings: RasterSettings()))
        XCTAssertThrowsError(try rasterizer.render(camera: camera(width: 1 << 20, height: 1 << 20), settings: RasterSettings()))
    }

    func testFramesReuseBuffers() throws {
        let rasterizer = try GaussianRasterizer(device: device)
        try rasterizer.setModel(fixture(count: 200, degree: 2, extras: false))
        let cam = camera(width: 64, height: 64)
        let first = try rasterizer.render(camera: cam, settings: RasterSettings())
        let before = device.memoryUsage.bytes
        for _ in 0..<3 { _ = try rasterizer.render(camera: cam, settings: RasterSettings()) }
        XCTAssertEqual(device.memoryUsage.bytes, before, "rendering again allocated")
        XCTAssertEqual(try rasterizer.render(camera: cam, settings: RasterSettings()), first)
    }
}
