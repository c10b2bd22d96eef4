import Compute
import Datasets
import Foundation
import Geometry

/// The NeRF engine's versioned binary model (named in model.json):
///
///     "SPLATNRF"            8 bytes, magic
///     version               u32 (1)
///     header length         u32, then the header: JSON of `Header`
///     5 sections            each u64 element count + little-endian 4-byte
///                           elements: hash table f32, density weights f32,
///                           colour weights f32, occupancy grid f32,
///                           occupancy bits u32
///     checkpoints only:     per optimiser group (header `optimizer.groups`,
///                           in order) its Adam first and second moments,
///                           two f32 sections the size of the group
///
/// A checkpoint (`checkpoint/model.nerf`) is the model plus what resuming
/// needs: the Adam step and moments, the seed, the adapted ray count and,
/// for a run that decayed on its time budget, the learning rate it reached.
/// Reading checks the magic, the version, every length against what the
/// header's configuration implies, and that nothing is missing or left over.
public enum NerfModelFile {
    public static let magic = Array("SPLATNRF".utf8)
    public static let version: UInt32 = 1

    public struct Header: Codable, Equatable {
        public var config: NerfConfig
        public var boxCenter: [Double]
        public var boxSize: Double
        public var aabbScale: Int
        public var background: [Float]
        public var iteration: Int
        /// An SDF field's sharpness variable (inv_s = exp(10 variance)); nil for a density field.
        public var variance: Float?
        /// Checkpoints only.
        public var optimizer: Optimizer?

        public init(config: NerfConfig, boxCenter: [Double], boxSize: Double, aabbScale: Int, background: [Float], iteration: Int,
                    optimizer: Optimizer? = nil) {
            self.config = config
            self.boxCenter = boxCenter
            self.boxSize = boxSize
            self.aabbScale = aabbScale
            self.background = background
            self.iteration = iteration
            self.optimizer = optimizer
        }

        /// Why this header cannot describe a model, or nil: the first value
        /// out of range, named by its key in the header's JSON (`config.*`
        /// in the configuration's own spelling).
        public var problem: String? {
            if let p = config.problem { return "config: \(p)" }
            if boxCenter.count != 3 || boxCenter.contains(where: { !$0.isFinite }) {
                return "boxCenter must be 3 finite numbers, got \(boxCenter)"
            }
            if !(boxSize > 0 && boxSize.isFinite) { return "boxSize must be finite and positive, got \(boxSize)" }
            if let p = NerfModelFile.aabbScaleProblem(aabbScale, key: "aabbScale") { return p }
            if background.count != 3 || background.contains(where: { !($0 >= 0 && $0 <= 1) }) {
                return "background must be 3 numbers within 0...1, got \(background)"
            }
            if iteration < 0 { return "iteration must be >= 0, got \(iteration)" }
            if config.isSDF != (variance != nil) {
                return config.isSDF ? "variance (the SDF's sharpness) is missing" : "variance is only for an sdf field"
            }
            if let variance, !(abs(variance) <= 10) { return "variance must be within -10...10, got \(variance)" }
            guard let o = optimizer else { return nil }
            if o.step < 0 { return "optimizer.step (the Adam step) must be >= 0, got \(o.step)" }
            if Set(o.groups).count != o.groups.count { return "optimizer.groups names a group twice: \(o.groups)" }
            if let unknown = o.groups.first(where: { !NerfModelFile.groups.contains($0) }) {
                return "optimizer.groups names an unknown optimiser group '\(unknown)' (known: \(NerfModelFile.groups.joined(separator: ", ")))"
            }
            if !(1...NerfConfig.maxRaysPerBatch).contains(o.raysPerBatch) {
                return "optimizer.raysPerBatch must be within 1...\(NerfConfig.maxRaysPerBatch), got \(o.raysPerBatch)"
            }
            if let rate = o.learningRate, !(rate > 0 && rate.isFinite) {
                return "optimizer.learningRate must be finite and positive, got \(rate)"
            }
            return nil
        }
    }

    /// The optimiser groups of a checkpoint, as `NerfTrainer` names them.
    public static let groups = ["colour network", "density network", "hash table", "sdf variance"]

    /// Why `scale` cannot be an aabb_scale, or nil: instant-ngp's powers of
    /// two 1...128 (the occupancy grid has log2(aabb_scale) + 1 cascades).
    public static func aabbScaleProblem(_ scale: Int, key: String = "aabb_scale") -> String? {
        (1...128).contains(scale) && scale.nonzeroBitCount == 1 ? nil : "\(key) must be a power of two within 1...128, got \(scale)"
    }

    /// A checkpoint's training state beyond the parameters.
    public struct Optimizer: Codable, Equatable {
        public var step: Int
        public var groups: [String]
        public var seed: UInt32
        public var raysPerBatch: Int
        /// The learning rate the run had reached when its schedule was not
        /// the config's step schedule (a run bounded by `--max-seconds`
        /// decays on its time budget); nil for the step schedule. A resumed
        /// run never goes above it.
        public var learningRate: Float?

        public init(step: Int, groups: [String], seed: UInt32, raysPerBatch: Int, learningRate: Float? = nil) {
            self.step = step
            self.groups = groups
            self.seed = seed
            self.raysPerBatch = raysPerBatch
            self.learningRate = learningRate
        }
    }

    public struct Contents {
        public var header: Header
        public var table: [Float], densityWeights: [Float], colourWeights: [Float]
        public var occupancy: [Float], bits: [UInt32]
        /// Checkpoints: Adam moments by group.
        public var moments: [String: (m: [Float], v: [Float])] = [:]
        /// The file it was read from (errors found later name it).
        public var path: String?

        public init(header: Header, table: [Float], densityWeights: [Float], colourWeights: [Float], occupancy: [Float], bits: [UInt32],
                    moments: [String: (m: [Float], v: [Float])] = [:], path: String? = nil) {
            self.header = header
            self.table = table
            self.densityWeights = densityWeights
            self.colourWeights = colourWeights
            self.occupancy = occupancy
            self.bits = bits
            self.moments = moments
            self.path = path
        }
    }

    /// Section lengths (in elements) that a valid header implies.
    public struct Layout: Equatable {
        public var table, densityWeights, colourWeights, occupancy, bits: Int
        /// An SDF field's sharpness parameter (1), else 0.
        public var sdfVariance = 0

        /// Sizes by optimiser group.
        public var groups: [String: Int] {
            var g = ["hash table": table, "density network": densityWeights, "colour network": colourWeights]
            if sdfVariance > 0 { g["sdf variance"] = sdfVariance }
            return g
        }

        /// The layout of `header` (check `header.problem` first), or nil when
        /// a size overflows.
        public init?(_ header: Header) {
            let config = header.config
            let levels = HashGridEncoding.layout(config.encoding, aabbScale: Double(header.aabbScale))
            let entries = levels.reduce(0) { $0 + Int($1.entries) }
            // Weights and, with biases, one per output of every layer (FullyFusedMLP.layout).
            func weights(_ dims: [Int], biases: Bool) -> Int? {
                var total = 0
                for (a, b) in zip(dims, dims.dropFirst()) {
                    let (product, overflow) = a.multipliedReportingOverflow(by: b)
                    let (layer, overflow2) = product.addingReportingOverflow(biases ? b : 0)
                    guard !overflow, !overflow2, case let (sum, over) = total.addingReportingOverflow(layer), !over else { return nil }
                    total = sum
                }
                return total
            }
            let settings = OccupancyGrid.Settings.instantNGP(aabbScale: header.aabbScale, gridSize: config.gridSize, steps: config.marchSteps)
            let (tableCount, overflow) = entries.multipliedReportingOverflow(by: config.encoding.featuresPerLevel)
            guard !overflow,
                  let density = weights(FullyFusedMLP.dims(config.network, inputs: config.fieldInputs, outputs: 16),
                                        biases: config.network.biases),
                  let colour = weights(FullyFusedMLP.dims(config.rgbNetwork, inputs: config.colourInputs, outputs: 3),
                                       biases: config.rgbNetwork.biases)
            else { return nil }
            sdfVariance = config.isSDF ? 1 : 0
            (table, densityWeights, colourWeights) = (tableCount, density, colour)
            occupancy = settings.cellCount
            bits = settings.cellCount / 32
        }
    }

    /// Writes `trainer`'s model to `path` (atomically); with `checkpoint`,
    /// also its optimiser state.
    public static func write(_ trainer: NerfTrainer, to path: String, checkpoint: Bool = false) throws {
        let d = trainer.device
        let moments = checkpoint ? try trainer.adam.downloadMoments() : [:]
        var header = Header(config: trainer.config, boxCenter: [trainer.boxCenter.x, trainer.boxCenter.y, trainer.boxCenter.z],
                            boxSize: trainer.boxSize, aabbScale: trainer.aabbScale,
                            background: [trainer.background.x, trainer.background.y, trainer.background.z], iteration: trainer.iteration,
                            optimizer: checkpoint ? Optimizer(step: trainer.adam.step, groups: moments.keys.sorted(), seed: trainer.seed,
                                                              raysPerBatch: trainer.raysPerBatch,
                                                              learningRate: trainer.learningRateOverride) : nil)
        header.variance = trainer.config.isSDF ? try trainer.variance.read(Float.self, count: 1, device: d)[0] : nil
        let cells = trainer.occupancy.settings.cellCount
        let contents = Contents(header: header,
                                table: try trainer.table.read(Float.self, count: trainer.grid.parameterCount, device: d),
                                densityWeights: try trainer.densityWeights.read(Float.self, count: trainer.density.weightCount, device: d),
                                colourWeights: try trainer.colourWeights.read(Float.self, count: trainer.colour.weightCount, device: d),
                                occupancy: try trainer.occupancy.grid.read(Float.self, count: cells, device: d),
                                bits: try trainer.occupancy.bitfield.read(UInt32.self, count: cells / 32, device: d),
                                moments: moments)
        try AtomicFile.write(try encode(contents), to: path)
    }

    /// The file's bytes for `contents` (no device needed: tests and fuzzing
    /// build models with it). The moments are written in the order of the
    /// header's `optimizer.groups`.
    public static func encode(_ contents: Contents) throws -> Data {
        let json = try JSONEncoder().encode(contents.header)
        var data = Data(magic)
        func append<T>(_ value: T) { withUnsafeBytes(of: value) { data.append(contentsOf: $0) } }
        append(version.littleEndian)
        append(UInt32(clamping: json.count).littleEndian)
        data.append(json)
        func section<T>(_ values: [T]) {
            append(UInt64(values.count).littleEndian)
            values.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        section(contents.table)
        section(contents.densityWeights)
        section(contents.colourWeights)
        section(contents.occupancy)
        section(contents.bits)
        for g in contents.header.optimizer?.groups ?? [] {
            section(contents.moments[g]?.m ?? [])
            section(contents.moments[g]?.v ?? [])
        }
        return data
    }

    /// Reads and checks a model file (see `decode`).
    public static func read(path: String) throws -> Contents {
        try decode(try RegularFile.read(path), path: path)  // only regular files: a FIFO would block
    }

    /// Parses and checks a model file's bytes; errors name `path`. Checks the
    /// magic, the version, every header value (`Header.problem`), every
    /// section length against what the header implies (before reading or
    /// allocating it), and that nothing is missing or left over. Needs no
    /// device and never traps, whatever `data` holds.
    public static func decode(_ data: Data, path: String) throws -> Contents {
        // A slice keeps its parent's indices; offsets below count from 0.
        let data = data.startIndex == 0 ? data : Data(data)
        var offset = 0
        func take(_ n: Int, _ what: String) throws -> Data {
            guard n >= 0, n <= data.count - offset else { throw DatasetError(path, "truncated NeRF model (\(what) missing)") }
            defer { offset += n }
            return data.subdata(in: offset..<(offset + n))
        }
        func u32(_ what: String) throws -> UInt32 { try take(4, what).withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) } }
        func u64(_ what: String) throws -> UInt64 { try take(8, what).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) } }
        guard Array(try take(8, "magic")) == magic else { throw DatasetError(path, "not a splat NeRF model (bad magic)") }
        let v = try u32("version")
        guard v == version else { throw DatasetError(path, "NeRF model format version \(v); this splat reads version \(version)") }
        let headerBytes = try take(Int(try u32("header length")), "header")
        let header: Header
        do { header = try StrictJSON.decode(Header.self, from: headerBytes, path: path) } catch let error as DatasetError {
            throw DatasetError(path, "unreadable NeRF model header: \(error.problem)")
        }
        if let problem = header.problem { throw DatasetError(path, "NeRF model header: \(problem)") }
        guard let layout = Layout(header) else { throw DatasetError(path, "NeRF model header: the configuration's sizes overflow") }
        func section<T>(_ what: String, _ expected: Int, _: T.Type) throws -> [T] {
            let n = try u64("\(what) length")
            guard n == UInt64(expected) else { throw DatasetError(path, "NeRF model \(what) has \(n) values, its configuration needs \(expected)") }
            let (byteCount, overflow) = expected.multipliedReportingOverflow(by: MemoryLayout<T>.stride)
            guard !overflow, byteCount <= data.count - offset else { throw DatasetError(path, "truncated NeRF model (\(what) missing)") }
            let start = offset
            offset += byteCount
            // Copied, not bound: the section need not be aligned for T.
            return [T](unsafeUninitializedCapacity: expected) { buffer, initialized in
                data.withUnsafeBytes { raw in
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[start..<(start + byteCount)]))
                }
                initialized = expected
            }
        }
        var contents = Contents(header: header,
                                table: try section("hash table", layout.table, Float.self),
                                densityWeights: try section("density weights", layout.densityWeights, Float.self),
                                colourWeights: try section("colour weights", layout.colourWeights, Float.self),
                                occupancy: try section("occupancy grid", layout.occupancy, Float.self),
                                bits: try section("occupancy bits", layout.bits, UInt32.self),
                                path: path)
        for g in header.optimizer?.groups ?? [] {
            let n = layout.groups[g] ?? 0
            contents.moments[g] = (try section("\(g) first moments", n, Float.self), try section("\(g) second moments", n, Float.self))
        }
        guard offset == data.count else { throw DatasetError(path, "NeRF model has \(data.count - offset) bytes after its last section") }
        return contents
    }
}
