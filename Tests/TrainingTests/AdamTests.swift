import Compute
import ComputeTestSupport
import Geometry
@testable import Training
import XCTest

final class AdamTests: GPUTestCase {
    /// `count` not a multiple of 4 exercises the kernel's scalar tail (it
    /// updates 4 elements per thread through vec4 views).
    func run(sparse: Bool, count: Int = 10_000, l2: Float = 0) throws {
        var rng = SplitMix64(seed: 4)
        var params = (0..<count).map { _ in rng.uniform(-1, 1) }
        let h = Adam.Hyperparameters(epsilon: 1e-15, sparse: sparse)
        let adam = try Adam(device: device, hyperparameters: h)
        let p = try GPUBuffer(device: device, params)
        let g = try GPUBuffer(device: device, length: count * 4)
        var m = [Float](repeating: 0, count: count), v = [Float](repeating: 0, count: count)
        for step in 1...5 {
            // Every third gradient is exactly zero: sparse Adam leaves those alone.
            let grads = (0..<count).map { i in i % 3 == 0 ? 0 : rng.uniform(-2, 2) }
            try g.write(grads, device: device)
            adam.beginStep()
            let stream = try CommandStream(device: device)
            try adam.record(stream, group: "x", parameters: p, gradients: g, count: count, learningRate: 0.01, l2: l2)
            try stream.run()
            Adam.reference(parameters: &params, gradients: grads, m: &m, v: &v, step: step, learningRate: 0.01, hyperparameters: h, l2: l2)
            let gpu = try p.read(Float.self, count: count, device: device)
            for i in 0..<count {
                XCTAssertEqual(gpu[i], params[i], accuracy: 1e-5, "element \(i) step \(step) sparse \(sparse)")
            }
            XCTAssertTrue(gpu.allSatisfy(\.isFinite))
        }
    }

    func testDenseMatchesTheTwin() throws { try run(sparse: false) }
    func testSparseMatchesTheTwin() throws { try run(sparse: true) }
    /// L2 regularisation (instant-ngp's 1e-6 on MLP weights; 0.1 here so it shows).
    func testL2MatchesTheTwin() throws {
        try run(sparse: false, count: 1_027, l2: 0.1)
        try run(sparse: true, count: 1_027, l2: 0.1)
    }
    func testTailMatchesTheTwin() throws {
        for count in [1, 3, 4, 1_027] {
            try run(sparse: false, count: count)
            try run(sparse: true, count: count)
        }
    }
}
