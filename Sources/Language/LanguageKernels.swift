import CShaderLayouts
import Compute
import Foundation

/// The sizes every language kernel shares.
public struct LanguageShape: Equatable, Codable, Sendable {
    /// Feature levels (LangSplat's s, m, l: 1 to 3).
    public var levels: Int
    /// Codebook entries per level, L (LangSplatV2: 64).
    public var codebookSize: Int
    /// Sparse weights per Gaussian and level, K (LangSplatV2: 4).
    public var topK: Int
    /// Feature dimension, D (CLIP ViT-B/16: 512).
    public var dimension: Int

    public init(levels: Int = 3, codebookSize: Int = 64, topK: Int = 4, dimension: Int = 512) {
        self.levels = levels
        self.codebookSize = codebookSize
        self.topK = topK
        self.dimension = dimension
    }

    /// Channels of the splatted weight map: levels x L.
    public var channels: Int { levels * codebookSize }
    /// Floats per Gaussian of the sparse payload: levels x K pairs.
    public var payloadPairs: Int { levels * topK }

    /// Why these sizes cannot be used, or nil.
    public var problem: String? {
        if !(1...3).contains(levels) { return "levels must be 1 to 3 (LangSplat's s, m, l), got \(levels)" }
        if !(2...Int(LANGUAGE_MAX_CODEBOOK)).contains(codebookSize) {
            return "the codebook size must be 2 to \(LANGUAGE_MAX_CODEBOOK), got \(codebookSize)"
        }
        if !(1...Int(LANGUAGE_MAX_TOP_K)).contains(topK) || topK > codebookSize {
            return "top-k must be 1 to \(min(Int(LANGUAGE_MAX_TOP_K), codebookSize)), got \(topK)"
        }
        if !(1...4096).contains(dimension) { return "the feature dimension must be 1 to 4096, got \(dimension)" }
        return nil
    }
}

/// The language kernels (Shaders/language), recorded into a caller's
/// stream. Each has a twin of the same name in `LanguageReference`.
public final class LanguageKernels {
    public let device: ComputeDevice
    public let shape: LanguageShape
    let workgroupSize: Int
    let weights: Kernel
    let weightsBackward: Kernel
    let products: Kernel
    let loss: Kernel
    let segmentSumsKernel: Kernel
    let outerSumsKernel: Kernel
    let codebookGradientKernel: Kernel
    let decode: Kernel
    let relevancy: Kernel
    let similarity: Kernel

    public init(device: ComputeDevice, shape: LanguageShape) throws {
        if let problem = shape.problem { throw ComputeError.invalidArgument(problem) }
        self.device = device
        self.shape = shape
        workgroupSize = min(256, device.info.maxWorkgroupInvocations, device.info.maxWorkgroupSize[0])
        let push = MemoryLayout<LanguageParams>.size
        let wg = UInt32(workgroupSize)
        func make(_ spirv: SPIRVBinary, _ bindings: [BufferAccess], variant: UInt32? = nil) throws -> Kernel {
            try device.kernel(spirv, bindings: bindings, pushConstantBytes: push,
                              specialization: variant.map { [wg, 0, 0, $0] } ?? [wg])
        }
        weights = try make(ShaderLibrary.languageWeights, [.read, .write])
        weightsBackward = try make(ShaderLibrary.languageWeightsBackward, [.read, .read, .write])
        products = try make(ShaderLibrary.languageProducts, [.read, .read, .write])
        loss = try make(ShaderLibrary.languageLoss, [.read, .read, .read, .read, .write, .write, .write])
        segmentSumsKernel = try make(ShaderLibrary.languageCodebookSums, [.read, .read, .read, .read, .write],
                               variant: LANGUAGE_VARIANT_SEGMENT_SUMS)
        outerSumsKernel = try make(ShaderLibrary.languageCodebookSums, [.read, .read, .read, .read, .write],
                             variant: LANGUAGE_VARIANT_OUTER_SUMS)
        codebookGradientKernel = try make(ShaderLibrary.languageCodebookGradient, [.read, .read, .read, .read, .write])
        decode = try make(ShaderLibrary.languageDecode, [.read, .read, .write])
        relevancy = try make(ShaderLibrary.languageSimilarity, [.read, .read, .read, .write], variant: LANGUAGE_VARIANT_RELEVANCY)
        similarity = try make(ShaderLibrary.languageSimilarity, [.read, .read, .read, .write], variant: LANGUAGE_VARIANT_SIMILARITY)
    }

    func params(count: Int, rows: Int = 0, rowLevelStride: Int = 0, canonical: Int = 0, temperature: Float = 10,
                invValid: [Float] = []) -> LanguageParams {
        var p = LanguageParams()
        p.count = UInt32(count)
        p.levels = UInt32(shape.levels)
        p.codebookSize = UInt32(shape.codebookSize)
        p.topK = UInt32(shape.topK)
        p.dimension = UInt32(shape.dimension)
        p.rows = UInt32(rows)
        p.rowLevelStride = UInt32(rowLevelStride)
        p.mapStride = UInt32(shape.channels + 1)
        p.canonical = UInt32(canonical)
        p.temperature = temperature
        let v = invValid + [0, 0, 0]
        (p.invValid0, p.invValid1, p.invValid2) = (v[0], v[1], v[2])
        return p
    }

    func groups(_ items: Int) -> Int { max(1, (items + workgroupSize - 1) / workgroupSize) }

    /// language_weights: logits [N, levels, L] -> payload [N, levels * K, 2].
    public func recordWeights(_ stream: CommandStream, logits: BufferRange, payload: BufferRange, count n: Int) throws {
        guard n > 0 else { return }
        try stream.dispatch(weights, [logits, payload], push: params(count: n), groups: groups(n * shape.levels), label: "language weights")
    }

    /// language_weights_backward: payload and its gradient [N, levels * K, 2] -> logit gradients [N, levels, L].
    public func recordWeightsBackward(_ stream: CommandStream, payload: BufferRange, payloadGradient: BufferRange,
                                      logitGradient: BufferRange, count n: Int) throws {
        guard n > 0 else { return }
        try stream.dispatch(weightsBackward, [payload, payloadGradient, logitGradient], push: params(count: n),
                            groups: groups(n * shape.levels), label: "language weights backward")
    }

    /// language_products: rows [levels or 1, R, D] . codebook [levels, L, D] -> [levels, R, L].
    public func recordProducts(_ stream: CommandStream, rows: BufferRange, rowCount: Int, rowLevelStride: Int,
                               codebook: BufferRange, output: BufferRange) throws {
        guard rowCount > 0 else { return }
        try stream.dispatch(products, [rows, codebook, output], push: params(count: 0, rows: rowCount, rowLevelStride: rowLevelStride),
                            groups: groups(shape.levels * rowCount * shape.codebookSize), label: "language products")
    }

    /// language_loss: weight map [P, levels L + 1], segments [levels, P], Gram
    /// [levels, L, L], targets [levels, M, L] -> weight gradient [P, levels L],
    /// coefficients [levels, P, 2], loss [levels, P].
    public func recordLoss(_ stream: CommandStream, weightMap: BufferRange, segments: BufferRange, gram: BufferRange,
                           targets: BufferRange, rowCount: Int, pixels: Int, invValid: [Float],
                           weightGradient: BufferRange, coefficients: BufferRange, loss lossOut: BufferRange) throws {
        try stream.dispatch(loss, [weightMap, segments, gram, targets, weightGradient, coefficients, lossOut],
                            push: params(count: pixels, rows: rowCount, invValid: invValid), groups: groups(pixels), label: "language loss")
    }

    /// language_codebook_sums (both variants) and language_codebook_gradient:
    /// the codebook gradient [levels, L, D] of the last loss. `order` [levels, P]
    /// and `offsets` [levels, M + 1] group each level's pixels by segment.
    public func recordCodebookGradient(_ stream: CommandStream, weightMap: BufferRange, coefficients: BufferRange,
                                       order: BufferRange, offsets: BufferRange, rows: BufferRange, rowCount: Int, pixels: Int,
                                       codebook: BufferRange, segmentSums: BufferRange, outerSums: BufferRange,
                                       gradient: BufferRange) throws {
        let p = params(count: pixels, rows: rowCount)
        let L = shape.codebookSize
        try stream.dispatch(segmentSumsKernel, [weightMap, coefficients, order, offsets, segmentSums], push: p,
                            groups: groups(shape.levels * rowCount * L), label: "language segment sums")
        try stream.dispatch(outerSumsKernel, [weightMap, coefficients, order, offsets, outerSums], push: p,
                            groups: groups(shape.levels * L * L), label: "language outer sums")
        try stream.dispatch(codebookGradientKernel, [segmentSums, outerSums, rows, codebook, gradient], push: p,
                            groups: groups(shape.levels * L * shape.dimension), label: "language codebook gradient")
    }

    /// language_decode: weight map -> unit features [levels, P, D].
    public func recordDecode(_ stream: CommandStream, weightMap: BufferRange, codebook: BufferRange, features: BufferRange, pixels: Int) throws {
        try stream.dispatch(decode, [weightMap, codebook, features], push: params(count: pixels),
                            groups: groups(pixels * shape.levels), label: "language decode")
    }

    /// language_similarity: weight map, Gram and products [levels, Q + canonical, L]
    /// -> [levels, Q, P]: relevancy (with `canonical` > 0 phrases) or cosines.
    public func recordSimilarity(_ stream: CommandStream, weightMap: BufferRange, gram: BufferRange, products rows: BufferRange,
                                 queries: Int, canonical: Int, pixels: Int, relevancy useRelevancy: Bool, temperature: Float = 10,
                                 output: BufferRange) throws {
        guard canonical <= Int(LANGUAGE_MAX_CANONICAL) else {
            throw ComputeError.invalidArgument("at most \(LANGUAGE_MAX_CANONICAL) canonical phrases, got \(canonical)")
        }
        try stream.dispatch(useRelevancy ? relevancy : similarity, [weightMap, gram, rows, output],
                            push: params(count: pixels, rows: queries, canonical: canonical, temperature: temperature),
                            groups: groups(pixels * shape.levels), label: useRelevancy ? "language relevancy" : "language similarity")
    }
}
