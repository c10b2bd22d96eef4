import Datasets
import Foundation

/// A trained language feature field on a 3D Gaussian model (LangSplatV2):
/// per level a codebook [L, D] and per Gaussian K sparse weights over it.
/// A pixel's feature at a level is codebook^T (splatted weights), normalised.
public struct LanguageFeatureField: Equatable {
    public var shape: LanguageShape
    public var gaussianCount: Int
    public var codebooks: [Float]     // [levels, L, D] f32
    public var entries: [UInt32]      // [N, levels, K] u32: codebook entry of each weight
    public var weights: [Float]       // [N, levels, K] f32: softmax over the K, summing to 1
    /// The levels' names ("s", "m", "l": SAM's small, medium and large masks).
    public var levelNames: [String]
    /// Training iterations behind it.
    public var iteration: Int

    public init(shape: LanguageShape, gaussianCount: Int, codebooks: [Float], entries: [UInt32], weights: [Float],
                levelNames: [String]? = nil, iteration: Int = 0) {
        self.shape = shape
        self.gaussianCount = gaussianCount
        self.codebooks = codebooks
        self.entries = entries
        self.weights = weights
        self.levelNames = levelNames ?? Array(["s", "m", "l"].prefix(shape.levels))
        self.iteration = iteration
    }

    /// The field of `logits` [N, levels, L] (language_weights on the host).
    public init(shape: LanguageShape, logits: [Float], codebooks: [Float], iteration: Int = 0) {
        let n = logits.count / max(1, shape.channels)
        let pairs = LanguageReference.languageWeights(logits: logits.map(Double.init), count: n, levels: shape.levels,
                                                      codebookSize: shape.codebookSize, topK: shape.topK)
        self.init(shape: shape, gaussianCount: n, codebooks: codebooks,
                  entries: pairs.enumerated().map { UInt32($0.element.channel - ($0.offset / shape.topK % shape.levels) * shape.codebookSize) },
                  weights: pairs.map { Float($0.weight) }, iteration: iteration)
    }

    /// The rasterizer's sparse payload: [N, levels * K, 2] (channel = level * L
    /// + entry as u32 bits, weight).
    public func payload() -> [Float] {
        var out = [Float](repeating: 0, count: gaussianCount * shape.payloadPairs * 2)
        let K = shape.topK, L = shape.codebookSize
        for i in 0..<(gaussianCount * shape.levels * K) {
            let level = i / K % shape.levels
            out[2 * i] = Float(bitPattern: UInt32(level * L) + entries[i])
            out[2 * i + 1] = weights[i]
        }
        return out
    }

    /// Why the arrays do not fit the shape, or nil.
    public var problem: String? {
        if let p = shape.problem { return p }
        let L = shape.codebookSize, pairs = gaussianCount * shape.levels * shape.topK
        if codebooks.count != shape.levels * L * shape.dimension {
            return "the codebooks hold \(codebooks.count) values; [\(shape.levels), \(L), \(shape.dimension)] needs \(shape.levels * L * shape.dimension)"
        }
        if entries.count != pairs || weights.count != pairs {
            return "the sparse weights hold \(entries.count) entries and \(weights.count) weights; [\(gaussianCount), \(shape.levels), \(shape.topK)] needs \(pairs)"
        }
        if let bad = entries.firstIndex(where: { Int($0) >= L }) { return "weight \(bad) names codebook entry \(entries[bad]) of \(L)" }
        if let bad = weights.firstIndex(where: { !($0 >= 0 && $0 <= 1) }) { return "weight \(bad) is \(weights[bad]), outside 0...1" }
        if let bad = codebooks.firstIndex(where: { !$0.isFinite }) { return "codebook value \(bad) is \(codebooks[bad])" }
        if levelNames.count != shape.levels { return "\(levelNames.count) level names for \(shape.levels) levels" }
        return nil
    }
}

/// The language features file (`language_features.bin` in a model folder
/// of kind "language", beside the 3D model's point_cloud.ply):
///
///     "SPLATLNG"             8 bytes, magic
///     version                u32 (1)
///     header length          u32, then the header: JSON of `Header`
///     sections               each u64 element count + little-endian 4-byte
///                            elements: codebooks f32 [levels, L, D],
///                            entries u32 [N, levels, K], weights f32 [N, levels, K]
///     checkpoints only:      logits f32 [N, levels, L], then the Adam first
///                            and second moments of the codebooks and of the
///                            logits (four f32 sections)
///
/// Reading checks the magic, the version, each section's length against the
/// header, the values' ranges, and that nothing is left over.
public enum LanguageFeatureFile {
    public static let magic = Array("SPLATLNG".utf8)
    public static let version: UInt32 = 1
    public static let fileName = "language_features.bin"
    public static let checkpointName = "language_state.bin"

    public struct Header: Codable, Equatable {
        public var levels: Int
        public var codebookSize: Int
        public var topK: Int
        public var dimension: Int
        public var gaussians: Int
        public var levelNames: [String]
        public var iteration: Int
        /// Checkpoints only: the optimiser step, the RNG state and the training settings.
        public var checkpoint: CheckpointState?
    }

    public struct CheckpointState: Codable, Equatable {
        public var adamStep: Int
        public var rngState: UInt64
        public var config: LanguageTrainingConfig
    }

    /// What resuming needs beyond the field.
    public struct Checkpoint: Equatable {
        public var field: LanguageFeatureField
        public var logits: [Float]           // [N, levels, L]
        public var moments: [[Float]]        // codebook m, v; logits m, v
        public var state: CheckpointState
    }

    public static func encode(_ field: LanguageFeatureField, checkpoint: Checkpoint? = nil) throws -> Data {
        if let p = field.problem { throw DatasetError(fileName, "cannot write the language features: \(p)") }
        let header = Header(levels: field.shape.levels, codebookSize: field.shape.codebookSize, topK: field.shape.topK,
                            dimension: field.shape.dimension, gaussians: field.gaussianCount, levelNames: field.levelNames,
                            iteration: field.iteration, checkpoint: checkpoint?.state)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(header)
        var data = Data(magic)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        func section<T>(_ values: [T]) {
            withUnsafeBytes(of: UInt64(values.count).littleEndian) { data.append(contentsOf: $0) }
            values.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        u32(version)
        u32(UInt32(json.count))
        data.append(json)
        section(field.codebooks)
        section(field.entries)
        section(field.weights)
        if let checkpoint {
            section(checkpoint.logits)
            for m in checkpoint.moments { section(m) }
        }
        return data
    }

    public static func write(_ field: LanguageFeatureField, to path: String, checkpoint: Checkpoint? = nil) throws {
        try AtomicFile.write(try encode(field, checkpoint: checkpoint), to: path)
    }

    /// Reads a features file (or a checkpoint, whose extra sections come back too).
    public static func read(path: String) throws -> (field: LanguageFeatureField, checkpoint: Checkpoint?) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw DatasetError(path, "cannot read the language features file: \(error.localizedDescription)")
        }
        return try decode(data, path: path)
    }

    public static func decode(_ data: Data, path: String) throws -> (field: LanguageFeatureField, checkpoint: Checkpoint?) {
        var offset = 0
        func take(_ n: Int, _ what: String) throws -> Data {
            guard n >= 0, offset + n <= data.count else {
                throw DatasetError(path, "the language features file ends early (in \(what), at byte \(offset) of \(data.count))")
            }
            defer { offset += n }
            return data.subdata(in: (data.startIndex + offset)..<(data.startIndex + offset + n))
        }
        func u32(_ what: String) throws -> UInt32 { try take(4, what).withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) } }
        guard Array(try take(8, "the magic")) == magic else { throw DatasetError(path, "not a splat language features file (no SPLATLNG magic)") }
        let v = try u32("the version")
        guard v == version else { throw DatasetError(path, "language features file version \(v); this splat reads version \(version)") }
        let length = Int(try u32("the header length"))
        guard length <= 1 << 20 else { throw DatasetError(path, "the header length \(length) is implausible") }
        let header: Header
        do { header = try JSONDecoder().decode(Header.self, from: try take(length, "the header")) } catch let e as DatasetError { throw e } catch {
            throw DatasetError(path, "the header is not valid: \(error)")
        }
        let shape = LanguageShape(levels: header.levels, codebookSize: header.codebookSize, topK: header.topK, dimension: header.dimension)
        if let p = shape.problem { throw DatasetError(path, p) }
        guard header.gaussians >= 0, header.gaussians <= 1 << 28 else { throw DatasetError(path, "\(header.gaussians) Gaussians is out of range") }
        let n = header.gaussians, L = shape.codebookSize
        func section<T>(_ what: String, _ expected: Int, _ type: T.Type) throws -> [T] {
            let count = try take(8, what).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            guard count == UInt64(expected) else { throw DatasetError(path, "\(what): \(count) values, expected \(expected)") }
            let bytes = try take(expected * 4, what)
            return bytes.withUnsafeBytes { raw in (0..<expected).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: T.self) } }
        }
        let codebooks = try section("codebooks", shape.levels * L * shape.dimension, Float.self)
        let entries = try section("entries", n * shape.payloadPairs, UInt32.self)
        let weights = try section("weights", n * shape.payloadPairs, Float.self)
        let field = LanguageFeatureField(shape: shape, gaussianCount: n, codebooks: codebooks, entries: entries, weights: weights,
                                         levelNames: header.levelNames, iteration: header.iteration)
        if let p = field.problem { throw DatasetError(path, p) }
        var checkpoint: Checkpoint?
        if let state = header.checkpoint {
            let logits = try section("logits", n * shape.channels, Float.self)
            var moments: [[Float]] = []
            for (name, count) in [("codebook m", codebooks.count), ("codebook v", codebooks.count),
                                  ("logits m", logits.count), ("logits v", logits.count)] {
                moments.append(try section(name, count, Float.self))
            }
            if let bad = logits.firstIndex(where: { !$0.isFinite }) { throw DatasetError(path, "logit \(bad) is \(logits[bad])") }
            checkpoint = Checkpoint(field: field, logits: logits, moments: moments, state: state)
        }
        guard offset == data.count else { throw DatasetError(path, "\(data.count - offset) bytes left over after the last section") }
        return (field, checkpoint)
    }
}
