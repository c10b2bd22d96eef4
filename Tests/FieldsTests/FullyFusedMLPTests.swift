import CShaderLayouts
import Compute
import ComputeTestSupport
@testable import Fields
import Foundation
import Geometry
import XCTest

final class FullyFusedMLPTests: GPUTestCase {
    /// Forward, backward (deltas and input gradient) and weight gradient vs
    /// the twins, per output with its own tolerance, over widths, depths,
    /// odd input/output widths and point counts that leave a partial batch.
    func check(neurons: Int, hiddenLayers: Int, inputs: Int, outputs: Int, count: Int, seed: UInt64, pointsPerDispatch: Int? = nil,
               fp16: Bool = false) throws {
        let config = MLPConfig(neurons: neurons, hiddenLayers: hiddenLayers)
        let mlp = try FullyFusedMLP(device: device, config: config, inputs: inputs, outputs: outputs, fp16: fp16)
        mlp.maxPointsPerDispatch = pointsPerDispatch
        var rng = SplitMix64(seed: seed)
        let weights = mlp.initialWeights(seed: seed)
        let input = (0..<(count * inputs)).map { _ in rng.uniform(-1, 1) }
        let dOut = (0..<(count * outputs)).map { _ in rng.uniform(-1, 1) }
        let label = "width \(neurons) hidden \(hiddenLayers) in \(inputs) out \(outputs) count \(count)\(fp16 ? " fp16" : "")"

        let inB = try GPUBuffer(device: device, input)
        let wB = try GPUBuffer(device: device, weights)
        let outB = try GPUBuffer(device: device, length: count * outputs * 4)
        let hidB = try GPUBuffer(device: device, length: mlp.hiddenBytes(count: count))
        let dOutB = try GPUBuffer(device: device, dOut)
        let deltaB = try GPUBuffer(device: device, length: mlp.deltaBytes(count: count))
        let dInB = try GPUBuffer(device: device, length: count * inputs * 4)
        let dWB = try GPUBuffer(device: device, length: mlp.weightCount * 4)
        let stream = try CommandStream(device: device)
        stream.fill(dWB, value: 0)
        try mlp.forward(stream, input: inB, weights: wB, output: outB, hidden: hidB, count: count)
        try mlp.backward(stream, outputGradient: dOutB, weights: wB, hidden: hidB, deltas: deltaB, inputGradient: dInB, count: count)
        try mlp.weightGradient(stream, input: inB, hidden: hidB, deltas: deltaB, weightGradient: dWB, count: count)
        try stream.run()

        let twin = FullyFusedMLP.reference(dims: mlp.dims, weights: weights, input: input)
        let gpuOut = try outB.read(Float.self, count: count * outputs, device: device)
        for i in gpuOut.indices { XCTAssertEqual(gpuOut[i], twin.output[i], accuracy: 1e-4, "\(label): output \(i)") }
        if hiddenLayers > 0 && pointsPerDispatch == nil {
            let n = hiddenLayers * count * neurons
            let gpuHidden = fp16 ? try hidB.read(UInt16.self, count: n, device: device).map { Float(Float16(bitPattern: $0)) }
                                 : try hidB.read(Float.self, count: n, device: device)
            for l in 0..<hiddenLayers {
                for i in 0..<(count * neurons) {
                    // fp16 keeps 11 significant bits: relative 2^-11 after rounding.
                    let t = twin.hidden[l][i], tolerance = fp16 ? 1e-4 + abs(t) / 1024 : 1e-4
                    XCTAssertEqual(gpuHidden[l * count * neurons + i], t, accuracy: tolerance, "\(label): hidden \(l) \(i)")
                }
            }
        }
        let back = FullyFusedMLP.referenceBackward(dims: mlp.dims, weights: weights.map(Double.init), input: input.map(Double.init),
                                                   outputGradient: dOut.map(Double.init), fp16: fp16)
        let gpuDIn = try dInB.read(Float.self, count: count * inputs, device: device)
        for i in gpuDIn.indices { XCTAssertEqual(Double(gpuDIn[i]), back.input[i], accuracy: 1e-4, "\(label): input gradient \(i)") }
        let gpuDW = try dWB.read(Float.self, count: mlp.weightCount, device: device)
        // A weight's gradient sums `count` products: tolerance grows with it.
        // fp16: the GPU's fp32 deltas and the twin's Double ones may round to
        // neighbouring fp16 values (one step, 2^-11 relative, in a few products).
        let tolerance = (fp16 ? 2e-4 : 1e-5) * Double(count).squareRoot() * 4
        for i in gpuDW.indices {
            XCTAssertEqual(Double(gpuDW[i]), back.weights[i], accuracy: tolerance * max(1, abs(back.weights[i])), "\(label): weight gradient \(i)")
        }
        XCTAssertTrue(gpuOut.allSatisfy(\.isFinite) && gpuDIn.allSatisfy(\.isFinite) && gpuDW.allSatisfy(\.isFinite), label)
    }

    func testMatchesTheTwins() throws {
        try check(neurons: 64, hiddenLayers: 1, inputs: 32, outputs: 16, count: 300, seed: 1)   // instant-ngp's density network
        try check(neurons: 64, hiddenLayers: 2, inputs: 32, outputs: 3, count: 257, seed: 2)    // its colour network
        try check(neurons: 16, hiddenLayers: 3, inputs: 5, outputs: 1, count: 65, seed: 3)
        try check(neurons: 128, hiddenLayers: 2, inputs: 7, outputs: 128, count: 100, seed: 4)  // weights staged in parts on 32 KiB
        try check(neurons: 32, hiddenLayers: 0, inputs: 3, outputs: 2, count: 1, seed: 5)       // one layer, one point
    }

    /// fp16 storage of the activations and deltas between the passes
    /// (behind a flag; where the device has 16-bit storage): the twin rounds
    /// the same values to fp16 for the weight gradient.
    func testFP16StorageMatchesTheTwins() throws {
        guard device.info.storage16Bit else { throw XCTSkip("\(device.info.displayName) has no 16-bit storage") }
        try check(neurons: 64, hiddenLayers: 1, inputs: 32, outputs: 16, count: 300, seed: 11, fp16: true)
        try check(neurons: 32, hiddenLayers: 2, inputs: 32, outputs: 3, count: 257, seed: 12, fp16: true)
        try check(neurons: 16, hiddenLayers: 1, inputs: 5, outputs: 16, count: 513, seed: 13, pointsPerDispatch: 256, fp16: true)
    }

    /// Batches whose per-point buffers exceed one binding (2^18 samples of a
    /// 3-layer, 64-wide network on lavapipe's 128 MiB) run in point ranges;
    /// here forced to 256 points per dispatch.
    func testPointRangesMatchTheTwins() throws {
        try check(neurons: 64, hiddenLayers: 2, inputs: 32, outputs: 3, count: 700, seed: 6, pointsPerDispatch: 256)
        try check(neurons: 16, hiddenLayers: 1, inputs: 5, outputs: 16, count: 513, seed: 7, pointsPerDispatch: 256)
    }

    /// The Double twin against central differences. ReLU has a kink at 0, so
    /// the scene keeps every pre-activation away from it: points whose
    /// smallest |pre-activation| is under 0.05 are dropped before the check,
    /// and the step (1e-6) cannot move a pre-activation that far.
    func testTwinMatchesFiniteDifferences() throws {
        let dims = [4, 16, 16, 3]
        var rng = SplitMix64(seed: 9)
        let weights = (0..<(4 * 16 + 16 * 16 + 16 * 3)).map { _ in Double(rng.uniform(-0.7, 0.7)) }
        var input: [Double] = []
        func preActivationMargin(_ x: [Double]) -> Double {
            var act = x, offset = 0, margin = Double.infinity
            for l in 0..<(dims.count - 2) {
                var next = [Double](repeating: 0, count: dims[l + 1])
                for j in 0..<dims[l + 1] {
                    var s = 0.0
                    for k in 0..<dims[l] { s += weights[offset + j * dims[l] + k] * act[k] }
                    margin = min(margin, abs(s))
                    next[j] = max(s, 0)
                }
                offset += dims[l] * dims[l + 1]
                act = next
            }
            return margin
        }
        while input.count < 12 * 4 {
            let x = (0..<4).map { _ in Double(rng.uniform(-1, 1)) }
            if preActivationMargin(x) > 0.05 { input += x }
        }
        let dOut = (0..<(12 * 3)).map { _ in Double(rng.uniform(-1, 1)) }
        func loss(_ w: [Double], _ x: [Double]) -> Double {
            let out = FullyFusedMLP.referenceBackwardForward(dims: dims, weights: w, input: x)
            return zip(out, dOut).map(*).reduce(0, +)
        }
        let analytic = FullyFusedMLP.referenceBackward(dims: dims, weights: weights, input: input, outputGradient: dOut)
        let h = 1e-6
        var w = weights
        for i in stride(from: 0, to: w.count, by: 5) {
            let saved = w[i]
            w[i] = saved + h; let up = loss(w, input)
            w[i] = saved - h; let down = loss(w, input)
            w[i] = saved
            XCTAssertEqual(analytic.weights[i], (up - down) / (2 * h), accuracy: 1e-6, "weight \(i)")
        }
        var x = input
        for i in x.indices {
            let saved = x[i]
            x[i] = saved + h; let up = loss(weights, x)
            x[i] = saved - h; let down = loss(weights, x)
            x[i] = saved
            XCTAssertEqual(analytic.input[i], (up - down) / (2 * h), accuracy: 1e-6, "input \(i)")
        }
    }

    func testConfigurationFromTinyCudaNNJSON() throws {
        let json = #"{"otype": "FullyFusedMLP", "activation": "ReLU", "output_activation": "None", "n_neurons": 64, "n_hidden_layers": 2}"#
        let config = try JSONDecoder().decode(MLPConfig.self, from: Data(json.utf8))
        XCTAssertEqual(config, MLPConfig(neurons: 64, hiddenLayers: 2))
        XCTAssertNil(config.problem(inputs: 32, outputs: 3))
        XCTAssertEqual(MLPConfig(neurons: 48).problem(inputs: 32, outputs: 3), "n_neurons must be 16, 32, 64 or 128, got 48")
        XCTAssertNotNil(config.problem(inputs: 32, outputs: 65))
        XCTAssertThrowsError(try FullyFusedMLP(device: device, config: MLPConfig(neurons: 48), inputs: 3, outputs: 1))
    }
}
