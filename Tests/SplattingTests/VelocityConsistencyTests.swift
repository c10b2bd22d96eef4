import Compute
import ComputeTestSupport
import Datasets
import Geometry
@testable import Splatting
import XCTest

/// The 4D consistency regulariser: the twin's gradient against central
/// differences of its value in Double, the GPU kernels against the twin, and
/// the grid neighbour search against brute force.
final class VelocityConsistencyTests: GPUTestCase {
    /// Random 4D Gaussians with anisotropic scales and unnormalised rotations.
    func model(_ n: Int, seed: UInt64) -> GaussianModel {
        var rng = SplitMix64(seed: seed)
        var m = GaussianModel(count: n, shDegree: 0, hasTime: true)
        for i in 0..<n {
            for k in 0..<3 {
                m.positions[3 * i + k] = rng.uniform(-1, 1)
                m.scales[3 * i + k] = rng.uniform(-2.5, -0.5)
            }
            m.timeMeans[i] = rng.uniform()
            m.timeScales[i] = rng.uniform(-2, -0.5)
            for k in 0..<4 {
                m.rotations[4 * i + k] = rng.normal()
                m.rotationsRight[4 * i + k] = rng.normal()
            }
        }
        return m
    }

    func testTwinMatchesFiniteDifferences() {
        let m = model(12, seed: 5)
        let gaussians = (0..<m.count).map { Gaussian4DParametersD(m, $0) }
        let K = 3
        let neighbours = VelocityConsistency.neighbours(of: m, count: K)
        let weight = 0.7
        let grads = VelocityConsistency.reference(gaussians, neighbours: neighbours, count: K, weight: weight)
        // The L1 loss has kinks where a residual component is 0; random
        // Gaussians keep every component far from 0 at this step size.
        let step = 1e-6
        func value(_ g: [Gaussian4DParametersD]) -> Double {
            VelocityConsistency.value(g, neighbours: neighbours, count: K, weight: weight)
        }
        let fields: [(String, WritableKeyPath<Gaussian4DParametersD, Double>)] =
            (0..<4).map { ("logScale[\($0)]", \Gaussian4DParametersD.logScale[$0]) }
            + (0..<4).map { ("left[\($0)]", \Gaussian4DParametersD.left[$0]) }
            + (0..<4).map { ("right[\($0)]", \Gaussian4DParametersD.right[$0]) }
        for i in gaussians.indices {
            for (name, key) in fields {
                var plus = gaussians, minus = gaussians
                plus[i][keyPath: key] += step
                minus[i][keyPath: key] -= step
                let numeric = (value(plus) - value(minus)) / (2 * step)
                XCTAssertEqual(grads[i][keyPath: key], numeric, accuracy: 1e-6 * max(1, abs(numeric)), "Gaussian \(i) \(name)")
            }
            XCTAssertEqual(grads[i].position, .zero)
            XCTAssertEqual(grads[i].timeMean, 0)
        }
    }

    func testGPUMatchesTheTwin() throws {
        guard device.info.float32AtomicAdd else {
            throw XCTSkip("\(device.info.displayName) lacks float atomics; the regulariser's residual pass needs them")
        }
        let m = model(300, seed: 9)
        let n = m.count, K = 8, weight = 2.0
        let neighbours = VelocityConsistency.neighbours(of: m, count: K)
        let consistency = try VelocityConsistency(device: device, weight: weight, neighbours: K)
        var rng = SplitMix64(seed: 3)
        // Gradients already holding a backward pass's values: the kernel adds to them.
        let before = [n * 4, n * 4, n * 3, n].map { count in (0..<count).map { _ in rng.uniform(-0.01, 0.01) } }
        func buffer<T>(_ values: [T], _ label: String) throws -> BufferSlice {
            let b = try GPUBuffer(device: device, values, label: label)
            return b.slice(offset: 0, length: values.count * MemoryLayout<T>.stride)
        }
        let gradients = try before.enumerated().map { try buffer($0.element, "gradient \($0.offset)") }
        let buffers: [BufferRange] = [try buffer(m.rotations, "rotations"), try buffer(m.rotationsRight, "right"),
                                      try buffer(m.scales, "scales"), try buffer(m.timeScales, "time scales"),
                                      try buffer(neighbours, "neighbours"),
                                      try buffer([Float](repeating: 9, count: n * 3), "velocities"),
                                      try buffer([Float](repeating: 9, count: n * 3), "velocity gradients")] + gradients
        let stream = try CommandStream(device: device)
        try consistency.record(stream, buffers: buffers, count: n)
        try stream.run()
        let twin = VelocityConsistency.reference((0..<n).map { Gaussian4DParametersD(m, $0) }, neighbours: neighbours, count: K, weight: weight)
        let out = try gradients.map { try $0.buffer.read(Float.self, count: $0.length / 4, device: device) }
        var largest = 0.0
        for i in 0..<n {
            for k in 0..<4 {
                XCTAssertEqual(Double(out[0][4 * i + k] - before[0][4 * i + k]), twin[i].left[k], accuracy: 2e-4 * max(1, abs(twin[i].left[k])), "left \(i)")
                XCTAssertEqual(Double(out[1][4 * i + k] - before[1][4 * i + k]), twin[i].right[k], accuracy: 2e-4 * max(1, abs(twin[i].right[k])), "right \(i)")
                largest = max(largest, abs(twin[i].left[k]))
            }
            for k in 0..<3 {
                XCTAssertEqual(Double(out[2][3 * i + k] - before[2][3 * i + k]), twin[i].logScale[k], accuracy: 2e-4 * max(1, abs(twin[i].logScale[k])), "scale \(i)")
            }
            XCTAssertEqual(Double(out[3][i] - before[3][i]), twin[i].logScale.w, accuracy: 2e-4 * max(1, abs(twin[i].logScale.w)), "time scale \(i)")
        }
        XCTAssertGreaterThan(largest, 1e-4, "the test should exercise nonzero gradients")
        XCTAssertTrue(out.allSatisfy { $0.allSatisfy(\.isFinite) })
    }

    func testNeighboursMatchBruteForce() {
        let m = model(400, seed: 2)
        let K = 8
        let found = VelocityConsistency.neighbours(of: m, count: K)
        // The same space-time metric: time scaled by the largest side of the means' box.
        var lo = SIMD3<Float>(repeating: .infinity), hi = SIMD3<Float>(repeating: -.infinity)
        for i in 0..<m.count {
            let p = SIMD3(m.positions[3 * i], m.positions[3 * i + 1], m.positions[3 * i + 2])
            lo = pointwiseMin(lo, p); hi = pointwiseMax(hi, p)
        }
        let s = (hi - lo).max()
        func point(_ i: Int) -> SIMD4<Float> { SIMD4(m.positions[3 * i], m.positions[3 * i + 1], m.positions[3 * i + 2], m.timeMeans[i] * s) }
        for i in 0..<m.count {
            let distances = (0..<m.count).filter { $0 != i }.map { j -> (Float, Int) in let d = point(i) - point(j); return ((d * d).sum(), j) }
            let expected = Set(distances.sorted { $0.0 < $1.0 }.prefix(K).map(\.1))
            XCTAssertEqual(Set(found[(i * K)..<((i + 1) * K)].map(Int.init)), expected, "Gaussian \(i)")
        }
    }
}
