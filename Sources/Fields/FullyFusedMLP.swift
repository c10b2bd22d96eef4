import CShaderLayouts
import Compute
import ComputePrimitives
import Foundation
import Geometry

/// The configuration of a fully fused MLP, in tiny-cuda-nn's JSON spelling:
/// `{"otype": "FullyFusedMLP", "activation": "ReLU", "output_activation":
///   "None", "n_neurons": 64, "n_hidden_layers": 2}`, and splat's additions
/// for NeuS's SDF network (Wang et al. 2021): `"biases": true` (a bias per
/// output of every layer) and `"activation": "Softplus"` with
/// `"softplus_beta": 100`. The input and output widths come from where the
/// network sits (the encoding before it, the consumer after it).
public struct MLPConfig: Codable, Equatable {
    public var otype = "FullyFusedMLP"
    /// Between layers: "ReLU" or "Softplus" (softplus(beta z) / beta).
    public var activation = "ReLU"
    public var outputActivation = "None"
    public var neurons = 64
    public var hiddenLayers = 1
    /// A bias per output of every layer, added before the activation (NeuS);
    /// tiny-cuda-nn's networks have none.
    public var biases = false
    /// Softplus's beta: softplus(beta z) / beta nears ReLU as beta grows (NeuS: 100).
    public var softplusBeta: Float = 100

    /// Every key the JSON may hold.
    public static var keys: [String] { CodingKeys.allCases.map(\.rawValue) }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case otype, activation
        case outputActivation = "output_activation"
        case neurons = "n_neurons"
        case hiddenLayers = "n_hidden_layers"
        case biases
        case softplusBeta = "softplus_beta"
    }

    public init(neurons: Int = 64, hiddenLayers: Int = 1, biases: Bool = false, activation: String = "ReLU", softplusBeta: Float = 100) {
        self.neurons = neurons
        self.hiddenLayers = hiddenLayers
        self.biases = biases
        self.activation = activation
        self.softplusBeta = softplusBeta
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        otype = try c.decodeIfPresent(String.self, forKey: .otype) ?? "FullyFusedMLP"
        activation = try c.decodeIfPresent(String.self, forKey: .activation) ?? "ReLU"
        outputActivation = try c.decodeIfPresent(String.self, forKey: .outputActivation) ?? "None"
        neurons = try c.decodeIfPresent(Int.self, forKey: .neurons) ?? 64
        hiddenLayers = try c.decodeIfPresent(Int.self, forKey: .hiddenLayers) ?? 1
        biases = try c.decodeIfPresent(Bool.self, forKey: .biases) ?? false
        softplusBeta = try c.decodeIfPresent(Float.self, forKey: .softplusBeta) ?? 100
    }

    /// splat's additions are written only where they differ from the
    /// defaults, so a NeRF's model and configuration files stay as before
    /// (and readable by a splat that does not know the keys).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(otype, forKey: .otype)
        try c.encode(activation, forKey: .activation)
        try c.encode(outputActivation, forKey: .outputActivation)
        try c.encode(neurons, forKey: .neurons)
        try c.encode(hiddenLayers, forKey: .hiddenLayers)
        if biases { try c.encode(biases, forKey: .biases) }
        if softplusBeta != 100 || activation == "Softplus" { try c.encode(softplusBeta, forKey: .softplusBeta) }
    }

    /// The activation between layers, for the kernels and the twins (ReLU
    /// for a name `problem` rejects).
    public var hiddenActivation: MLPActivation { activation == "Softplus" ? .softplus(beta: Double(softplusBeta)) : .relu }

    /// Why this configuration cannot be built for `inputs` -> `outputs`, or nil.
    public func problem(inputs: Int, outputs: Int) -> String? {
        if !["FullyFusedMLP", "CutlassMLP"].contains(otype) { return "network \"\(otype)\" is not known (known: FullyFusedMLP)" }
        if !["ReLU", "Softplus"].contains(activation) { return "activation \"\(activation)\" is not supported (ReLU, Softplus)" }
        if !(softplusBeta.isFinite && softplusBeta > 0) { return "softplus_beta must be finite and > 0, got \(softplusBeta)" }
        if outputActivation != "None" { return "output_activation \"\(outputActivation)\" is not supported (None; the consumer applies its own)" }
        if ![16, 32, 64, 128].contains(neurons) { return "n_neurons must be 16, 32, 64 or 128, got \(neurons)" }
        if !(0...(Int(MLP_MAX_LAYERS) - 1)).contains(hiddenLayers) { return "n_hidden_layers must be within 0...\(MLP_MAX_LAYERS - 1), got \(hiddenLayers)" }
        if !(1...128).contains(inputs) { return "an MLP input width must be within 1...128, got \(inputs)" }
        if !(1...neurons).contains(outputs) { return "an MLP output width must be within 1...n_neurons (\(neurons)), got \(outputs)" }
        return nil
    }
}

/// The activation between an MLP's layers, as the Swift twins compute it.
public enum MLPActivation: Equatable {
    case relu
    /// softplus(beta z) / beta (NeuS's SDF network: beta 100).
    case softplus(beta: Double)

    /// The activation of pre-activation `z`; softplus as max(z, 0) +
    /// log(1 + e^(-beta |z|)) / beta, which cannot overflow.
    public func apply(_ z: Double) -> Double {
        switch self {
        case .relu: return max(z, 0)
        case let .softplus(beta): return max(z, 0) + Foundation.log1p(Foundation.exp(-beta * abs(z))) / beta
        }
    }

    /// The derivative from the activation's output h, as the backward pass
    /// has only h: ReLU [h > 0]; softplus sigmoid(beta z) = 1 - e^(-beta h).
    public func derivative(output h: Double) -> Double {
        switch self {
        case .relu: return h > 0 ? 1 : 0
        case let .softplus(beta): return -Foundation.expm1(-beta * h)
        }
    }
}

/// A multilayer perceptron in the style of tiny-cuda-nn's FullyFusedMLP
/// (Mueller et al. 2021): no biases, ReLU between layers, no output
/// activation; each workgroup carries a batch of points through every layer
/// with activations and staged weights in shared memory (sized from the
/// device's limit, never assumed). Weights are one flat [sum of out x in] f32
/// buffer, layer after layer, each [out, in] row-major.
///
/// For NeuS's SDF network the configuration adds biases (after all weights
/// in the same buffer: layer l's dims[l + 1] at `biasOffsets[l]`) and the
/// softplus activation, and `geometricInitialWeights` starts it as a sphere.
///
/// Training: `forward(saveHidden: true)`, then `backward` (deltas per layer
/// and optionally d loss / d input), then `weightGradient`. The Swift twins
/// `reference` and `referenceBackward` compute the same in Float/Double.
public final class FullyFusedMLP {
    public let device: ComputeDevice
    public let config: MLPConfig
    /// Widths: dims[0] inputs, dims[1 ..< L] the hidden width, dims[L] outputs.
    public let dims: [Int]
    /// Weight offset of each layer, offsets[L] = the weights' total (and the first bias).
    public let offsets: [Int]
    /// With `config.biases`, the offset of each layer's dims[l + 1] biases
    /// (they follow all weights); empty without.
    public let biasOffsets: [Int]
    public var layers: Int { dims.count - 1 }
    /// Floats of the parameter buffer: the weights and, with biases, every
    /// layer's biases (what gradients and the optimiser cover).
    public let weightCount: Int
    /// The activation between layers.
    public var activation: MLPActivation { config.hiddenActivation }
    /// Points per workgroup (from shared memory).
    public let batch: Int
    /// fp16 storage of the per-point activations and deltas kept between the
    /// passes (half the memory and bandwidth; arithmetic stays fp32).
    public let fp16: Bool
    /// Bytes per stored activation or delta.
    var storageBytes: Int { fp16 ? 2 : 4 }

    let forwardKernel, backwardKernel, weightGradientKernel: Kernel
    let workgroupSize: Int
    let gradientWorkgroupSize: Int
    let dummy: GPUBuffer
    /// Tests: fewer points per dispatch than the binding limit allows (a multiple of 256).
    var maxPointsPerDispatch: Int?

    public static func dims(_ config: MLPConfig, inputs: Int, outputs: Int) -> [Int] {
        [inputs] + Array(repeating: config.neurons, count: config.hiddenLayers) + [outputs]
    }

    /// The parameter layout of a network of widths `dims`: each layer's
    /// weight offset (weights[L] = their total), each layer's bias offset
    /// (with `biases`; after all weights) and the floats of it all.
    public static func layout(dims: [Int], biases: Bool) -> (weights: [Int], biases: [Int], count: Int) {
        var o = [0]
        for l in 0..<(dims.count - 1) { o.append(o[l] + dims[l] * dims[l + 1]) }
        guard biases else { return (o, [], o.last!) }
        var b = [o.last!]
        for l in 1..<dims.count { b.append(b[l - 1] + dims[l]) }
        return (o, Array(b.dropLast()), b.last!)
    }

    public init(device: ComputeDevice, config: MLPConfig, inputs: Int, outputs: Int, fp16: Bool = false) throws {
        if let problem = config.problem(inputs: inputs, outputs: outputs) { throw ComputeError.invalidArgument("MLP: \(problem)") }
        guard !fp16 || device.info.storage16Bit else {
            throw ComputeError.invalidArgument("fp16 storage needs 16-bit storage-buffer access (storageBuffer16BitAccess), which \(device.info.displayName) lacks")
        }
        self.fp16 = fp16
        guard device.info.float32AtomicAdd else {
            throw ComputeError.invalidArgument("MLP training needs float atomic adds on storage buffers (shaderBufferFloat32AtomicAdd), which \(device.info.displayName) lacks")
        }
        self.device = device
        self.config = config
        dims = Self.dims(config, inputs: inputs, outputs: outputs)
        (offsets, biasOffsets, weightCount) = Self.layout(dims: dims, biases: config.biases)
        // Shared memory: two activation buffers of batch x maxDim and a weight
        // stage; the stage takes a whole layer when it fits in half the memory.
        let info = device.info
        // Staged weights are padded to multiples of 4 (mlp_common.glsl).
        let maxDim = dims.max()!
        let padded = dims.map { ($0 + 3) / 4 * 4 }
        let floats = info.maxSharedMemoryBytes / 4
        let largestLayer = zip(padded, padded.dropFirst()).map { $0 * $1 }.max()!
        let weightFloats = max(4 * padded.max()!, min(largestLayer, floats / 2) / 4 * 4)
        // Points per workgroup: a multiple of 4 (each thread takes 4 points).
        let maxPadded = padded.max()!
        var b = 64
        while b > 4 && 2 * b * maxPadded + weightFloats > floats { b /= 2 }
        guard 2 * b * maxPadded + weightFloats <= floats else {
            throw ComputeError.invalidArgument("MLP: \(info.maxSharedMemoryBytes) bytes of shared memory are too few for width \(maxDim)")
        }
        batch = b
        workgroupSize = min(128, info.maxWorkgroupInvocations, info.maxWorkgroupSize[0])
        gradientWorkgroupSize = min(256, info.maxWorkgroupInvocations, info.maxWorkgroupSize[0])
        let spec = [UInt32(workgroupSize), 0, UInt32(b), UInt32(maxPadded), UInt32(weightFloats)]
        let push = MemoryLayout<MLPParams>.size
        assert(push <= 128, "MLPParams outgrew the 128 bytes of push constants every device offers")
        forwardKernel = try device.kernel(fp16 ? ShaderLibrary.mlpForwardF16 : ShaderLibrary.mlpForward, bindings: [.read, .read, .write, .write],
                                          pushConstantBytes: push, specialization: spec)
        backwardKernel = try device.kernel(fp16 ? ShaderLibrary.mlpBackwardF16 : ShaderLibrary.mlpBackward, bindings: [.read, .read, .read, .write, .write],
                                           pushConstantBytes: push, specialization: spec)
        weightGradientKernel = try device.kernel(fp16 ? ShaderLibrary.mlpWeightGradientF16 : ShaderLibrary.mlpWeightGradient,
                                                 bindings: [.read, .read, .read, .readWrite, .read],
                                                 pushConstantBytes: push, specialization: [UInt32(gradientWorkgroupSize)])
        dummy = try GPUBuffer(device: device, length: 16, label: "mlp unused binding")
    }

    /// Bytes of the hidden activations kept for the backward pass of `count` points.
    public func hiddenBytes(count: Int) -> Int { max(1, layers - 1) * count * config.neurons * storageBytes }
    /// Bytes of the per-layer deltas of `count` points.
    public func deltaBytes(count: Int) -> Int { layers * count * config.neurons * storageBytes }

    /// Initial weights: uniform in +-sqrt(6 / (fan_in + fan_out)) per layer
    /// (Glorot, as tiny-cuda-nn); biases, if any, 0. [weightCount] f32.
    public func initialWeights(seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        var w: [Float] = []
        for l in 0..<layers {
            let bound = Float((6.0 / Double(dims[l] + dims[l + 1])).squareRoot())
            for _ in 0..<(dims[l] * dims[l + 1]) { w.append(rng.uniform(-bound, bound)) }
        }
        return w + [Float](repeating: 0, count: weightCount - w.count)
    }

    /// Geometric initialisation (SAL, Atzmon & Lipman 2020, as NeuS uses
    /// it; needs `config.biases`): output 0 starts as roughly |p| - `radius`,
    /// the signed distance of a sphere, of the inputs p at `positionInputs`.
    /// First layer: weights on the position inputs N(0, sqrt(2) / sqrt(out)),
    /// on every other input (an encoding) 0, so the sphere is not disturbed
    /// until training asks for detail; hidden layers N(0, sqrt(2) /
    /// sqrt(out)) (He: the activations' size is kept); biases 0. Last layer:
    /// output 0 N(sqrt(pi) / sqrt(in), 1e-4) with bias -radius, since
    /// E[sum_j w relu(a_j . p)] = |p| for those scales; the other outputs
    /// (features for a colour network) N(0, 1e-4), bias 0: they start near 0
    /// and leave the shape to output 0. [weightCount] f32. The mean error is
    /// of order 0.2 |p| / sqrt(neurons / 64) for one network (the sum is
    /// over finitely many random neurons); it is the expectation that is exact.
    public func geometricInitialWeights(seed: UInt64, positionInputs: Range<Int>, radius: Float) -> [Float] {
        precondition(config.biases, "geometric initialisation needs biases (the last layer's is -radius)")
        precondition(positionInputs.lowerBound >= 0 && positionInputs.upperBound <= dims[0], "position inputs outside the input width")
        var rng = SplitMix64(seed: seed)
        var w = [Float](repeating: 0, count: weightCount)
        for l in 0..<layers {
            let din = dims[l], dout = dims[l + 1]
            for j in 0..<dout {
                for k in 0..<din {
                    let i = offsets[l] + j * din + k
                    if l + 1 == layers {
                        w[i] = j == 0 ? Float(Double.pi.squareRoot()) / Float(din).squareRoot() + 1e-4 * rng.normal() : 1e-4 * rng.normal()
                    } else if l > 0 || positionInputs.contains(k) {
                        w[i] = Float(2).squareRoot() / Float(dout).squareRoot() * rng.normal()
                    }
                }
            }
        }
        w[biasOffsets[layers - 1]] = -radius
        return w
    }

    func params(count: Int, flags: UInt32, slicePoints: Int = 0) -> MLPParams {
        var p = MLPParams()
        p.count = UInt32(count)
        p.layers = UInt32(layers)
        p.width = UInt32(config.neurons)
        // The plain network (tiny-cuda-nn's) sets neither flag and runs as before.
        p.flags = flags | (config.biases ? MLP_FLAG_BIASES : 0) | (config.activation == "Softplus" ? MLP_FLAG_SOFTPLUS : 0)
        p.slicePoints = UInt32(slicePoints)
        p.totalWeights = UInt32(weightCount)
        p.biasOffset = UInt32(offsets[layers])
        p.softplusBeta = config.softplusBeta
        withUnsafeMutableBytes(of: &p.dims) { raw in
            let d = raw.bindMemory(to: UInt32.self)
            for (i, v) in dims.enumerated() { d[i] = UInt32(v) }
        }
        withUnsafeMutableBytes(of: &p.offsets) { raw in
            let d = raw.bindMemory(to: UInt32.self)
            for (i, v) in offsets.enumerated() { d[i] = UInt32(v) }
        }
        return p
    }

    /// Records the forward pass of `count` points.
    /// - Parameters:
    ///   - input: [count, dims[0]] f32
    ///   - weights: [weightCount] f32 (weights, then biases)
    ///   - output: [count, dims[L]] f32, written
    ///   - hidden: `hiddenBytes(count)`, written when given (training): the
    ///     activations' outputs, [L - 1, count, neurons] f32 when `count` fits
    ///     one dispatch (see `chunks`)
    public func forward(_ stream: CommandStream, input: BufferRange, weights: BufferRange, output: BufferRange,
                        hidden: BufferRange? = nil, count: Int) throws {
        for (start, n) in chunks(count) {
            try stream.dispatch(forwardKernel, [
                part(input, start, n, dims[0]), weights, part(output, start, n, dims[layers]),
                hidden.map { part($0, start, n, (layers - 1) * config.neurons, bytes: storageBytes) } ?? dummy,
            ], push: params(count: n, flags: hidden == nil || layers == 1 ? 0 : MLP_FLAG_SAVE_HIDDEN),
               groups: (n + batch - 1) / batch, label: "mlp forward")
        }
    }

    /// Records the backward pass through the activations: `deltas`
    /// (`deltaBytes(count)`; [L, count, neurons] f32 when `count` fits one
    /// dispatch) and, when given, `inputGradient` [count, dims[0]] f32.
    /// - Parameters:
    ///   - outputGradient: [count, dims[L]] f32
    ///   - hidden: what `forward` saved
    public func backward(_ stream: CommandStream, outputGradient: BufferRange, weights: BufferRange, hidden: BufferRange,
                         deltas: BufferRange, inputGradient: BufferRange? = nil, count: Int) throws {
        for (start, n) in chunks(count) {
            try stream.dispatch(backwardKernel, [
                part(outputGradient, start, n, dims[layers]), weights,
                layers == 1 ? dummy : part(hidden, start, n, (layers - 1) * config.neurons, bytes: storageBytes),
                part(deltas, start, n, layers * config.neurons, bytes: storageBytes),
                inputGradient.map { part($0, start, n, dims[0]) } ?? dummy,
            ], push: params(count: n, flags: inputGradient == nil ? 0 : MLP_FLAG_INPUT_GRADIENT),
               groups: (n + batch - 1) / batch, label: "mlp backward")
        }
    }

    /// Records adding d loss / d parameters [weightCount] f32 (weights, then
    /// biases) to `weightGradient` (zero it first for a fresh gradient).
    public func weightGradient(_ stream: CommandStream, input: BufferRange, hidden: BufferRange, deltas: BufferRange,
                               weightGradient: BufferRange, count: Int) throws {
        guard count > 0 else { return }
        // About 256 points per thread and 4 x 4 weights: few atomics, enough workgroups.
        var blocks = 0
        for l in 0..<layers { blocks += ((dims[l + 1] + 3) / 4) * ((dims[l] + 3) / 4) }
        // Biases: blocks of 4 after the weights' (mlp_weight_gradient.glsl).
        if config.biases { for l in 0..<layers { blocks += (dims[l + 1] + 3) / 4 } }
        let groupsPerSlice = (blocks + gradientWorkgroupSize - 1) / gradientWorkgroupSize
        for (start, n) in chunks(count) {
            let slicePoints = min(n, 256)
            let slices = (n + slicePoints - 1) / slicePoints
            let x = part(input, start, n, dims[0])
            try stream.dispatch(weightGradientKernel, [
                x, layers == 1 ? dummy : part(hidden, start, n, (layers - 1) * config.neurons, bytes: storageBytes),
                part(deltas, start, n, layers * config.neurons, bytes: storageBytes), weightGradient, x,
            ], push: params(count: n, flags: 0, slicePoints: slicePoints),
               groups: slices * groupsPerSlice, label: "mlp weight gradient")
        }
    }

    /// Point ranges small enough that every per-point buffer of a range
    /// (deltas: layers x neurons floats a point) fits one storage-buffer
    /// binding (`maxStorageBufferRange`, 128 MiB on lavapipe): the kernels run
    /// once per range. Ranges start at multiples of 256 points, so every
    /// slice offset is a multiple of 1 KiB (any device's offset alignment).
    func chunks(_ count: Int) -> [(start: Int, count: Int)] {
        guard count > 0 else { return [] }
        let perPoint = max(layers * config.neurons, dims[0], dims[layers]) * 4
        var limit = max(256, device.info.maxStorageBufferRange / perPoint / 256 * 256)
        if let cap = maxPointsPerDispatch { limit = min(limit, max(256, cap / 256 * 256)) }
        return stride(from: 0, to: count, by: limit).map { ($0, min(limit, count - $0)) }
    }

    /// The slice of a per-point buffer ([N, valuesPerPoint] of `bytes`-byte
    /// values; hidden and deltas are laid out range after range, each
    /// [layers, n, neurons]) for points start ..< start + n.
    func part(_ range: BufferRange, _ start: Int, _ n: Int, _ valuesPerPoint: Int, bytes: Int = 4) -> BufferRange {
        range.buffer.slice(offset: range.offset + start * valuesPerPoint * bytes, length: n * valuesPerPoint * bytes)
    }

    // MARK: Swift twins

    /// The Swift twin of `forward`: (output [count, dims[L]], hidden per layer
    /// [count, neurons]). `weights` is [weightCount] f32, laid out as
    /// `layout(dims:biases:)` says; the arithmetic is Float's, as the GPU's.
    public static func reference(dims: [Int], weights: [Float], input: [Float], biases: Bool = false,
                                 activation: MLPActivation = .relu) -> (output: [Float], hidden: [[Float]]) {
        let count = input.count / dims[0]
        let (offsets, biasOffsets, _) = layout(dims: dims, biases: biases)
        var act = input
        var hidden: [[Float]] = []
        for l in 0..<(dims.count - 1) {
            let din = dims[l], dout = dims[l + 1]
            let last = l + 2 == dims.count
            var next = [Float](repeating: 0, count: count * dout)
            for p in 0..<count {
                for j in 0..<dout {
                    var s: Float = 0
                    for k in 0..<din { s += weights[offsets[l] + j * din + k] * act[p * din + k] }
                    if biases { s += weights[biasOffsets[l] + j] }
                    next[p * dout + j] = last ? s : Float(activation.apply(Double(s)))
                }
            }
            if !last { hidden.append(next) }
            act = next
        }
        return (act, hidden)
    }

    /// Every layer's input in Double (acts[0] = input, acts[L] = output).
    static func doubleForward(dims: [Int], weights: [Double], input: [Double], biases: Bool = false,
                              activation: MLPActivation = .relu) -> [[Double]] {
        let count = input.count / dims[0]
        let L = dims.count - 1
        let (offsets, biasOffsets, _) = layout(dims: dims, biases: biases)
        var acts: [[Double]] = [input]
        for l in 0..<L {
            let din = dims[l], dout = dims[l + 1]
            var next = [Double](repeating: 0, count: count * dout)
            for p in 0..<count {
                for j in 0..<dout {
                    var s = 0.0
                    for k in 0..<din { s += weights[offsets[l] + j * din + k] * acts[l][p * din + k] }
                    if biases { s += weights[biasOffsets[l] + j] }
                    next[p * dout + j] = l + 1 < L ? activation.apply(s) : s
                }
            }
            acts.append(next)
        }
        return acts
    }

    /// The Double forward's output (finite-difference tests).
    static func referenceBackwardForward(dims: [Int], weights: [Double], input: [Double], biases: Bool = false,
                                         activation: MLPActivation = .relu) -> [Double] {
        doubleForward(dims: dims, weights: weights, input: input, biases: biases, activation: activation).last!
    }

    /// The Swift twin of the backward passes, in Double: (d loss / d
    /// parameters [weightCount], weights then biases; d loss / d input) from d
    /// loss / d output. The activation's derivative comes from its output,
    /// as on the GPU. With `fp16`, the parameter gradient and the derivative
    /// use the activations and deltas rounded to fp16, as the GPU stores them
    /// between the passes.
    public static func referenceBackward(dims: [Int], weights: [Double], input: [Double], outputGradient: [Double], fp16: Bool = false,
                                         biases: Bool = false, activation: MLPActivation = .relu)
        -> (weights: [Double], input: [Double]) {
        func stored(_ x: Double) -> Double { fp16 ? Double(Float(Float16(Float(x)))) : x }
        let count = input.count / dims[0]
        let L = dims.count - 1
        let (offsets, biasOffsets, total) = layout(dims: dims, biases: biases)
        let acts = doubleForward(dims: dims, weights: weights, input: input, biases: biases, activation: activation)
        var dW = [Double](repeating: 0, count: total)
        var delta = outputGradient
        for l in stride(from: L - 1, through: 0, by: -1) {
            let din = dims[l], dout = dims[l + 1]
            var dIn = [Double](repeating: 0, count: count * din)
            for p in 0..<count {
                for j in 0..<dout {
                    let d = delta[p * dout + j]
                    if d == 0 { continue }
                    let ds = stored(d)
                    if biases { dW[biasOffsets[l] + j] += ds }
                    for k in 0..<din {
                        let a = acts[l][p * din + k]
                        dW[offsets[l] + j * din + k] += ds * (l > 0 ? stored(a) : a)
                        dIn[p * din + k] += weights[offsets[l] + j * din + k] * d
                    }
                }
            }
            if l > 0 { for i in dIn.indices { dIn[i] *= activation.derivative(output: stored(acts[l][i])) } }
            delta = dIn
        }
        return (dW, delta)
    }
}
