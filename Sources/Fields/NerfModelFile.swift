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
        /// Checkpoints only.
        public var optimizer: Optimizer?
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
    }

    public struct Contents {
        public var header: Header
        public var table: [Float], densityWeights: [Float], colourWeights: [Float]
        public var occupancy: [Float], bits: [UInt32]
        /// Checkpoints: Adam moments by group.
        public var moments: [String: (m: [Float], v: [Float])] = [:]
    }

    /// Writes `trainer`'s model to `path` (atomically); with `checkpoint`,
    /// also its optimiser state.
    public static func write(_ trainer: NerfTrainer, to path: String, checkpoint: Bool = false) throws {
        let d = trainer.device
        let moments = checkpoint ? try trainer.adam.downloadMoments() : [:]
        let groups = moments.keys.sorted()
        let header = Header(config: trainer.config, boxCenter: [trainer.boxCenter.x, trainer.boxCenter.y, trainer.boxCenter.z],
                            boxSize: trainer.boxSize, aabbScale: trainer.aabbScale,
                            background: [trainer.background.x, trainer.background.y, trainer.background.z], iteration: trainer.iteration,
                            optimizer: checkpoint ? Optimizer(step: trainer.adam.step, groups: groups, seed: trainer.seed,
                                                              raysPerBatch: trainer.raysPerBatch,
                                                              learningRate: trainer.learningRateOverride) : nil)
        let json = try JSONEncoder().encode(header)
        var data = Data(magic)
        func append<T>(_ value: T) { withUnsafeBytes(of: value) { data.append(contentsOf: $0) } }
        append(version.littleEndian)
        append(UInt32(json.count).littleEndian)
        data.append(json)
        func section<T>(_ values: [T]) {
            append(UInt64(values.count).littleEndian)
            values.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        section(try trainer.table.read(Float.self, count: trainer.grid.parameterCount, device: d))
        section(try trainer.densityWeights.read(Float.self, count: trainer.density.weightCount, device: d))
        section(try trainer.colourWeights.read(Float.self, count: trainer.colour.weightCount, device: d))
        let cells = trainer.occupancy.settings.cellCount
        section(try trainer.occupancy.grid.read(Float.self, count: cells, device: d))
        section(try trainer.occupancy.bitfield.read(UInt32.self, count: cells / 32, device: d))
        for g in groups {
            section(moments[g]!.m)
            section(moments[g]!.v)
        }
        try AtomicFile.write(data, to: path)
    }

    /// Reads and checks a model file.
    public static func read(path: String) throws -> Contents {
        guard let data = FileManager.default.contents(atPath: path) else { throw DatasetError(path, "cannot read the file") }
        var offset = 0
        func take(_ n: Int, _ what: String) throws -> Data {
            guard n >= 0, offset + n <= data.count else { throw DatasetError(path, "truncated NeRF model (\(what) missing)") }
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
        do { header = try JSONDecoder().decode(Header.self, from: headerBytes) } catch {
            throw DatasetError(path, "unreadable NeRF model header: \(error)")
        }
        let grid = HashGridEncoding.layout(header.config.encoding, aabbScale: Double(header.aabbScale))
        let tableCount = grid.map { Int($0.entries) }.reduce(0, +) * header.config.encoding.featuresPerLevel
        let dDims = FullyFusedMLP.dims(header.config.network, inputs: grid.count * header.config.encoding.featuresPerLevel, outputs: 16)
        let cDims = FullyFusedMLP.dims(header.config.rgbNetwork, inputs: SphericalHarmonicsEncoding.outputWidth + 16, outputs: 3)
        let weights = { (dims: [Int]) in zip(dims, dims.dropFirst()).map { $0 * $1 }.reduce(0, +) }
        let settings = OccupancyGrid.Settings.instantNGP(aabbScale: header.aabbScale, gridSize: header.config.gridSize, steps: header.config.marchSteps)
        func section<T>(_ what: String, _ expected: Int, _: T.Type) throws -> [T] {
            let n = try u64("\(what) length")
            guard n == UInt64(expected) else { throw DatasetError(path, "NeRF model \(what) has \(n) values, its configuration needs \(expected)") }
            let bytes = try take(expected * MemoryLayout<T>.stride, what)
            return bytes.withUnsafeBytes { Array($0.bindMemory(to: T.self)) }
        }
        var contents = Contents(header: header,
                                table: try section("hash table", tableCount, Float.self),
                                densityWeights: try section("density weights", weights(dDims), Float.self),
                                colourWeights: try section("colour weights", weights(cDims), Float.self),
                                occupancy: try section("occupancy grid", settings.cellCount, Float.self),
                                bits: try section("occupancy bits", settings.cellCount / 32, UInt32.self))
        let sizes = ["hash table": tableCount, "density network": weights(dDims), "colour network": weights(cDims)]
        for g in header.optimizer?.groups ?? [] {
            guard let n = sizes[g] else { throw DatasetError(path, "NeRF checkpoint names an unknown optimiser group '\(g)'") }
            contents.moments[g] = (try section("\(g) first moments", n, Float.self), try section("\(g) second moments", n, Float.self))
        }
        guard offset == data.count else { throw DatasetError(path, "NeRF model has \(data.count - offset) bytes after its last section") }
        return contents
    }
}
