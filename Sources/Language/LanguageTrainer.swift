import Compute
import ComputePrimitives
import Datasets
import Foundation
import Geometry
import Splatting
import Training

/// Trains a language feature field on a frozen 3D Gaussian model
/// (LangSplatV2, Li et al. 2025): per step one view's sparse weights are
/// splatted into a [H, W, levels * L] map, the loss is the mean over
/// pixels with a feature of 1 - cos(decoded feature, ground truth) per
/// level, and Adam updates the per-Gaussian logits and the codebooks.
/// Nothing on the device grows per step beyond the largest view.
public final class LanguageTrainer {
    public let device: ComputeDevice
    public let rasterizer: GaussianRasterizer
    public let kernels: LanguageKernels
    public let config: LanguageTrainingConfig
    public var settings: RasterSettings
    public private(set) var iteration = 0
    let frames: [LanguageFrame]
    let adam: Adam
    var rng: SplitMix64
    var order: [Int] = []
    let stream: CommandStream

    let logits: GPUBuffer            // [N, levels, L] f32
    let logitGradient: GPUBuffer     // [N, levels, L] f32
    let codebook: GPUBuffer          // [levels, L, D] f32
    let codebookGradient: GPUBuffer  // [levels, L, D] f32
    let payload: GPUBuffer           // [N, levels * K, 2]
    let gram: GPUBuffer              // [levels, L, L] f32
    let segmentSums = ScratchBuffer(label: "language segment sums")  // [levels, M, L]
    let outerSums: GPUBuffer          // [levels, L, L]
    let rows = ScratchBuffer(label: "language feature rows")         // [M, D]
    let targets = ScratchBuffer(label: "language targets")           // [levels, M, L]
    let segments = ScratchBuffer(label: "language segments")         // [levels, P] i32
    let pixelOrder = ScratchBuffer(label: "language pixel order")    // [levels, P] u32
    let offsets = ScratchBuffer(label: "language segment offsets")   // [levels, M + 1] u32
    let weightGradient = ScratchBuffer(label: "language weight gradient")  // [P, levels L]
    let coefficients = ScratchBuffer(label: "language coefficients") // [levels, P, 2]
    let lossPixels = ScratchBuffer(label: "language loss")           // [levels, P]
    var lastValid: [Int] = []
    var lastPixels = 0

    public var gaussianCount: Int { rasterizer.gaussianCount }

    /// `geometry`: the trained 3D model (frozen); `frames`: the training views.
    /// `initialLogits` [N, levels, L] and `initialCodebooks` [levels, L, D]
    /// default to small random logits and k-means codebooks.
    public init(device: ComputeDevice, geometry: GaussianModel, frames: [LanguageFrame], config: LanguageTrainingConfig,
                settings: RasterSettings, initialCodebooks: [Float]? = nil, initialLogits: [Float]? = nil) throws {
        guard !geometry.hasTime else { throw ComputeError.invalidArgument("language features need a 3D Gaussian model, not a 4D one") }
        self.device = device
        self.config = config
        self.frames = frames
        var s = settings
        s.blendMode = .alpha
        s.channelBackgroundValues = [Float](repeating: 0, count: config.shape.channels)
        self.settings = s
        kernels = try LanguageKernels(device: device, shape: config.shape)
        rasterizer = try GaussianRasterizer(device: device)
        try rasterizer.setModel(geometry)
        adam = try Adam(device: device)
        rng = SplitMix64(seed: config.seed)
        stream = try CommandStream(device: device)
        let shape = config.shape, n = geometry.count
        let L = shape.codebookSize, D = shape.dimension
        var startLogits = initialLogits ?? []
        if initialLogits == nil {
            startLogits.reserveCapacity(n * shape.channels)
            for _ in 0..<(n * shape.channels) { startLogits.append(0.01 * rng.normal()) }
        }
        guard startLogits.count == n * shape.channels else {
            throw ComputeError.invalidArgument("initial logits: \(startLogits.count) values for [\(n), \(shape.levels), \(L)]")
        }
        let startCodebooks = initialCodebooks ?? CodebookInitialization.codebooks(frames: frames, config: config)
        guard startCodebooks.count == shape.levels * L * D else {
            throw ComputeError.invalidArgument("initial codebooks: \(startCodebooks.count) values for [\(shape.levels), \(L), \(D)]")
        }
        logits = try GPUBuffer(device: device, startLogits.isEmpty ? [0] : startLogits, label: "language logits")
        logitGradient = try GPUBuffer(device: device, length: max(4, n * shape.channels * 4), label: "language logit gradient")
        codebook = try GPUBuffer(device: device, startCodebooks, label: "language codebook")
        codebookGradient = try GPUBuffer(device: device, length: startCodebooks.count * 4, label: "language codebook gradient")
        payload = try GPUBuffer(device: device, length: max(8, n * shape.payloadPairs * 8), label: "language payload")
        gram = try GPUBuffer(device: device, length: shape.levels * L * L * 4, label: "language Gram")
        outerSums = try GPUBuffer(device: device, length: shape.levels * L * L * 4, label: "language outer sums")
    }

    var payloadDescription: RasterPayload {
        RasterPayload(layout: PayloadLayout(channels: config.shape.channels, sparsePairs: config.shape.payloadPairs, sparseGroups: config.shape.levels), buffer: payload)
    }

    func whole(_ b: GPUBuffer, _ bytes: Int) -> BufferRange { b.slice(offset: 0, length: bytes) }

    /// Renders `frame`'s weight map and uploads its features; records the
    /// products and the loss into `stream` (not run).
    func recordLoss(frame: LanguageFrame) throws {
        let shape = config.shape, L = shape.codebookSize, D = shape.dimension, levels = shape.levels
        let n = gaussianCount
        let f = frame.features
        let P = frame.camera.width * frame.camera.height
        guard f.width == frame.camera.width, f.height == frame.camera.height, f.dimension == D else {
            throw ComputeError.invalidArgument("\(frame.name): features \(f.width)x\(f.height)x\(f.dimension) for a \(frame.camera.width)x\(frame.camera.height) view of D = \(D)")
        }
        let M = max(1, f.rowCount)
        // Host side: segments per level (a level the file lacks has none), pixels grouped by segment.
        var segmentValues = [Int32](repeating: -1, count: levels * P)
        var orderValues = [UInt32](repeating: 0, count: levels * P)
        var offsetValues = [UInt32](repeating: 0, count: levels * (M + 1))
        lastValid = []
        for level in 0..<levels {
            guard level < f.segments.count else { lastValid.append(0); continue }
            let map = f.segments[level]
            var counts = [Int](repeating: 0, count: M + 1)
            for (p, s) in map.enumerated() where s >= 0 {
                segmentValues[level * P + p] = s
                counts[Int(s) + 1] += 1
            }
            for m in 0..<M { counts[m + 1] += counts[m] }
            for m in 0...M { offsetValues[level * (M + 1) + m] = UInt32(level * P + counts[m]) }
            var next = counts
            for (p, s) in map.enumerated() where s >= 0 {
                orderValues[level * P + next[Int(s)]] = UInt32(p)
                next[Int(s)] += 1
            }
            lastValid.append(counts[M])
        }
        lastPixels = P
        let rowsB = try rows.atLeast(M * D * 4, device: device)
        try rowsB.write(f.rowCount > 0 ? f.features : [Float](repeating: 0, count: D), device: device)
        let segB = try segments.atLeast(levels * P * 4, device: device)
        try segB.write(segmentValues, device: device)
        let orderB = try pixelOrder.atLeast(levels * P * 4, device: device)
        try orderB.write(orderValues, device: device)
        let offB = try offsets.atLeast(levels * (M + 1) * 4, device: device)
        try offB.write(offsetValues, device: device)

        stream.reset()
        try kernels.recordWeights(stream, logits: whole(logits, n * shape.channels * 4), payload: whole(payload, n * shape.payloadPairs * 8), count: n)
        try stream.run()
        try rasterizer.renderOnDevice(camera: frame.camera, settings: settings, payload: payloadDescription)

        stream.reset()
        let cb = whole(codebook, levels * L * D * 4)
        try kernels.recordProducts(stream, rows: cb, rowCount: L, rowLevelStride: L, codebook: cb, output: whole(gram, levels * L * L * 4))
        let targetB = try targets.atLeast(levels * M * L * 4, device: device)
        try kernels.recordProducts(stream, rows: whole(rowsB, M * D * 4), rowCount: M, rowLevelStride: 0, codebook: cb,
                                   output: whole(targetB, levels * M * L * 4))
        let gW = try weightGradient.atLeast(P * shape.channels * 4, device: device)
        let co = try coefficients.atLeast(levels * P * 8, device: device)
        let lo = try lossPixels.atLeast(levels * P * 4, device: device)
        try kernels.recordLoss(stream, weightMap: rasterizer.colorBuffer!, segments: whole(segB, levels * P * 4), gram: whole(gram, levels * L * L * 4),
                               targets: whole(targetB, levels * M * L * 4), rowCount: M, pixels: P,
                               invValid: lastValid.map { $0 > 0 ? 1 / Float($0) : 0 },
                               weightGradient: whole(gW, P * shape.channels * 4), coefficients: whole(co, levels * P * 8),
                               loss: whole(lo, levels * P * 4))
    }

    /// One training step on the next view (a shuffled pass over the views);
    /// returns the view's loss when `readLoss`, else nil.
    @discardableResult
    public func step(readLoss: Bool = false) throws -> Double? {
        if order.isEmpty {
            order = Array(frames.indices)
            order.shuffle(using: &rng)
        }
        let frame = frames[order.removeLast()]
        try recordLoss(frame: frame)
        let shape = config.shape, L = shape.codebookSize, D = shape.dimension, levels = shape.levels
        let n = gaussianCount, P = lastPixels, M = max(1, frame.features.rowCount)
        let gW = weightGradient.buffer!
        let gPayload = try rasterizer.recordPayloadBackward(stream, gradColor: whole(gW, P * shape.channels * 4))
        try kernels.recordWeightsBackward(stream, payload: whole(payload, n * shape.payloadPairs * 8), payloadGradient: gPayload,
                                          logitGradient: whole(logitGradient, n * shape.channels * 4), count: n)
        let aB = try segmentSums.atLeast(levels * M * L * 4, device: device)
        try kernels.recordCodebookGradient(stream, weightMap: rasterizer.colorBuffer!, coefficients: whole(coefficients.buffer!, levels * P * 8),
                                           order: whole(pixelOrder.buffer!, levels * P * 4), offsets: whole(offsets.buffer!, levels * (M + 1) * 4),
                                           rows: whole(rows.buffer!, M * D * 4), rowCount: M, pixels: P,
                                           codebook: whole(codebook, levels * L * D * 4), segmentSums: whole(aB, levels * M * L * 4),
                                           outerSums: whole(outerSums, levels * L * L * 4),
                                           gradient: whole(codebookGradient, levels * L * D * 4))
        adam.beginStep()
        try adam.record(stream, group: "logits", parameters: whole(logits, n * shape.channels * 4),
                        gradients: whole(logitGradient, n * shape.channels * 4), count: n * shape.channels, learningRate: config.logitLR)
        try adam.record(stream, group: "codebooks", parameters: whole(codebook, levels * L * D * 4),
                        gradients: whole(codebookGradient, levels * L * D * 4), count: levels * L * D, learningRate: config.codebookLR)
        try stream.run()
        iteration += 1
        return readLoss ? try lastLoss().reduce(0, +) : nil
    }

    /// The last view's loss per level: mean of 1 - cos over its pixels with a feature (0 for a level without).
    public func lastLoss() throws -> [Double] {
        let levels = config.shape.levels, P = lastPixels
        let values = try lossPixels.buffer!.read(Float.self, count: levels * P, device: device)
        return (0..<levels).map { level in
            lastValid[level] > 0 ? values[(level * P)..<((level + 1) * P)].reduce(0.0) { $0 + Double($1) } / Double(lastValid[level]) : 0
        }
    }

    /// Mean cosine between decoded and ground-truth features over `frames`'
    /// pixels with a feature, per level (nil for a level no frame has).
    public func evaluate(_ frames: [LanguageFrame]) throws -> [Double?] {
        let levels = config.shape.levels
        var sum = [Double](repeating: 0, count: levels), count = [Int](repeating: 0, count: levels)
        for frame in frames {
            try recordLoss(frame: frame)
            try stream.run()
            let loss = try lastLoss()
            for level in 0..<levels where lastValid[level] > 0 {
                sum[level] += (1 - loss[level]) * Double(lastValid[level])
                count[level] += lastValid[level]
            }
        }
        return (0..<levels).map { count[$0] > 0 ? sum[$0] / Double(count[$0]) : nil }
    }

    /// The field as it stands (logits downloaded and turned into top-K weights).
    public func field() throws -> LanguageFeatureField {
        let shape = config.shape
        let l = try logits.read(Float.self, count: gaussianCount * shape.channels, device: device)
        let c = try codebook.read(Float.self, count: shape.levels * shape.codebookSize * shape.dimension, device: device)
        return LanguageFeatureField(shape: shape, logits: l, codebooks: c, iteration: iteration)
    }

    /// Everything resuming needs.
    public func checkpoint() throws -> LanguageFeatureFile.Checkpoint {
        let shape = config.shape
        let l = try logits.read(Float.self, count: gaussianCount * shape.channels, device: device)
        let c = try codebook.read(Float.self, count: shape.levels * shape.codebookSize * shape.dimension, device: device)
        let moments = try adam.downloadMoments()
        func pair(_ name: String, _ count: Int) -> [[Float]] {
            let m = moments[name]
            return [m?.m ?? [Float](repeating: 0, count: count), m?.v ?? [Float](repeating: 0, count: count)]
        }
        return LanguageFeatureFile.Checkpoint(field: LanguageFeatureField(shape: shape, logits: l, codebooks: c, iteration: iteration),
                                              logits: l, moments: pair("codebooks", c.count) + pair("logits", l.count),
                                              state: .init(adamStep: adam.step, rngState: rng.state, config: config))
    }

    /// Continues from a checkpoint written by `checkpoint()` (same model and views).
    public func restore(_ saved: LanguageFeatureFile.Checkpoint) throws {
        let shape = config.shape
        guard saved.field.shape == shape, saved.logits.count == gaussianCount * shape.channels else {
            throw ComputeError.invalidArgument("the checkpoint's field (\(saved.field.gaussianCount) Gaussians) does not match this model (\(gaussianCount))")
        }
        try logits.write(saved.logits, device: device)
        try codebook.write(saved.field.codebooks, device: device)
        try adam.restore(step: saved.state.adamStep, moments: ["codebooks": (saved.moments[0], saved.moments[1]),
                                                               "logits": (saved.moments[2], saved.moments[3])])
        rng = SplitMix64(seed: 0)
        rng.state = saved.state.rngState
        iteration = saved.field.iteration
        order = []
    }
}
