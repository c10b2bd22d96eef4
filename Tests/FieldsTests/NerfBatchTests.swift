import CShaderLayouts
import Compute
import ComputeTestSupport
@testable import Fields
import Foundation
import Geometry
import XCTest

/// The per-batch NeRF kernels (nerf_rays, nerf_loss, nerf_concat) vs their
/// Swift twins in NerfBatch.swift, on random inputs and edge cases: one ray or
/// sample, counts on either side of a workgroup, tiny images whose every pixel
/// (corners included) is drawn, principal points off centre and outside the
/// image, alpha 0 and 1, Huber errors around its threshold. Output buffers
/// are larger than the count and filled with a sentinel, so a thread past the
/// count that writes is caught.
final class NerfBatchTests: GPUTestCase {
    static let sentinel: Float = -7777

    /// `gpu` vs `twin` elementwise within `tolerance * max(1, |twin|)`; one
    /// assertion naming the worst element. Both must be finite.
    func assertClose(_ gpu: [Float], _ twin: [Float], tolerance: Float, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(gpu.count, twin.count, "\(what): count", file: file, line: line)
        var worst = 0, worstError: Float = 0
        for i in 0..<min(gpu.count, twin.count) {
            guard gpu[i].isFinite, twin[i].isFinite else {
                return XCTFail("\(what)[\(i)]: GPU \(gpu[i]), twin \(twin[i]) (not finite)", file: file, line: line)
            }
            let e = abs(gpu[i] - twin[i]) / max(1, abs(twin[i]))
            if e > worstError { worst = i; worstError = e }
        }
        XCTAssertLessThanOrEqual(worstError, tolerance, "\(what)[\(worst)]: GPU \(gpu.isEmpty ? 0 : gpu[worst]), twin \(twin.isEmpty ? 0 : twin[worst])",
                                 file: file, line: line)
    }

    /// A buffer of `count` floats followed by `slack` sentinels.
    func output(_ count: Int, slack: Int = 64) throws -> GPUBuffer {
        try GPUBuffer(device: device, [Float](repeating: Self.sentinel, count: count + slack))
    }

    /// Reads `count` floats and checks the sentinels after them are intact.
    func read(_ b: GPUBuffer, _ count: Int, _ what: String, file: StaticString = #filePath, line: UInt = #line) throws -> [Float] {
        let all = try b.read(Float.self, count: b.length / 4, device: device)
        XCTAssertTrue(all[count...].allSatisfy { $0 == Self.sentinel }, "\(what): written past its \(count) floats", file: file, line: line)
        return Array(all[..<count])
    }

    // MARK: Rays

    /// Cameras packed into one pixel buffer: 1x1, a row, a column, 2x2, 3x3,
    /// 7x5 (all pixels of these are drawn with enough rays), and a 37x29 one;
    /// principal points at the centre, at a corner, off centre and outside
    /// the image; unequal focal lengths; random rotations and positions.
    /// Every pixel value is distinct, so a target names the pixel it came from.
    func cameraFixture(_ rng: inout SplitMix64) -> (cameras: [NerfCamera], pixels: [UInt32]) {
        let shapes: [(w: Int, h: Int, cx: Double, cy: Double)] = [
            (1, 1, 0.5, 0.5), (5, 1, 0, 0), (1, 4, 1, 4), (2, 2, -3, 7), (3, 3, 2.9, 0.2), (7, 5, 9.5, -2.25), (37, 29, 5.2, 25.9),
        ]
        var cameras: [NerfCamera] = [], pixels: [UInt32] = [], seen = Set<UInt32>()
        let center = Vector3(Double(rng.uniform(-1, 1)), Double(rng.uniform(-1, 1)), Double(rng.uniform(-1, 1)))
        let size = Double(rng.uniform(2, 5))
        for s in shapes {
            let k = Intrinsics(width: s.w, height: s.h, fx: Double(rng.uniform(0.8, 60)), fy: Double(rng.uniform(0.8, 60)), cx: s.cx, cy: s.cy)
            let q = Quaternion(w: Double(rng.normal()), x: Double(rng.normal()), y: Double(rng.normal()), z: Double(rng.normal()))
            let position = Vector3(Double(rng.uniform(-3, 3)), Double(rng.uniform(-3, 3)), Double(rng.uniform(-3, 3)))
            let pose = Pose(position: position, cameraToWorld: q.matrix)
            cameras.append(NerfBatch.camera(intrinsics: k, pose: pose, pixelOffset: pixels.count, center: center, size: size))
            for _ in 0..<(s.w * s.h) {
                var p: UInt32
                repeat { p = UInt32(truncatingIfNeeded: rng.next()) } while !seen.insert(p).inserted
                pixels.append(p)
            }
        }
        return (cameras, pixels)
    }

    func runRays(_ batch: NerfBatch, cameras: [NerfCamera], pixels: [UInt32], count: Int, seed: UInt32, background: SIMD3<Float>,
                 randomBackground: Bool) throws -> (rays: [Float], targets: [Float], backgrounds: [Float]) {
        let camerasB = try GPUBuffer(device: device, cameras), pixelsB = try GPUBuffer(device: device, pixels)
        let raysB = try output(6 * count), targetsB = try output(4 * count), backgroundsB = try output(3 * count)
        let stream = try CommandStream(device: device)
        try batch.recordRays(stream, cameras: camerasB, cameraCount: cameras.count, pixels: pixelsB, count: count, seed: seed,
                             background: background, randomBackground: randomBackground,
                             rays: raysB, targets: targetsB, backgrounds: backgroundsB)
        try stream.run()
        return (try read(raysB, 6 * count, "rays"), try read(targetsB, 4 * count, "targets"), try read(backgroundsB, 3 * count, "backgrounds"))
    }

    func testRaysMatchTheTwin() throws {
        let batch = try NerfBatch(device: device)
        var rng = SplitMix64(seed: 8)
        let (cameras, pixels) = cameraFixture(&rng)
        let background = SIMD3<Float>(0.25, 0.5, 1)
        let wg = batch.workgroupSize
        for (i, count) in [1, wg - 1, wg, wg + 1, 3001].enumerated() {
            for randomBackground in [false, true] {
                let seed = UInt32(1000 * i + (randomBackground ? 1 : 0))
                let what = "\(count) rays, random background \(randomBackground)"
                let gpu = try runRays(batch, cameras: cameras, pixels: pixels, count: count, seed: seed, background: background,
                                      randomBackground: randomBackground)
                let twin = NerfBatch.referenceRays(cameras: cameras, pixels: pixels, count: count, seed: seed, background: background,
                                                   randomBackground: randomBackground)
                // Origins are copied; directions differ by float rounding (dot, normalize).
                assertClose(gpu.rays, twin.rays, tolerance: 2e-6, "\(what): rays")
                // Same hash, same pixel: targets are k / 255 on both sides.
                assertClose(gpu.targets, twin.targets, tolerance: 1e-6, "\(what): targets")
                // Random backgrounds are 24-bit fractions, exact in float.
                XCTAssertEqual(gpu.backgrounds, twin.backgrounds, "\(what): backgrounds")
                for r in 0..<count {
                    let d = SIMD3(gpu.rays[6 * r + 3], gpu.rays[6 * r + 4], gpu.rays[6 * r + 5])
                    XCTAssertEqual((d * d).sum(), 1, accuracy: 1e-5, "\(what): ray \(r) direction is not unit")
                }
                XCTAssertTrue(gpu.targets.allSatisfy { (0...1).contains($0) } && gpu.backgrounds.allSatisfy { (0...1).contains($0) }, what)
                if !randomBackground {
                    XCTAssertTrue((0..<count).allSatisfy { SIMD3(gpu.backgrounds[3 * $0], gpu.backgrounds[3 * $0 + 1], gpu.backgrounds[3 * $0 + 2]) == background })
                }
                guard count == 3001 else { continue }
                // Every camera is drawn, and every pixel (corners included) of the
                // small ones: the GPU's targets name the pixels they came from.
                var index: [UInt32: Int] = [:]
                for (i, p) in pixels.enumerated() { index[p] = i }
                var hit = Set<Int>()
                for r in 0..<count {
                    var p: UInt32 = 0
                    for c in 0..<4 { p |= UInt32((gpu.targets[4 * r + c] * 255).rounded()) << (8 * UInt32(c)) }
                    guard let i = index[p] else { XCTFail("\(what): ray \(r)'s target is no pixel"); break }
                    hit.insert(i)
                }
                for (v, cam) in cameras.enumerated() {
                    let o = Int(cam.pixelOffset), w = Int(cam.width), h = Int(cam.height)
                    let drawn = (o..<(o + w * h)).filter { hit.contains($0) }.count
                    XCTAssertGreaterThan(drawn, 0, "camera \(v) never drawn")
                    if w * h <= 35 { XCTAssertEqual(drawn, w * h, "camera \(v) (\(w)x\(h)): pixels never drawn") }
                }
            }
        }
    }

    /// The twin's ray is the pixel centre's: through the principal point it
    /// is the camera axis, and the corner pixels' rays are the corners'.
    func testRayTwinGoesThroughPixelCentres() {
        var cam = NerfCamera()
        cam.fx = 2; cam.fy = 4; cam.cx = 0.5; cam.cy = 1.5; cam.width = 3; cam.height = 2
        cam.r00 = 1; cam.r11 = 1; cam.r22 = 1
        cam.px = 0.1; cam.py = 0.2; cam.pz = 0.3
        XCTAssertEqual(NerfBatch.ray(cam, x: 0, y: 1), [0.1, 0.2, 0.3, 0, 0, 1])
        for (x, y) in [(0, 0), (2, 0), (0, 1), (2, 1)] as [(UInt32, UInt32)] {
            let d = SIMD3<Float>((Float(x) + 0.5 - 0.5) / 2, (Float(y) + 0.5 - 1.5) / 4, 1)
            let want = d / (d * d).sum().squareRoot()
            let got = NerfBatch.rayDirection(cam, x: x, y: y)
            XCTAssertEqual(Double(((got - want) * (got - want)).sum()), 0, accuracy: 1e-12, "corner (\(x), \(y))")
        }
    }

    // MARK: Loss

    /// Random rendered colours and targets with alpha 0, 1 and in between over
    /// random backgrounds; for some rays the error is set around the Huber
    /// threshold (0.1), at 0 and far beyond it.
    func lossFixture(_ count: Int, _ rng: inout SplitMix64) -> (rendered: [Float], targets: [Float], backgrounds: [Float]) {
        var rendered: [Float] = [], targets: [Float] = [], backgrounds: [Float] = []
        let near: [Float] = [0, 1e-4, -1e-4, 0.0999, -0.0999, 0.1, -0.1, 0.1001, -0.1001, 0.09, 0.11, -2, 3]
        for r in 0..<count {
            let a: Float = r % 3 == 0 ? 0 : r % 3 == 1 ? 1 : rng.uniform()
            let rgb = SIMD3<Float>(rng.uniform(), rng.uniform(), rng.uniform())
            let bg = SIMD3<Float>(rng.uniform(), rng.uniform(), rng.uniform())
            targets += [rgb.x, rgb.y, rgb.z, a]
            backgrounds += [bg.x, bg.y, bg.z]
            let target = rgb * a + bg * (1 - a)
            for c in 0..<3 {
                rendered.append(r % 2 == 0 ? target[c] + near[(3 * r + c) % near.count] : rng.uniform(-0.5, 1.5))
            }
            rendered.append(rng.uniform())  // opacity: not used by the loss
        }
        return (rendered, targets, backgrounds)
    }

    func testLossMatchesTheTwin() throws {
        let batch = try NerfBatch(device: device)
        var rng = SplitMix64(seed: 9)
        let wg = batch.workgroupSize
        for count in [1, wg - 1, wg + 1, 1000] {
            let (rendered, targets, backgrounds) = lossFixture(count, &rng)
            let renderedB = try GPUBuffer(device: device, rendered), targetsB = try GPUBuffer(device: device, targets)
            let backgroundsB = try GPUBuffer(device: device, backgrounds)
            for huber in [false, true] {
                let what = "\(count) rays, \(huber ? "Huber" : "L2")"
                let lossB = try output(count), gradientB = try output(3 * count)
                let stream = try CommandStream(device: device)
                try batch.recordLoss(stream, rendered: renderedB, targets: targetsB, backgrounds: backgroundsB, count: count, huber: huber,
                                     loss: lossB, gradient: gradientB)
                try stream.run()
                let loss = try read(lossB, count, "\(what): loss"), gradient = try read(gradientB, 3 * count, "\(what): gradient")
                let twin = NerfBatch.referenceLoss(rendered: rendered, targets: targets, backgrounds: backgrounds, huber: huber)
                // Both are divided by 3R: compare at the scale of one ray's error.
                let n = Float(3 * count)
                assertClose(loss.map { $0 * n }, twin.loss.map { $0 * n }, tolerance: 2e-6, "\(what): loss")
                assertClose(gradient.map { $0 * n }, twin.gradient.map { $0 * n }, tolerance: 1e-5, "\(what): gradient")
                if huber {
                    // Huber's gradient is clamped to 1 / 3R.
                    XCTAssertTrue(gradient.allSatisfy { abs($0) * n <= 1 + 1e-6 }, what)
                }
            }
        }
    }

    /// The Huber twin is continuous with a continuous gradient at its
    /// threshold, and both twins' gradients are their loss's derivatives.
    func testLossTwinGradientIsTheDerivative() {
        func loss(_ e: Float, huber: Bool) -> (loss: Float, gradient: Float) {
            // One ray, target 0.25 (alpha 1), error e on the red channel only.
            let t = NerfBatch.referenceLoss(rendered: [0.25 + e, 0.25, 0.25, 1], targets: [0.25, 0.25, 0.25, 1],
                                            backgrounds: [0, 0, 0], huber: huber)
            return (t.loss[0] * 3, t.gradient[0] * 3)
        }
        for side: Float in [-1, 1] {
            let below = loss(side * 0.09999, huber: true), above = loss(side * 0.10001, huber: true)
            // 2e-5 apart at slope 1: a jump would be far larger.
            XCTAssertEqual(below.loss, above.loss, accuracy: 3e-5, "Huber loss jumps at \(side) * delta")
            XCTAssertEqual(below.gradient, above.gradient, accuracy: 1e-3, "Huber gradient jumps at \(side) * delta")
            XCTAssertEqual(above.gradient, side, accuracy: 1e-6)
        }
        let h: Float = 1e-3
        for huber in [false, true] {
            for e: Float in [-0.6, -0.05, 0.003, 0.07, 0.2, 0.9] {
                let numeric = (loss(e + h, huber: huber).loss - loss(e - h, huber: huber).loss) / (2 * h)
                XCTAssertEqual(loss(e, huber: huber).gradient, numeric, accuracy: 2e-3, "\(huber ? "Huber" : "L2") at error \(e)")
            }
        }
    }

    // MARK: Concatenation

    func testConcatMatchesTheTwin() throws {
        let batch = try NerfBatch(device: device)
        var rng = SplitMix64(seed: 10)
        let perGroup = batch.workgroupSize / 16  // samples per workgroup (16 threads each)
        for (samples, columns) in [(1, 32), (perGroup - 1, 32), (perGroup, 32), (perGroup + 1, 48), (1000, 32), (3, 16)] {
            for backward in [false, true] {
                let what = "\(samples) samples, \(columns) columns\(backward ? ", backward" : "")"
                let density = (0..<(samples * 16)).map { _ in rng.uniform(-3, 3) }
                let colour = (0..<(samples * columns)).map { _ in rng.uniform(-3, 3) }
                // The sentinels after each array must survive (both bindings are read-write).
                let densityB = try GPUBuffer(device: device, density + [Float](repeating: Self.sentinel, count: 64))
                let colourB = try GPUBuffer(device: device, colour + [Float](repeating: Self.sentinel, count: 64))
                let stream = try CommandStream(device: device)
                try batch.recordConcat(stream, density: densityB, colour: colourB, samples: samples, columns: columns, backward: backward)
                try stream.run()
                let gpuDensity = try read(densityB, samples * 16, "\(what): density")
                let gpuColour = try read(colourB, samples * columns, "\(what): colour")
                let twin = NerfBatch.referenceConcat(density: density, colour: colour, samples: samples, columns: columns, backward: backward)
                if backward {
                    XCTAssertEqual(gpuColour, colour, "\(what): the colour gradient changed")
                    assertClose(gpuDensity, twin.density, tolerance: 1e-6, "\(what): density gradient")
                    XCTAssertNotEqual(gpuDensity, density, what)
                } else {
                    XCTAssertEqual(gpuDensity, density, "\(what): the density outputs changed")
                    XCTAssertEqual(gpuColour, twin.colour, "\(what): colour input")
                }
            }
        }
    }

    /// The twin's layout: the density outputs land in the last 16 columns,
    /// the first (SH) columns are untouched.
    func testConcatTwinLayout() {
        let density = (0..<32).map(Float.init)  // 2 samples
        let colour = [Float](repeating: -1, count: 2 * 20)
        let forward = NerfBatch.referenceConcat(density: density, colour: colour, samples: 2, columns: 20)
        XCTAssertEqual(forward.colour, [-1, -1, -1, -1] + (0..<16).map(Float.init) + [-1, -1, -1, -1] + (16..<32).map(Float.init))
        XCTAssertEqual(forward.density, density)
        let back = NerfBatch.referenceConcat(density: density, colour: forward.colour, samples: 2, columns: 20, backward: true)
        XCTAssertEqual(back.density, density.map { 2 * $0 })
        XCTAssertEqual(back.colour, forward.colour)
    }
}
