import CShaderLayouts
import Compute
import ComputeTestSupport
@testable import Fields
import Foundation
import Geometry
import XCTest

final class VolumeRendererTests: GPUTestCase {
    /// Random rays of 0 to 40 samples, some opaque enough to terminate early,
    /// densities in a 16-wide row (the density network's outputs), per-ray
    /// and constant backgrounds; forward and backward vs the twins.
    func testForwardAndBackwardMatchTheTwins() throws {
        let renderer = try VolumeRenderer(device: device)
        var rng = SplitMix64(seed: 31)
        let rayCount = 300, stride = 16
        var rays: [UInt32] = [], samples: [VolumeRenderer.RaySamples] = []
        var density: [Float] = [], rgb: [Float] = [], dt: [Float] = [], t: [Float] = []
        for r in 0..<rayCount {
            let n = r % 7 == 0 ? 0 : Int(rng.next() % 40) + 1
            let dense = r % 3 == 0  // these rays reach T < 1e-4 before their end
            rays += [UInt32(dt.count), UInt32(n)]
            var s = VolumeRenderer.RaySamples(density: [], rgb: [], dt: [], t: [])
            var dist: Float = rng.uniform(0.1, 1)
            for _ in 0..<n {
                let raw = dense ? rng.uniform(2, 6) : rng.uniform(-4, 3)
                let c = SIMD3<Float>(rng.uniform(-4, 4), rng.uniform(-4, 4), rng.uniform(-4, 4))
                let step: Float = rng.uniform(0.002, 0.05)
                dist += step
                density += [raw] + [Float](repeating: 9, count: stride - 1)
                rgb += [c.x, c.y, c.z]
                dt.append(step)
                t.append(dist)
                s.density.append(Double(raw)); s.rgb.append(SIMD3<Double>(c)); s.dt.append(Double(step)); s.t.append(Double(dist))
            }
            samples.append(s)
        }
        let bg = (0..<(3 * rayCount)).map { _ in rng.uniform(0, 1) }
        let dOut = (0..<(3 * rayCount)).map { _ in rng.uniform(-1, 1) }
        let S = dt.count
        let b = { (v: [Float]) in try GPUBuffer(device: self.device, v) }
        let raysB = try GPUBuffer(device: device, rays), densityB = try b(density), rgbB = try b(rgb), dtB = try b(dt), tB = try b(t)
        let bgB = try b(bg), dOutB = try b(dOut)
        let outB = try GPUBuffer(device: device, length: rayCount * 16), depthB = try GPUBuffer(device: device, length: rayCount * 4)
        let dDensityB = try b([Float](repeating: 5, count: S * stride)), dRGBB = try GPUBuffer(device: device, length: S * 12)
        for perRay in [true, false] {
            let background: VolumeRenderer.Background = perRay ? .perRay(bgB) : .constant(SIMD3(0.25, 0.5, 1))
            let stream = try CommandStream(device: device)
            try renderer.render(stream, rays: raysB, rayCount: rayCount, density: densityB, densityStride: stride, rgb: rgbB,
                                dt: dtB, t: tB, background: background, output: outB, depth: depthB)
            try renderer.backward(stream, rays: raysB, rayCount: rayCount, density: densityB, densityStride: stride, rgb: rgbB,
                                  dt: dtB, output: outB, outputGradient: dOutB, densityGradient: dDensityB, rgbGradient: dRGBB)
            try stream.run()
            let out = try outB.read(Float.self, count: rayCount * 4, device: device)
            let depth = try depthB.read(Float.self, count: rayCount, device: device)
            let dDensity = try dDensityB.read(Float.self, count: S * stride, device: device)
            let dRGB = try dRGBB.read(Float.self, count: S * 3, device: device)
            for r in 0..<rayCount {
                let background = perRay ? SIMD3<Double>(Double(bg[3 * r]), Double(bg[3 * r + 1]), Double(bg[3 * r + 2])) : SIMD3(0.25, 0.5, 1)
                let twin = VolumeRenderer.reference(samples[r], background: background)
                for c in 0..<3 { XCTAssertEqual(Double(out[4 * r + c]), twin.rgb[c], accuracy: 1e-5, "ray \(r) colour \(c)") }
                XCTAssertEqual(Double(out[4 * r + 3]), twin.opacity, accuracy: 1e-5, "ray \(r) opacity")
                XCTAssertEqual(Double(depth[r]), twin.depth, accuracy: 1e-4 * max(1, twin.depth), "ray \(r) depth")
                let g = SIMD3<Double>(Double(dOut[3 * r]), Double(dOut[3 * r + 1]), Double(dOut[3 * r + 2]))
                let back = VolumeRenderer.referenceBackward(samples[r], background: background, outputGradient: g)
                let first = Int(rays[2 * r])
                for i in 0..<samples[r].dt.count {
                    // Float cancellation in C - C_{<=i}: tolerance relative to the sample's scale.
                    XCTAssertEqual(Double(dDensity[(first + i) * stride]), back.density[i], accuracy: 1e-4 * max(1, abs(back.density[i])),
                                   "ray \(r) sample \(i) density gradient")
                    for c in 0..<3 { XCTAssertEqual(Double(dRGB[3 * (first + i) + c]), back.rgb[i][c], accuracy: 1e-5, "ray \(r) sample \(i) rgb gradient") }
                    // Only column 0 of the density gradient row is written.
                    XCTAssertEqual(dDensity[(first + i) * stride + 1], 5)
                }
            }
            XCTAssertTrue(out.allSatisfy(\.isFinite) && dDensity.allSatisfy(\.isFinite) && dRGB.allSatisfy(\.isFinite))
        }
    }

    /// The twin's backward vs central differences in Double. The early
    /// termination makes the composite discontinuous where T crosses 1e-4,
    /// so these rays are kept thin (T stays above 0.05): every function on
    /// the path (exp, sigmoid, products) is then smooth.
    func testBackwardTwinMatchesFiniteDifferences() {
        var rng = SplitMix64(seed: 5)
        for _ in 0..<5 {
            let n = 12
            var s = VolumeRenderer.RaySamples(density: [], rgb: [], dt: [], t: [])
            for i in 0..<n {
                s.density.append(Double(rng.uniform(-2, 1.5)))
                s.rgb.append(SIMD3(Double(rng.uniform(-3, 3)), Double(rng.uniform(-3, 3)), Double(rng.uniform(-3, 3))))
                s.dt.append(Double(rng.uniform(0.01, 0.05)))
                s.t.append(Double(i) * 0.05 + 0.1)
            }
            let bg = SIMD3<Double>(0.2, 0.7, 0.4)
            XCTAssertGreaterThan(1 - VolumeRenderer.reference(s, background: bg).opacity, 0.05)
            let g = SIMD3<Double>(0.3, -0.8, 0.5)
            let loss = { (x: VolumeRenderer.RaySamples) in (VolumeRenderer.reference(x, background: bg).rgb * g).sum() }
            let back = VolumeRenderer.referenceBackward(s, background: bg, outputGradient: g)
            let h = 1e-6
            for i in 0..<n {
                var up = s, down = s
                up.density[i] += h; down.density[i] -= h
                XCTAssertEqual(back.density[i], (loss(up) - loss(down)) / (2 * h), accuracy: 1e-7, "density \(i)")
                for c in 0..<3 {
                    var u = s, d = s
                    u.rgb[i][c] += h; d.rgb[i][c] -= h
                    XCTAssertEqual(back.rgb[i][c], (loss(u) - loss(d)) / (2 * h), accuracy: 1e-7, "rgb \(i).\(c)")
                }
            }
        }
    }
}
