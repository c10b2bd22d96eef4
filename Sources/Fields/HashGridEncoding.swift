import CShaderLayouts
import Compute
import ComputePrimitives
import Foundation
import Geometry

/// The configuration of a multiresolution hash encoding (instant-ngp, Mueller
/// et al. 2022, Sec. 3), in tiny-cuda-nn's JSON spelling:
/// `{"otype": "HashGrid", "n_levels": 16, "n_features_per_level": 2,
///   "log2_hashmap_size": 19, "base_resolution": 16, "per_level_scale": 1.5157}`.
/// Without `per_level_scale` the growth factor is derived from the scene box
/// so that the finest level has 2048 vertices per unit of the box times
/// `aabb_scale`: b = exp(ln(2048 aabb_scale / N_min) / (L - 1)).
public struct HashGridConfig: Codable, Equatable {
    public var otype = "HashGrid"
    public var levels = 16
    public var featuresPerLevel = 2
    public var log2HashmapSize = 19
    public var baseResolution = 16
    public var perLevelScale: Double?

    /// Every key the JSON may hold.
    public static var keys: [String] { CodingKeys.allCases.map(\.rawValue) }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case otype
        case levels = "n_levels"
        case featuresPerLevel = "n_features_per_level"
        case log2HashmapSize = "log2_hashmap_size"
        case baseResolution = "base_resolution"
        case perLevelScale = "per_level_scale"
    }

    public init(levels: Int = 16, featuresPerLevel: Int = 2, log2HashmapSize: Int = 19, baseResolution: Int = 16,
                perLevelScale: Double? = nil) {
        self.levels = levels
        self.featuresPerLevel = featuresPerLevel
        self.log2HashmapSize = log2HashmapSize
        self.baseResolution = baseResolution
        self.perLevelScale = perLevelScale
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        otype = try c.decodeIfPresent(String.self, forKey: .otype) ?? "HashGrid"
        levels = try c.decodeIfPresent(Int.self, forKey: .levels) ?? 16
        featuresPerLevel = try c.decodeIfPresent(Int.self, forKey: .featuresPerLevel) ?? 2
        log2HashmapSize = try c.decodeIfPresent(Int.self, forKey: .log2HashmapSize) ?? 19
        baseResolution = try c.decodeIfPresent(Int.self, forKey: .baseResolution) ?? 16
        perLevelScale = try c.decodeIfPresent(Double.self, forKey: .perLevelScale)
    }

    /// The growth factor b between levels for a scene box of `aabbScale` units.
    public func growthFactor(aabbScale: Double) -> Double {
        if let perLevelScale { return perLevelScale }
        guard levels > 1 else { return 1 }
        return exp(log(2048 * aabbScale / Double(baseResolution)) / Double(levels - 1))
    }

    /// Why this configuration cannot be built, or nil.
    public var problem: String? {
        if otype != "HashGrid" { return "encoding \"\(otype)\" is not known (known: HashGrid)" }
        if !(1...32).contains(levels) { return "n_levels must be within 1...32, got \(levels)" }
        if ![1, 2, 4, 8].contains(featuresPerLevel) { return "n_features_per_level must be 1, 2, 4 or 8, got \(featuresPerLevel)" }
        if !(4...26).contains(log2HashmapSize) { return "log2_hashmap_size must be within 4...26, got \(log2HashmapSize)" }
        if !(2...Self.maxResolution).contains(baseResolution) {
            return "base_resolution must be within 2...\(Self.maxResolution), got \(baseResolution)"
        }
        if let s = perLevelScale {
            if !(s >= 1 && s.isFinite) { return "per_level_scale must be finite and >= 1, got \(s)" }
            // The finest level's scale, N_min b^(L-1), in logarithms (the product itself may overflow).
            if log2(Double(baseResolution)) + Double(levels - 1) * log2(s) > log2(Double(Self.maxResolution)) {
                return "per_level_scale \(s) takes level \(levels - 1) beyond \(Self.maxResolution) vertices per axis (base_resolution x per_level_scale^(n_levels - 1))"
            }
        }
        return nil
    }

    /// The most vertices per axis a level may have: without `per_level_scale`
    /// the finest has 2048 aabb_scale <= 2^18; above 2^20 single-precision
    /// positions no longer tell the cells apart.
    public static let maxResolution = 1 << 20
}

/// Multiresolution hash encoding on the GPU (instant-ngp, Mueller et al.
/// 2022): L levels of F trainable features; a point in [0, 1]^3 is encoded as
/// the trilinear interpolation of each level's eight surrounding vertices,
/// concatenated level after level ([N, L * F]). Coarse levels whose grid
/// fits the table are dense; finer ones hash their vertices.
///
/// `encode`, `backward` (to the table) and `positionGradient` (to the
/// points) record into a command stream; `reference`, `referenceBackward`
/// and `referencePositionGradient` are the Swift twins the tests compare them
/// with. All three may place the encoding at `column` of rows of `stride`
/// floats (an SDF network's input row starts with the position itself) and
/// may use only the first `activeLevels` levels (NeuS2, Wang et al. 2023:
/// progressive training adds the fine levels one at a time); the defaults
/// are the packed [N, L * F] layout with every level.
public final class HashGridEncoding {
    public let device: ComputeDevice
    public let config: HashGridConfig
    /// Per level: offset, entries, resolution, scale, hashed (the GPU's `HashGridLevel`).
    public let levels: [HashGridLevel]
    /// Table entries over all levels (each holds `featuresPerLevel` floats).
    public let entries: Int
    /// Trainable parameters: entries x features per level.
    public var parameterCount: Int { entries * config.featuresPerLevel }
    /// Output floats per point: levels x features per level.
    public var outputWidth: Int { config.levels * config.featuresPerLevel }

    let forwardKernel: Kernel
    let backwardKernel: Kernel
    let positionGradientKernel: Kernel
    let levelBuffer: GPUBuffer
    let workgroupSize: Int

    /// The level layout for a configuration and scene box (tiny-cuda-nn's
    /// rules, which the golden parameter counts depend on): scale_l =
    /// 2^(l log2 b) N_min - 1 in single precision, resolution = ceil(scale) +
    /// 1, entries = min(res^3, 2^T) rounded up to a multiple of 8.
    public static func layout(_ config: HashGridConfig, aabbScale: Double = 1) -> [HashGridLevel] {
        let b = Float(config.growthFactor(aabbScale: aabbScale))
        let tableSize = UInt64(1) << UInt64(config.log2HashmapSize)
        var offset: UInt64 = 0
        var result: [HashGridLevel] = []
        for l in 0..<config.levels {
            let scale = exp2(Float(l) * log2(b)) * Float(config.baseResolution) - 1
            let resolution = UInt64(scale.rounded(.up)) + 1
            let dense = resolution * resolution * resolution
            let entries = (min(dense, tableSize) + 7) / 8 * 8
            result.append(HashGridLevel(offset: UInt32(offset), entries: UInt32(entries), resolution: UInt32(resolution),
                                        scale: scale, hashed: dense > tableSize ? 1 : 0, pad0: 0, pad1: 0, pad2: 0))
            offset += entries
        }
        return result
    }

    /// instant-ngp's spatial hash of a grid vertex (before the modulo).
    public static func hash(_ x: UInt32, _ y: UInt32, _ z: UInt32) -> UInt32 {
        x ^ (y &* HASH_PRIME_Y) ^ (z &* HASH_PRIME_Z)
    }

    public init(device: ComputeDevice, config: HashGridConfig, aabbScale: Double = 1) throws {
        if let problem = config.problem { throw ComputeError.invalidArgument("hash grid: \(problem)") }
        guard device.info.float32AtomicAdd else {
            throw ComputeError.invalidArgument("the hash-grid backward pass needs float atomic adds on storage buffers (shaderBufferFloat32AtomicAdd), which \(device.info.displayName) lacks")
        }
        self.device = device
        self.config = config
        levels = Self.layout(config, aabbScale: aabbScale)
        entries = Int(levels.last.map { UInt64($0.offset) + UInt64($0.entries) } ?? 0)
        workgroupSize = min(256, device.info.maxWorkgroupInvocations, device.info.maxWorkgroupSize[0])
        let spec = [UInt32(workgroupSize)]
        forwardKernel = try device.kernel(ShaderLibrary.hashEncode, bindings: [.read, .read, .read, .write],
                                          pushConstantBytes: MemoryLayout<HashEncodeParams>.size, specialization: spec)
        backwardKernel = try device.kernel(ShaderLibrary.hashEncodeBackward, bindings: [.read, .read, .read, .readWrite],
                                           pushConstantBytes: MemoryLayout<HashEncodeParams>.size, specialization: spec)
        positionGradientKernel = try device.kernel(ShaderLibrary.hashEncodePositionGradient, bindings: [.read, .read, .read, .read, .write],
                                                   pushConstantBytes: MemoryLayout<HashEncodeParams>.size, specialization: spec)
        levelBuffer = try GPUBuffer(device: device, length: max(1, levels.count) * MemoryLayout<HashGridLevel>.stride,
                                    label: "hash grid levels")
        try levelBuffer.write(levels, device: device)
    }

    /// Initial table values: U(-1e-4, 1e-4) (instant-ngp), from `seed`.
    public func initialTable(seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<parameterCount).map { _ in rng.uniform(-1e-4, 1e-4) }
    }

    /// The push constants of `count` points, after checking that the
    /// encoding fits its rows and every index fits the kernels' 32 bits.
    func params(_ count: Int, column: Int, stride: Int?, activeLevels: Int?) throws -> HashEncodeParams {
        let stride = stride ?? outputWidth
        let active = activeLevels ?? config.levels
        guard column >= 0, column + outputWidth <= stride else {
            throw ComputeError.invalidArgument("hash grid: columns \(column)..<\(column + outputWidth) exceed rows of \(stride)")
        }
        guard (0...config.levels).contains(active) else {
            throw ComputeError.invalidArgument("hash grid: activeLevels must be within 0...\(config.levels), got \(active)")
        }
        guard count * max(config.levels, stride, 3) < Int(UInt32.max) else {
            throw ComputeError.invalidArgument("hash grid: \(count) points are too many for one dispatch")
        }
        return HashEncodeParams(count: UInt32(count), levels: UInt32(config.levels), features: UInt32(config.featuresPerLevel),
                                activeLevels: UInt32(active), stride: UInt32(stride), column: UInt32(column), pad0: 0, pad1: 0)
    }

    func groups(_ threads: Int) -> Int { (threads + workgroupSize - 1) / workgroupSize }

    /// Records the forward pass of `count` points. Levels from `activeLevels`
    /// on write zeros; other columns of `encoded` are left as they are.
    /// - Parameters:
    ///   - points: [count, 3] f32, clamped to [0, 1]^3
    ///   - table: [entries, F] f32
    ///   - encoded: [count, stride] f32; columns `column ..< column + L * F` written
    ///   - column: the first column of a row holding the encoding
    ///   - stride: floats per row; nil: L * F (packed)
    ///   - activeLevels: the levels used, 0...L; nil: all
    public func encode(_ stream: CommandStream, points: BufferRange, table: BufferRange, encoded: BufferRange, count: Int,
                       column: Int = 0, stride: Int? = nil, activeLevels: Int? = nil) throws {
        guard count > 0 else { return }
        let push = try params(count, column: column, stride: stride, activeLevels: activeLevels)
        try stream.dispatch(forwardKernel, [points, levelBuffer, table, encoded], push: push,
                            groups: groups(count * config.levels), label: "hash encode")
    }

    /// Records the backward pass: adds d(loss)/d(table) of `count` points to
    /// `tableGradient` (zero it first for a fresh gradient). Levels from
    /// `activeLevels` on add nothing.
    /// - Parameters:
    ///   - points: [count, 3] f32
    ///   - encodedGradient: [count, stride] f32, read at columns `column ..< column + L * F`
    ///   - tableGradient: [entries, F] f32, accumulated
    ///   - column, stride, activeLevels: as given to `encode`
    public func backward(_ stream: CommandStream, points: BufferRange, encodedGradient: BufferRange, tableGradient: BufferRange,
                         count: Int, column: Int = 0, stride: Int? = nil, activeLevels: Int? = nil) throws {
        guard count > 0 else { return }
        let push = try params(count, column: column, stride: stride, activeLevels: activeLevels)
        try stream.dispatch(backwardKernel, [points, levelBuffer, encodedGradient, tableGradient], push: push,
                            groups: groups(count * config.levels), label: "hash encode backward")
    }

    /// Records d(loss)/d(point) of `count` points: the derivative of each
    /// level's trilinear interpolation (times the level's scale, as x maps to
    /// scale x + 0.5) weighted by d(loss)/d(encoded). With a one-hot
    /// `encodedGradient` this is a row of the encoding's Jacobian, which a
    /// NeuS-style SDF chains with the MLP's input gradient for analytic
    /// normals. Levels from `activeLevels` on contribute nothing; an axis
    /// where the point lies outside [0, 1] gets 0 (the clamp is flat there).
    /// One thread per point sums over the levels, so there are no atomics.
    /// - Parameters:
    ///   - points: [count, 3] f32
    ///   - table: [entries, F] f32
    ///   - encodedGradient: [count, stride] f32, read at columns `column ..< column + L * F`
    ///   - pointGradient: [count, 3] f32, written (not accumulated)
    ///   - column, stride, activeLevels: as given to `encode`
    public func positionGradient(_ stream: CommandStream, points: BufferRange, table: BufferRange, encodedGradient: BufferRange,
                                 pointGradient: BufferRange, count: Int, column: Int = 0, stride: Int? = nil,
                                 activeLevels: Int? = nil) throws {
        guard count > 0 else { return }
        let push = try params(count, column: column, stride: stride, activeLevels: activeLevels)
        try stream.dispatch(positionGradientKernel, [points, levelBuffer, table, encodedGradient, pointGradient], push: push,
                            groups: groups(count), label: "hash encode position gradient")
    }

    // MARK: Swift twins

    /// The eight vertices around `x` at `level`: table entry and trilinear
    /// weight of each, in the kernel's corner order (hash_grid.glsl).
    public static func corners(level: HashGridLevel, x: SIMD3<Float>) -> [(entry: Int, weight: Float)] {
        let (lower, frac) = cell(level: level, x: x)
        return (0..<8).map { (k: UInt32) in
            let bits = SIMD3<UInt32>(k & 1, (k >> 1) & 1, (k >> 2) & 1)
            let w = SIMD3<Float>(bits.x == 1 ? frac.x : 1 - frac.x, bits.y == 1 ? frac.y : 1 - frac.y, bits.z == 1 ? frac.z : 1 - frac.z)
            return (entry(level: level, vertex: lower &+ bits), w.x * w.y * w.z)
        }
    }

    /// The lower grid vertex of `x` (clamped to [0, 1]^3) at `level` and the
    /// fractional position within its cell (hash_grid.glsl's `hashGridCell`).
    static func cell(level: HashGridLevel, x: SIMD3<Float>) -> (cell: SIMD3<UInt32>, frac: SIMD3<Float>) {
        let clamped = SIMD3<Float>(min(max(x.x, 0), 1), min(max(x.y, 0), 1), min(max(x.z, 0), 1))
        // Unfused, as the kernel's `precise` multiply-add.
        let product = level.scale * clamped
        let pos = product + SIMD3<Float>(repeating: 0.5)
        let lower = pos.rounded(.down)
        return (SIMD3<UInt32>(UInt32(lower.x), UInt32(lower.y), UInt32(lower.z)), pos - lower)
    }

    /// The table entry of a grid vertex at `level` (hash_grid.glsl's `hashGridEntry`).
    static func entry(level: HashGridLevel, vertex v: SIMD3<UInt32>) -> Int {
        let i = level.hashed != 0 ? hash(v.x, v.y, v.z) : v.x &+ level.resolution &* (v.y &+ level.resolution &* v.z)
        return Int(level.offset + i % level.entries)
    }

    /// The Swift twin of `encode`: [count, stride] from points [count, 3] and
    /// table [entries, F]; columns outside the encoding are 0.
    public static func reference(levels: [HashGridLevel], features: Int, points: [Float], table: [Float],
                                 column: Int = 0, stride: Int? = nil, activeLevels: Int? = nil) -> [Float] {
        let count = points.count / 3
        let stride = stride ?? levels.count * features
        var out = [Float](repeating: 0, count: count * stride)
        for p in 0..<count {
            let x = SIMD3<Float>(points[3 * p], points[3 * p + 1], points[3 * p + 2])
            for (l, level) in levels.enumerated().prefix(activeLevels ?? levels.count) {
                var sum = [Float](repeating: 0, count: features)
                for c in corners(level: level, x: x) {
                    for f in 0..<features { sum[f] += c.weight * table[c.entry * features + f] }
                }
                for f in 0..<features { out[p * stride + column + l * features + f] = sum[f] }
            }
        }
        return out
    }

    /// The Swift twin of `backward`, in Double: d(loss)/d(table) [entries, F]
    /// from d(loss)/d(encoded) [count, stride].
    public static func referenceBackward(levels: [HashGridLevel], features: Int, entries: Int, points: [Float],
                                         encodedGradient: [Double], column: Int = 0, stride: Int? = nil,
                                         activeLevels: Int? = nil) -> [Double] {
        let count = points.count / 3
        let stride = stride ?? levels.count * features
        var grad = [Double](repeating: 0, count: entries * features)
        for p in 0..<count {
            let x = SIMD3<Float>(points[3 * p], points[3 * p + 1], points[3 * p + 2])
            for (l, level) in levels.enumerated().prefix(activeLevels ?? levels.count) {
                for c in corners(level: level, x: x) {
                    for f in 0..<features {
                        grad[c.entry * features + f] += Double(c.weight) * encodedGradient[p * stride + column + l * features + f]
                    }
                }
            }
        }
        return grad
    }

    /// The Swift twin of `positionGradient`, in Double: d(loss)/d(point)
    /// [count, 3] from d(loss)/d(encoded) [count, stride]. The cell and its
    /// fractional position come from `cell(level:x:)` in single precision, so
    /// a point on a cell border takes the same one-sided derivative as the
    /// kernel; the rest is Double.
    public static func referencePositionGradient(levels: [HashGridLevel], features: Int, points: [Float], table: [Float],
                                                 encodedGradient: [Double], column: Int = 0, stride: Int? = nil,
                                                 activeLevels: Int? = nil) -> [Double] {
        let count = points.count / 3
        let stride = stride ?? levels.count * features
        var grad = [Double](repeating: 0, count: count * 3)
        for p in 0..<count {
            let x = SIMD3<Float>(points[3 * p], points[3 * p + 1], points[3 * p + 2])
            var sum = SIMD3<Double>.zero
            for (l, level) in levels.enumerated().prefix(activeLevels ?? levels.count) {
                let (lower, f32) = cell(level: level, x: x)
                let frac = SIMD3<Double>(Double(f32.x), Double(f32.y), Double(f32.z))
                var levelSum = SIMD3<Double>.zero
                for k: UInt32 in 0..<8 {
                    let bits = SIMD3<UInt32>(k & 1, (k >> 1) & 1, (k >> 2) & 1)
                    let e = entry(level: level, vertex: lower &+ bits)
                    var dw = 0.0
                    for f in 0..<features { dw += encodedGradient[p * stride + column + l * features + f] * Double(table[e * features + f]) }
                    // Each factor of the trilinear weight has slope +1 (upper vertex) or -1 (lower).
                    let w = SIMD3<Double>(bits.x == 1 ? frac.x : 1 - frac.x, bits.y == 1 ? frac.y : 1 - frac.y, bits.z == 1 ? frac.z : 1 - frac.z)
                    let slope = SIMD3<Double>(bits.x == 1 ? 1 : -1, bits.y == 1 ? 1 : -1, bits.z == 1 ? 1 : -1)
                    levelSum += dw * slope * SIMD3<Double>(w.y * w.z, w.x * w.z, w.x * w.y)
                }
                sum += Double(level.scale) * levelSum
            }
            // The clamp to [0, 1]^3 is flat outside the box.
            for a in 0..<3 { grad[3 * p + a] = (0...1).contains(x[a]) ? sum[a] : 0 }
        }
        return grad
    }
}
