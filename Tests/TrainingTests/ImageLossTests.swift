import Compute
import ComputeTestSupport
import Geometry
@testable import Training
import XCTest

final class ImageLossTests: GPUTestCase {
    /// Twin vs central differences. L1 has a kink where render = target, so
    /// the render is kept at least 0.05 away from the target everywhere; the
    /// SSIM part is smooth.
    func testTwinMatchesFiniteDifferences() {
        let (w, h) = (9, 7)
        var rng = SplitMix64(seed: 2)
        let y = (0..<w * h * 3).map { _ in Double(rng.uniform(0.1, 0.9)) }
        let x = y.map { v in v + (rng.uniform(0, 1) < 0.5 ? -1 : 1) * Double(rng.uniform(0.05, 0.1)) }
        let (_, _, _, grad) = ImageLoss.reference(rendered: x, target: y, width: w, height: h)
        for i in stride(from: 0, to: x.count, by: 7) {
            let step = 1e-6
            var plus = x, minus = x
            plus[i] += step
            minus[i] -= step
            let numeric = (ImageLoss.reference(rendered: plus, target: y, width: w, height: h).loss
                - ImageLoss.reference(rendered: minus, target: y, width: w, height: h).loss) / (2 * step)
            XCTAssertEqual(grad[i], numeric, accuracy: 1e-7 + 1e-5 * abs(numeric), "element \(i)")
        }
    }

    /// One pixel per thread (GPUs), the CPU drivers' 8, and 3 (runs that end
    /// past the image edge at both sizes).
    func testGPUMatchesTheTwin() throws {
      for pixelsPerThread in [1, 3, 8] {
        let loss = try ImageLoss(device: device, pixelsPerThread: pixelsPerThread)
        for (w, h) in [(23, 17), (64, 48)] {
            var rng = SplitMix64(seed: UInt64(w))
            let target = (0..<w * h).map { _ in UInt32(truncatingIfNeeded: rng.next() & 0x00ff_ffff) }
            let rendered = (0..<w * h * 4).map { _ in rng.uniform(0, 1) }
            let r = try GPUBuffer(device: device, rendered)
            let t = try GPUBuffer(device: device, target)
            let g = try GPUBuffer(device: device, length: w * h * 12)
            let stream = try CommandStream(device: device)
            try loss.record(stream, rendered: r, target: t, gradient: g, width: w, height: h)
            try stream.run()
            let gpu = try g.read(Float.self, count: w * h * 3, device: device)
            let values = try loss.values()

            let x = (0..<w * h * 3).map { Double(rendered[4 * ($0 / 3) + $0 % 3]) }
            let y = (0..<w * h * 3).map { i -> Double in Double((target[i / 3] >> (8 * UInt32(i % 3))) & 0xff) / 255 }
            let twin = ImageLoss.reference(rendered: x, target: y, width: w, height: h)
            XCTAssertEqual(Double(values.loss), twin.loss, accuracy: 1e-5, "ppt \(pixelsPerThread)")
            XCTAssertEqual(Double(values.ssim), twin.ssim, accuracy: 1e-5, "ppt \(pixelsPerThread)")
            XCTAssertEqual(Double(values.l1), twin.l1, accuracy: 1e-5, "ppt \(pixelsPerThread)")
            let scale = twin.gradient.map(abs).max()!
            for i in gpu.indices {
                XCTAssertEqual(Double(gpu[i]), twin.gradient[i], accuracy: 1e-4 * scale, "element \(i) of \(w)x\(h), ppt \(pixelsPerThread)")
            }
        }
      }
    }

    /// Straight-alpha targets composited over a background on the GPU
    /// (random backgrounds) match the twin on targets composited in Double.
    func testTargetCompositedOverBackground() throws {
        let loss = try ImageLoss(device: device)
        let bg = SIMD3<Float>(0.2, 0.7, 0.4)
        loss.targetBackground = bg
        let (w, h) = (31, 19)
        var rng = SplitMix64(seed: 8)
        let target = (0..<w * h).map { _ in UInt32(truncatingIfNeeded: rng.next()) }  // alpha 0...255
        let rendered = (0..<w * h * 4).map { _ in rng.uniform(0, 1) }
        let r = try GPUBuffer(device: device, rendered), t = try GPUBuffer(device: device, target)
        let g = try GPUBuffer(device: device, length: w * h * 12)
        let stream = try CommandStream(device: device)
        try loss.record(stream, rendered: r, target: t, gradient: g, width: w, height: h)
        try stream.run()
        let values = try loss.values()
        let x = (0..<w * h * 3).map { Double(rendered[4 * ($0 / 3) + $0 % 3]) }
        let y = (0..<w * h * 3).map { i -> Double in
            let a = Double(target[i / 3] >> 24) / 255
            return Double((target[i / 3] >> (8 * UInt32(i % 3))) & 0xff) / 255 * a + Double(bg[i % 3]) * (1 - a)
        }
        let twin = ImageLoss.reference(rendered: x, target: y, width: w, height: h)
        XCTAssertEqual(Double(values.loss), twin.loss, accuracy: 1e-5)
        XCTAssertEqual(Double(values.l1), twin.l1, accuracy: 1e-5)
    }

    func testIdenticalImagesHaveNoLoss() throws {
        let loss = try ImageLoss(device: device)
        let target = (0..<32 * 32).map { UInt32($0 * 2_654_435 & 0x00ff_ffff) }
        let rendered = (0..<32 * 32 * 4).map { i -> Float in
            i % 4 == 3 ? 1 : Float((target[i / 4] >> (8 * UInt32(i % 4))) & 0xff) / 255
        }
        let r = try GPUBuffer(device: device, rendered), t = try GPUBuffer(device: device, target)
        let g = try GPUBuffer(device: device, length: 32 * 32 * 12)
        let stream = try CommandStream(device: device)
        try loss.record(stream, rendered: r, target: t, gradient: g, width: 32, height: 32)
        try stream.run()
        let v = try loss.values()
        XCTAssertEqual(v.l1, 0, accuracy: 1e-6)
        XCTAssertEqual(v.ssim, 1, accuracy: 1e-4)
        XCTAssertEqual(v.loss, 0, accuracy: 1e-4)
    }
}
