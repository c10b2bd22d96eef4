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
    /// odd input/output widths and point counts that leave a partial batch;
    /// optionally with biases (random, not the initial zeros) and softplus.
    func check(neurons: Int, hiddenLayers: Int, inputs: Int, outputs: Int, count: Int, seed: UInt64, pointsPerDispatch: Int? = nil,
               fp16: Bool = false, biases: Bool = false, softplusBeta: Float? = nil) throws {
        let config = MLPConfig(neurons: neurons, hiddenLayers: hiddenLayers, biases: biases,
                               activation: softplusBeta == nil ? "ReLU" : "Softplus", softplusBeta: softplusBeta ?? 100)
        let mlp = try FullyFusedMLP(device: device, config: config, inputs: inputs, outputs: outputs, fp16: fp16)
        mlp.maxPointsPerDispatch = pointsPerDispatch
        var rng = SplitMix64(seed: seed)
        var weights = mlp.initialWeights(seed: seed)
        for i in mlp.offsets[mlp.layers]..<mlp.weightCount { weights[i] = rng.uniform(-0.5, 0.5) }
        let input = (0..<(count * inputs)).map { _ in rng.uniform(-1, 1) }
        let dOut = (0..<(count * outputs)).map { _ in rng.uniform(-1, 1) }
        let label = "width \(neurons) hidden \(hiddenLayers) in \(inputs) out \(outputs) count \(count)\(fp16 ? " fp16" : "")"
            + "\(biases ? " biases" : "")\(softplusBeta.map { " softplus \($0)" } ?? "")"

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

        let twin = FullyFusedMLP.reference(dims: mlp.dims, weights: weights, input: input, biases: biases, activation: mlp.activation)
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
                                                   outputGradient: dOut.map(Double.init), fp16: fp16, biases: biases, activation: mlp.activation)
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

    /// NeuS's SDF network: biases and softplus (beta 100 as NeuS, 10 for
    /// visibly curved activations), each alone and together, over widths,
    /// depths, partial batches, point ranges and fp16 storage.
    func testBiasesAndSoftplusMatchTheTwins() throws {
        try check(neurons: 64, hiddenLayers: 2, inputs: 32, outputs: 3, count: 257, seed: 21, biases: true)
        try check(neurons: 64, hiddenLayers: 1, inputs: 32, outputs: 16, count: 300, seed: 22, softplusBeta: 100)
        try check(neurons: 64, hiddenLayers: 2, inputs: 39, outputs: 17, count: 129, seed: 23, biases: true, softplusBeta: 100)  // NeuS-like: x + PE, SDF + features
        try check(neurons: 16, hiddenLayers: 3, inputs: 5, outputs: 1, count: 65, seed: 24, biases: true, softplusBeta: 10)
        try check(neurons: 128, hiddenLayers: 2, inputs: 7, outputs: 128, count: 100, seed: 25, biases: true, softplusBeta: 100)
        try check(neurons: 32, hiddenLayers: 0, inputs: 3, outputs: 2, count: 1, seed: 26, biases: true)
        try check(neurons: 16, hiddenLayers: 1, inputs: 5, outputs: 16, count: 513, seed: 27, pointsPerDispatch: 256, biases: true, softplusBeta: 10)
        guard device.info.storage16Bit else { return }
        try check(neurons: 64, hiddenLayers: 1, inputs: 32, outputs: 16, count: 300, seed: 28, fp16: true, biases: true, softplusBeta: 100)
        try check(neurons: 32, hiddenLayers: 2, inputs: 7, outputs: 3, count: 257, seed: 29, fp16: true, biases: true, softplusBeta: 10)
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

    /// Softplus and biases: the Double twin against central differences,
    /// every bias and every fifth weight and every input (softplus has no
    /// kink, so any point will do).
    func testSoftplusBiasesTwinMatchesFiniteDifferences() throws {
        let dims = [4, 16, 16, 3]
        let activation = MLPActivation.softplus(beta: 100)
        let (offsets, biasOffsets, total) = FullyFusedMLP.layout(dims: dims, biases: true)
        XCTAssertEqual(biasOffsets, [offsets[3], offsets[3] + 16, offsets[3] + 32])
        XCTAssertEqual(total, offsets[3] + 16 + 16 + 3)
        var rng = SplitMix64(seed: 19)
        let weights = (0..<total).map { _ in Double(rng.uniform(-0.7, 0.7)) }
        let input = (0..<(12 * 4)).map { _ in Double(rng.uniform(-1, 1)) }
        let dOut = (0..<(12 * 3)).map { _ in Double(rng.uniform(-1, 1)) }
        func loss(_ w: [Double], _ x: [Double]) -> Double {
            let out = FullyFusedMLP.referenceBackwardForward(dims: dims, weights: w, input: x, biases: true, activation: activation)
            return zip(out, dOut).map(*).reduce(0, +)
        }
        let analytic = FullyFusedMLP.referenceBackward(dims: dims, weights: weights, input: input, outputGradient: dOut,
                                                       biases: true, activation: activation)
        XCTAssertEqual(analytic.weights.count, total)
        let h = 1e-6
        var w = weights
        for i in Array(stride(from: 0, to: offsets[3], by: 5)) + Array(offsets[3]..<total) {
            let saved = w[i]
            w[i] = saved + h; let up = loss(w, input)
            w[i] = saved - h; let down = loss(w, input)
            w[i] = saved
            XCTAssertEqual(analytic.weights[i], (up - down) / (2 * h), accuracy: 1e-6, i < offsets[3] ? "weight \(i)" : "bias \(i)")
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

    /// Softplus written as max(z, 0) + log(1 + e^(-beta |z|)) / beta is
    /// finite for any z, and its derivative from the output is sigmoid(beta z).
    func testSoftplusIsStable() {
        let a = MLPActivation.softplus(beta: 100)
        XCTAssertEqual(a.apply(1e4), 1e4)
        XCTAssertEqual(a.apply(-1e4), 0)
        XCTAssertEqual(a.apply(0), log(2) / 100, accuracy: 1e-15)
        for z in [-0.05, -0.01, 0, 0.003, 0.02] {
            XCTAssertEqual(a.derivative(output: a.apply(z)), 1 / (1 + exp(-100 * z)), accuracy: 1e-12, "z \(z)")
        }
    }

    /// SAL's geometric initialisation (as NeuS): output 0 of a 64-wide,
    /// one-hidden-layer network approximates |p| - r over the position
    /// inputs, whatever the other inputs, for ReLU and softplus (beta 100);
    /// the other outputs start near 0. The GPU forward (biases on) runs it.
    /// One network's error is that of a sum over 64 random neurons (about
    /// 0.18 |p| rms, 0.04 to 0.14 mean over seeds); the expectation over
    /// initialisations is exact, so the mean of 8 networks must come within 0.05.
    func testGeometricInitialisationIsASphere() throws {
        let count = 1000, inputs = 8, outputs = 4, radius: Float = 0.3
        var rng = SplitMix64(seed: 41)
        // [count, 8] f32: x, y, z in [-0.5, 0.5]^3, then 5 inputs an encoding might give.
        var input: [Float] = []
        var target: [Float] = []
        for _ in 0..<count {
            let p = (0..<3).map { _ in rng.uniform(-0.5, 0.5) }
            input += p + (0..<5).map { _ in rng.uniform(-1, 1) }
            target.append((p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).squareRoot() - radius)
        }
        for activation in ["ReLU", "Softplus"] {
            let mlp = try FullyFusedMLP(device: device, config: MLPConfig(neurons: 64, hiddenLayers: 1, biases: true, activation: activation),
                                        inputs: inputs, outputs: outputs)
            let inB = try GPUBuffer(device: device, input)
            let outB = try GPUBuffer(device: device, length: count * outputs * 4)
            var mean = [Float](repeating: 0, count: count)
            for seed in UInt64(1)...8 {
                let weights = mlp.geometricInitialWeights(seed: seed, positionInputs: 0..<3, radius: radius)
                XCTAssertEqual(weights.count, mlp.weightCount)
                XCTAssertEqual(weights[mlp.biasOffsets[1]], -radius)
                let wB = try GPUBuffer(device: device, weights)
                let stream = try CommandStream(device: device)
                try mlp.forward(stream, input: inB, weights: wB, output: outB, count: count)
                try stream.run()
                let out = try outB.read(Float.self, count: count * outputs, device: device)
                let twin = FullyFusedMLP.reference(dims: mlp.dims, weights: weights, input: input, biases: true, activation: mlp.activation).output
                for i in out.indices { XCTAssertEqual(out[i], twin[i], accuracy: 1e-4, "\(activation) seed \(seed) output \(i)") }
                var error: Float = 0
                for p in 0..<count {
                    error += abs(out[p * outputs] - target[p]) / Float(count)
                    mean[p] += out[p * outputs] / 8
                    for k in 1..<outputs { XCTAssertLessThan(abs(out[p * outputs + k]), 0.01, "\(activation) seed \(seed) feature \(k)") }
                }
                XCTAssertLessThan(error, 0.2, "\(activation) seed \(seed)")
            }
            let error = zip(mean, target).map { abs($0 - $1) }.reduce(0, +) / Float(count)
            XCTAssertLessThan(error, 0.05, "\(activation): the mean of 8 initialisations")
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

    /// NeuS's keys: biases, Softplus and its beta; validated; written only
    /// where they differ from the defaults (a NeRF's files stay as they were).
    func testConfigurationWithBiasesAndSoftplus() throws {
        let json = #"{"otype": "FullyFusedMLP", "activation": "Softplus", "softplus_beta": 50, "biases": true, "n_neurons": 64, "n_hidden_layers": 2}"#
        let config = try JSONDecoder().decode(MLPConfig.self, from: Data(json.utf8))
        XCTAssertEqual(config, MLPConfig(neurons: 64, hiddenLayers: 2, biases: true, activation: "Softplus", softplusBeta: 50))
        XCTAssertEqual(config.hiddenActivation, .softplus(beta: 50))
        XCTAssertNil(config.problem(inputs: 39, outputs: 17))
        XCTAssertEqual(try JSONDecoder().decode(MLPConfig.self, from: JSONEncoder().encode(config)), config)
        let plain = String(decoding: try JSONEncoder().encode(MLPConfig()), as: UTF8.self)
        XCTAssertFalse(plain.contains("biases") || plain.contains("softplus_beta"), plain)
        XCTAssertTrue(MLPConfig.keys.contains("biases") && MLPConfig.keys.contains("softplus_beta"))
        XCTAssertEqual(MLPConfig(activation: "Tanh").problem(inputs: 3, outputs: 1), "activation \"Tanh\" is not supported (ReLU, Softplus)")
        for beta in [0, -1, Float.infinity, .nan] {
            XCTAssertNotNil(MLPConfig(activation: "Softplus", softplusBeta: beta).problem(inputs: 3, outputs: 1), "beta \(beta)")
        }
        // The NeRF configuration's strict decoding knows the keys inside its networks.
        let nerf = try NerfConfig.decode(Data(#"{"network": {"n_neurons": 32, "biases": true, "activation": "Softplus"}}"#.utf8), path: "c.json")
        XCTAssertTrue(nerf.network.biases)
        XCTAssertThrowsError(try NerfConfig.decode(Data(#"{"network": {"bias": true}}"#.utf8), path: "c.json"))

        // Parameters: weights, then biases; the push constants stay within 128 bytes.
        let mlp = try FullyFusedMLP(device: device, config: config, inputs: 39, outputs: 17)
        let weights = 39 * 64 + 64 * 64 + 64 * 17
        XCTAssertEqual(mlp.offsets.last, weights)
        XCTAssertEqual(mlp.biasOffsets, [weights, weights + 64, weights + 128])
        XCTAssertEqual(mlp.weightCount, weights + 64 + 64 + 17)
        XCTAssertEqual(mlp.initialWeights(seed: 1).count, mlp.weightCount)
        XCTAssertLessThanOrEqual(MemoryLayout<MLPParams>.size, 128)
    }
}
