import CShaderLayouts
import Compute
import ComputeTestSupport
@testable import Fields
import Foundation
import Geometry
import XCTest

/// The signed-distance field's stages (NeuS) against their Swift twins, the
/// twins against central differences in Double, and the alpha mode of the
/// volume renderer that composites them.
final class SDFFieldTests: GPUTestCase {
    func randomSample(_ rng: inout SplitMix64, near: Bool) -> SDFField.Sample {
        let f = near ? Double(rng.uniform(-0.02, 0.02)) : Double(rng.uniform(-0.3, 0.3))
        // Stencil values about f + h v.g for a gradient of length ~1, perturbed.
        let g = SIMD3<Double>(Double(rng.uniform(-1, 1)), Double(rng.uniform(-1, 1)), Double(rng.uniform(-1, 1)))
        let stencil = SDFField.stencil.map { f + 0.01 * ($0 * g).sum() + Double(rng.uniform(-0.002, 0.002)) }
        var d = SIMD3<Double>(Double(rng.uniform(-1, 1)), Double(rng.uniform(-1, 1)), Double(rng.uniform(-1, 1)))
        d /= (d * d).sum().squareRoot()
        return SDFField.Sample(sdf: f, stencil: stencil, direction: d, dt: Double(rng.uniform(0.002, 0.03)))
    }

    /// sdf_points, sdf_volume_weight, its backward and sdf_occupancy vs the
    /// twins on 500 samples (half near the surface, where alpha is large),
    /// with and without NeuS's cosine annealing.
    func testKernelsMatchTheTwins() throws {
        let field = try SDFField(device: device)
        var rng = SplitMix64(seed: 7)
        let S = 500, step: Float = 0.01, colourStride = SDFField.colourInputWidth, inputStride = 11
        let samples = (0..<S).map { i in randomSample(&rng, near: i % 2 == 0) }
        let points = (0..<(3 * S)).map { _ in rng.uniform(0, 1) }
        var outputs = [Float](repeating: 0, count: 5 * S * 16)
        for i in 0..<S {
            outputs[16 * i] = Float(samples[i].sdf)
            for c in 1..<16 { outputs[16 * i + c] = rng.uniform(-1, 1) }
            for k in 0..<4 { outputs[16 * (S + 4 * i + k)] = Float(samples[i].stencil[k]) }
        }
        // The twin sees the values the GPU sees (rounded to f32).
        let rounded = (0..<S).map { i in
            SDFField.Sample(sdf: Double(outputs[16 * i]), stencil: (0..<4).map { Double(outputs[16 * (S + 4 * i + $0)]) },
                            direction: SIMD3<Double>(SIMD3<Float>(samples[i].direction)), dt: Double(Float(samples[i].dt)))
        }
        let dirs = rounded.flatMap { [Float($0.direction.x), Float($0.direction.y), Float($0.direction.z)] }
        let dts = rounded.map { Float($0.dt) }
        let variance: Float = 0.3
        let dAlpha = (0..<S).map { _ in rng.uniform(-1, 1) }
        let dColour = (0..<(S * colourStride)).map { _ in rng.uniform(-1, 1) }
        let b = { (v: [Float]) in try GPUBuffer(device: self.device, v) }
        let samplesB = try b(points), outputsB = try b(outputs), dirsB = try b(dirs), dtB = try b(dts), varB = try b([variance])
        let stencilB = try GPUBuffer(device: device, length: 5 * S * 12), inputB = try b([Float](repeating: 7, count: 5 * S * inputStride))
        let alphaB = try GPUBuffer(device: device, length: S * 4), colourB = try b([Float](repeating: 3, count: S * colourStride))
        let eikB = try GPUBuffer(device: device, length: S * 4), dAlphaB = try b(dAlpha), dColourB = try b(dColour)
        let dOutB = try b([Float](repeating: 9, count: 5 * S * 16)), dVarB = try GPUBuffer(device: device, length: S * 4)
        let occB = try b(outputs)
        for anneal in [Float(1), 0.4] {
            try occB.write(outputs, device: device)  // converted in place
            let s = try CommandStream(device: device)
            try field.recordPoints(s, samples: samplesB, count: S, step: step, points: stencilB, input: inputB, inputStride: inputStride)
            try field.recordVolumeWeight(s, samples: samplesB, outputs: outputsB, directions: dirsB, dt: dtB, variance: varB, alpha: alphaB,
                                         colourInput: colourB, colourStride: colourStride, eikonal: eikB, count: S, step: step,
                                         eikonalWeight: 0.5, cosAnneal: anneal)
            try field.recordVolumeWeightBackward(s, outputs: outputsB, directions: dirsB, dt: dtB, variance: varB, dAlpha: dAlphaB,
                                                 dColourInput: dColourB, colourStride: colourStride, dOutputs: dOutB, dVariance: dVarB,
                                                 count: S, step: step, eikonalWeight: 0.5, cosAnneal: anneal)
            try field.recordOccupancyDensity(s, outputs: occB, variance: varB, count: S)
            try s.run()
            let stencil = try stencilB.read(Float.self, count: 5 * S * 3, device: device)
            let input = try inputB.read(Float.self, count: 5 * S * inputStride, device: device)
            let twinPoints = SDFField.referencePoints(samples: points, step: step)
            for r in 0..<(5 * S) {
                for c in 0..<3 {
                    XCTAssertEqual(stencil[3 * r + c], twinPoints.points[3 * r + c], accuracy: 1e-6)
                    XCTAssertEqual(input[r * inputStride + c], twinPoints.positions[3 * r + c], accuracy: 1e-6)
                }
                XCTAssertEqual(input[r * inputStride + 3], 7, "only the position columns are written")
            }
            let alpha = try alphaB.read(Float.self, count: S, device: device)
            let colour = try colourB.read(Float.self, count: S * colourStride, device: device)
            let eik = try eikB.read(Float.self, count: S, device: device)
            let dOut = try dOutB.read(Float.self, count: 5 * S * 16, device: device)
            let dVar = try dVarB.read(Float.self, count: S, device: device)
            let occ = try occB.read(Float.self, count: S * 16, device: device)
            for i in 0..<S {
                let twin = SDFField.referenceVolumeWeight(rounded[i], variance: Double(variance), step: Double(step), cosAnneal: Double(anneal))
                XCTAssertEqual(Double(alpha[i]), twin.alpha, accuracy: 2e-4, "sample \(i) alpha")
                XCTAssertEqual(Double(eik[i]), 0.5 * twin.eikonal, accuracy: 1e-3 * max(1, twin.eikonal), "sample \(i) eikonal")
                for c in 0..<3 {
                    XCTAssertEqual(Double(colour[i * colourStride + 16 + c]), Double(points[3 * i + c]) - 0.5, accuracy: 1e-6)
                    XCTAssertEqual(Double(colour[i * colourStride + 19 + c]), twin.gradient[c], accuracy: 1e-3 * max(1, abs(twin.gradient[c])))
                }
                XCTAssertEqual(colour[i * colourStride], 3, "the SH columns are left alone")
                let dg = SIMD3<Double>((0..<3).map { Double(dColour[i * colourStride + 19 + $0]) })
                let back = SDFField.referenceVolumeWeightBackward(rounded[i], variance: Double(variance), step: Double(step),
                                                                  cosAnneal: Double(anneal), alphaGradient: Double(dAlpha[i]),
                                                                  gradientGradient: dg, eikonalWeight: 0.5)
                XCTAssertEqual(Double(dOut[16 * i]), back.sdf, accuracy: 2e-3 * max(1, abs(back.sdf)), "sample \(i) d sdf")
                XCTAssertEqual(dOut[16 * i + 1], 9, "only column 0 is written")
                for k in 0..<4 {
                    XCTAssertEqual(Double(dOut[16 * (S + 4 * i + k)]), back.stencil[k], accuracy: 2e-3 * max(1, abs(back.stencil[k])),
                                   "sample \(i) d stencil \(k)")
                }
                XCTAssertEqual(Double(dVar[i]), back.variance, accuracy: 2e-3 * max(1, abs(back.variance)), "sample \(i) d variance")
                XCTAssertEqual(Double(occ[16 * i]), SDFField.referenceOccupancyDensity(sdf: Double(outputs[16 * i]), variance: Double(variance)),
                               accuracy: 1e-4 * max(1, abs(Double(occ[16 * i]))))
            }
            XCTAssertTrue(alpha.allSatisfy(\.isFinite) && dOut.allSatisfy(\.isFinite) && dVar.allSatisfy(\.isFinite))
        }
    }

    /// The twin's backward (alpha, eikonal and the colour network's gradient
    /// input) vs central differences of the twin's forward in Double. The
    /// samples keep alpha inside (0, 1) and the cosine away from 0 and 1,
    /// where the clamp and the relus have kinks.
    func testBackwardTwinMatchesCentralDifferences() {
        var rng = SplitMix64(seed: 11)
        var checked = 0
        for trial in 0..<200 {
            let s = randomSample(&rng, near: trial % 2 == 0)
            let variance = Double(rng.uniform(0.1, 0.4)), step = 0.01, anneal = trial % 3 == 0 ? 0.5 : 1.0
            let f0 = SDFField.referenceVolumeWeight(s, variance: variance, step: step, cosAnneal: anneal)
            let cosine = (s.direction * f0.gradient).sum()
            guard f0.alpha > 1e-3, f0.alpha < 0.999, abs(cosine) > 0.05, abs(cosine - 1) > 0.05 else { continue }
            checked += 1
            let wA = Double(rng.uniform(-1, 1)), wE = 0.3
            let wG = SIMD3<Double>(Double(rng.uniform(-1, 1)), Double(rng.uniform(-1, 1)), Double(rng.uniform(-1, 1)))
            // loss = wA alpha + wG . g + wE (|g| - 1)^2
            func loss(_ x: SDFField.Sample, _ v: Double) -> Double {
                let r = SDFField.referenceVolumeWeight(x, variance: v, step: step, cosAnneal: anneal)
                return wA * r.alpha + (wG * r.gradient).sum() + wE * r.eikonal
            }
            let back = SDFField.referenceVolumeWeightBackward(s, variance: variance, step: step, cosAnneal: anneal, alphaGradient: wA,
                                                              gradientGradient: wG, eikonalWeight: wE)
            let e = 1e-7
            var p = s, m = s
            p.sdf += e; m.sdf -= e
            XCTAssertEqual(back.sdf, (loss(p, variance) - loss(m, variance)) / (2 * e), accuracy: 1e-4 * max(1, abs(back.sdf)))
            for k in 0..<4 {
                p = s; m = s
                p.stencil[k] += e; m.stencil[k] -= e
                XCTAssertEqual(back.stencil[k], (loss(p, variance) - loss(m, variance)) / (2 * e), accuracy: 1e-4 * max(1, abs(back.stencil[k])))
            }
            XCTAssertEqual(back.variance, (loss(s, variance + e) - loss(s, variance - e)) / (2 * e), accuracy: 1e-4 * max(1, abs(back.variance)))
        }
        XCTAssertGreaterThan(checked, 50)
    }

    /// Alpha-mode compositing (the field gives alpha) vs its twin, forward
    /// and backward with an opacity gradient, on rays whose alphas reach 1
    /// (a NeuS surface) and rays that terminate early; and the twin vs
    /// central differences.
    func testAlphaCompositingMatchesTheTwin() throws {
        let renderer = try VolumeRenderer(device: device)
        var rng = SplitMix64(seed: 5)
        let rayCount = 200
        var rays: [UInt32] = [], samples: [VolumeRenderer.RaySamples] = [], alpha: [Float] = [], rgb: [Float] = [], dt: [Float] = [], t: [Float] = []
        for r in 0..<rayCount {
            let n = r % 9 == 0 ? 0 : Int(rng.next() % 30) + 1
            rays += [UInt32(dt.count), UInt32(n)]
            var s = VolumeRenderer.RaySamples(density: [], rgb: [], dt: [], t: [])
            var dist: Float = 0.2
            for i in 0..<n {
                let a: Float = r % 4 == 0 && i == n / 2 ? 1 : (r % 3 == 0 ? rng.uniform(0.3, 0.9) : rng.uniform(0, 0.2))
                let c = SIMD3<Float>(rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-3, 3))
                dist += 0.01
                alpha.append(a); rgb += [c.x, c.y, c.z]; dt.append(0.01); t.append(dist)
                s.density.append(Double(a)); s.rgb.append(SIMD3<Double>(c)); s.dt.append(0.01); s.t.append(Double(dist))
            }
            samples.append(s)
        }
        let S = dt.count
        let bg = (0..<(3 * rayCount)).map { _ in rng.uniform(0, 1) }
        let dOut = (0..<(4 * rayCount)).map { _ in rng.uniform(-1, 1) }
        let b = { (v: [Float]) in try GPUBuffer(device: self.device, v) }
        let raysB = try GPUBuffer(device: device, rays), alphaB = try b(alpha), rgbB = try b(rgb), dtB = try b(dt), tB = try b(t)
        let bgB = try b(bg), dOutB = try b(dOut)
        let outB = try GPUBuffer(device: device, length: rayCount * 16), depthB = try GPUBuffer(device: device, length: rayCount * 4)
        let dAlphaB = try GPUBuffer(device: device, length: S * 4), dRGBB = try GPUBuffer(device: device, length: S * 12)
        let stream = try CommandStream(device: device)
        try renderer.render(stream, rays: raysB, rayCount: rayCount, density: alphaB, densityStride: 1, rgb: rgbB, dt: dtB, t: tB,
                            background: .perRay(bgB), output: outB, depth: depthB, weight: .alpha)
        try renderer.backward(stream, rays: raysB, rayCount: rayCount, density: alphaB, densityStride: 1, rgb: rgbB, dt: dtB, output: outB,
                              outputGradient: dOutB, densityGradient: dAlphaB, rgbGradient: dRGBB, weight: .alpha, background: .perRay(bgB))
        try stream.run()
        let out = try outB.read(Float.self, count: rayCount * 4, device: device)
        let dAlpha = try dAlphaB.read(Float.self, count: S, device: device), dRGB = try dRGBB.read(Float.self, count: S * 3, device: device)
        for r in 0..<rayCount {
            let background = SIMD3<Double>(Double(bg[3 * r]), Double(bg[3 * r + 1]), Double(bg[3 * r + 2]))
            let twin = VolumeRenderer.referenceAlpha(samples[r], background: background)
            for c in 0..<3 { XCTAssertEqual(Double(out[4 * r + c]), twin.rgb[c], accuracy: 1e-5, "ray \(r) colour \(c)") }
            XCTAssertEqual(Double(out[4 * r + 3]), twin.opacity, accuracy: 1e-5, "ray \(r) opacity")
            let g = SIMD3<Double>(Double(dOut[4 * r]), Double(dOut[4 * r + 1]), Double(dOut[4 * r + 2]))
            let back = VolumeRenderer.referenceAlphaBackward(samples[r], background: background, outputGradient: g,
                                                              opacityGradient: Double(dOut[4 * r + 3]))
            let first = Int(rays[2 * r])
            for i in 0..<samples[r].dt.count {
                XCTAssertEqual(Double(dAlpha[first + i]), back.alpha[i], accuracy: 1e-4 * max(1, abs(back.alpha[i])), "ray \(r) sample \(i) d alpha")
                for c in 0..<3 { XCTAssertEqual(Double(dRGB[3 * (first + i) + c]), back.rgb[i][c], accuracy: 1e-5) }
            }
        }
        // The twin vs central differences on rays with alpha < 1 (no clamp, no termination).
        for r in 0..<rayCount where samples[r].density.allSatisfy({ $0 < 0.95 }) && !samples[r].density.isEmpty {
            let background = SIMD3<Double>(0.3, 0.6, 0.9), g = SIMD3<Double>(0.5, -1, 0.25), gO = 0.7
            func loss(_ s: VolumeRenderer.RaySamples) -> Double {
                let o = VolumeRenderer.referenceAlpha(s, background: background, minTransmittance: 0)
                return (g * o.rgb).sum() + gO * o.opacity
            }
            let back = VolumeRenderer.referenceAlphaBackward(samples[r], background: background, outputGradient: g, opacityGradient: gO,
                                                              minTransmittance: 0)
            for i in samples[r].density.indices where samples[r].density[i] > 1e-6 {
                var p = samples[r], m = samples[r]
                p.density[i] += 1e-7; m.density[i] -= 1e-7
                XCTAssertEqual(back.alpha[i], (loss(p) - loss(m)) / 2e-7, accuracy: 1e-5 * max(1, abs(back.alpha[i])))
            }
        }
    }

    /// The NeRF loss with an opacity column: the mask's BCE vs the twin.
    func testMaskLossMatchesTheTwin() throws {
        let batch = try NerfBatch(device: device)
        var rng = SplitMix64(seed: 3)
        let R = 257
        let rendered = (0..<(4 * R)).map { i in i % 4 == 3 ? (i % 8 == 3 ? Float(1) : rng.uniform(0, 1)) : rng.uniform(0, 1) }
        let targets = (0..<(4 * R)).map { i in i % 4 == 3 ? Float(rng.next() % 2) : rng.uniform(0, 1) }
        let bgs = (0..<(3 * R)).map { _ in rng.uniform(0, 1) }
        let b = { (v: [Float]) in try GPUBuffer(device: self.device, v) }
        let lossB = try GPUBuffer(device: device, length: R * 4), gradB = try GPUBuffer(device: device, length: R * 16)
        let s = try CommandStream(device: device)
        try batch.recordLoss(s, rendered: try b(rendered), targets: try b(targets), backgrounds: try b(bgs), count: R, huber: true,
                             loss: lossB, gradient: gradB, maskWeight: 0.1)
        try s.run()
        let twin = NerfBatch.referenceLoss(rendered: rendered, targets: targets, backgrounds: bgs, huber: true, maskWeight: 0.1)
        let loss = try lossB.read(Float.self, count: R, device: device), grad = try gradB.read(Float.self, count: 4 * R, device: device)
        for r in 0..<R { XCTAssertEqual(loss[r], twin.loss[r], accuracy: 1e-6) }
        for i in 0..<(4 * R) { XCTAssertEqual(grad[i], twin.gradient[i], accuracy: 1e-6) }
    }
}
