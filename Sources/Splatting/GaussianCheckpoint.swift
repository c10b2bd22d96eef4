import Compute
import Datasets
import Foundation

/// Everything needed to resume Gaussian training exactly where it stopped
/// (docs/conventions.md `checkpoint/`): parameters, Adam moments and step, the
/// densification statistics and counter, the iteration, the view order and
/// the random generator's state, and the recipe.
///
/// File `checkpoint/state.bin` (one file, so writing it atomically through a
/// temporary name keeps the previous checkpoint intact until the new one is
/// complete):
///
///     "SPLATCKP"            8 bytes
///     version               u32 little-endian (1)
///     header length         u32 little-endian
///     header                UTF-8 JSON: iteration, adam_step, rng_state,
///                           order, densifications, sh_degree, count,
///                           config, arrays: [{name, count}]
///     arrays                f32 little-endian, in the header's order
///
/// The arrays are the model's parameter groups under their schema names
/// (`GaussianSchema.gaussians3D`: positions, scales, rotations, opacities,
/// sh_dc, sh_rest), the densification statistics (grad_accum, views,
/// max_radius), and each group's Adam moments (`adam_m/NAME`, `adam_v/NAME`),
/// every one sized by the schema. These are the names and sizes splat wrote
/// before the schema described them, so checkpoints written then read as
/// they always did.
public struct GaussianCheckpoint {
    public static let magic = Array("SPLATCKP".utf8)
    public static let version: UInt32 = 1
    public static let fileName = "state.bin"

    public var iteration: Int
    public var adamStep: Int
    public var rngState: UInt64
    /// Views still to visit in this pass over the training set.
    public var order: [Int]
    public var densifications: Int
    public var config: GaussianTrainingConfig
    public var model: GaussianModel
    /// Adam moments per group name: [N, floatsPerGaussian] f32 each, as
    /// the model's schema gives them; groups not yet optimised have none.
    public var moments: [String: (m: [Float], v: [Float])]
    /// Densification statistics: [N] f32 each.
    public var gradAccum: [Float], views: [Float], maxRadius: [Float]

    public init(iteration: Int, adamStep: Int, rngState: UInt64, order: [Int], densifications: Int,
                config: GaussianTrainingConfig, model: GaussianModel, moments: [String: (m: [Float], v: [Float])],
                gradAccum: [Float], views: [Float], maxRadius: [Float]) {
        self.iteration = iteration
        self.adamStep = adamStep
        self.rngState = rngState
        self.order = order
        self.densifications = densifications
        self.config = config
        self.model = model
        self.moments = moments
        self.gradAccum = gradAccum
        self.views = views
        self.maxRadius = maxRadius
    }

    var arrays: [(String, [Float])] {
        var out = Array(zip(model.schema.groups.map(\.name), model.parameterGroups))
        out += zip(Self.statisticsArrays, [gradAccum, views, maxRadius])
        for name in moments.keys.sorted() {
            out.append(("adam_m/" + name, moments[name]!.m))
            out.append(("adam_v/" + name, moments[name]!.v))
        }
        return out
    }

    /// Writes `folder/state.bin` atomically (the folder is created).
    public func write(to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try AtomicFile.write(try encoded(), to: folder + "/" + Self.fileName)
    }

    /// The file's bytes (no device or folder needed: tests and fuzzing build checkpoints with it).
    public func encoded() throws -> Data {
        let arrays = self.arrays
        var header: [String: Any] = [
            "iteration": iteration, "adam_step": adamStep, "rng_state": String(rngState), "order": order,
            "densifications": densifications, "sh_degree": model.shDegree, "count": model.count,
            "config": try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)),
            "arrays": arrays.map { ["name": $0.0, "count": $0.1.count] as [String: Any] },
        ]
        // Written for 4D only, so 3D checkpoints keep their bytes; absent reads as 3D.
        if model.hasTime { header["kind"] = model.kind }
        let json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys, .withoutEscapingSlashes])
        var data = Data(Self.magic)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        u32(Self.version)
        u32(UInt32(clamping: json.count))
        data.append(json)
        // withUnsafeBytes, not baseAddress!: an empty array may have none.
        for (_, values) in arrays { values.withUnsafeBytes { data.append(contentsOf: $0) } }
        return data
    }

    /// Reads a checkpoint folder (or a training output folder holding `checkpoint/`).
    public static func read(from folder: String) throws -> GaussianCheckpoint {
        let path = file(in: folder) ?? folder + "/checkpoint/" + fileName
        guard FileManager.default.fileExists(atPath: path) else {
            throw DatasetError(folder, "no checkpoint here (expected checkpoint/\(fileName); train with --save-every or stop with Ctrl-C to write one)")
        }
        return try decode(try RegularFile.read(path), path: path)  // only regular files: a FIFO would block
    }

    /// The checkpoint file of `folder` (a checkpoint folder or a training
    /// output folder holding `checkpoint/`), or nil when it has none.
    public static func file(in folder: String) -> String? {
        var isFolder: ObjCBool = false
        return [folder + "/" + fileName, folder + "/checkpoint/" + fileName].first {
            FileManager.default.fileExists(atPath: $0, isDirectory: &isFolder) && !isFolder.boolValue
        }
    }

    /// The densification statistics' arrays, [N] f32 each.
    static let statisticsArrays = ["grad_accum", "views", "max_radius"]

    /// The largest iteration, Adam step or densification count a header may hold.
    static let maxCounter = 1 << 40

    /// Parses and checks a checkpoint's bytes; errors name `path` and the
    /// header key or array. Every header value is range-checked, and every
    /// array's count against the bytes that remain before anything is
    /// multiplied or allocated. Needs no device and never traps, whatever
    /// `data` holds.
    public static func decode(_ data: Data, path: String) throws -> GaussianCheckpoint {
        let bytes = [UInt8](data)
        func u32(_ at: Int) -> UInt32 { UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24 }
        guard bytes.count >= 8, Array(bytes[0..<8]) == magic else { throw DatasetError(path, "not a splat checkpoint (bad magic)") }
        guard bytes.count >= 16 else { throw DatasetError(path, "truncated checkpoint (header length missing)") }
        let version = u32(8)
        guard version == Self.version else {
            throw DatasetError(path, "checkpoint version \(version); this splat reads version \(Self.version)")
        }
        let headerLength = Int(u32(12))
        guard headerLength <= bytes.count - 16 else {
            throw DatasetError(path, "truncated checkpoint: its header needs \(headerLength) bytes, \(bytes.count - 16) follow")
        }
        let headerData = Data(bytes[16..<(16 + headerLength)])
        guard let header = try StrictJSON.object(headerData, path: path) as? [String: Any] else {
            throw DatasetError(path, "damaged checkpoint header: not a JSON object")
        }
        func integer(_ key: String, _ range: ClosedRange<Int>) throws -> Int {
            guard let value = header[key] else { throw DatasetError(path, "damaged checkpoint header: missing key \(key)") }
            guard let n = wholeNumber(value) else {
                throw DatasetError(path, "damaged checkpoint header: \(key) is not an integer")
            }
            guard range.contains(n) else { throw DatasetError(path, "damaged checkpoint header: \(key) must be within \(range), got \(n)") }
            return n
        }
        let iteration = try integer("iteration", 0...maxCounter)
        let adamStep = try integer("adam_step", 0...maxCounter)
        let densifications = try integer("densifications", 0...maxCounter)
        let degree = try integer("sh_degree", 0...GaussianModel.maxSHDegree)
        let count = try integer("count", 0...(bytes.count / 4))
        guard let rng = (header["rng_state"] as? String).flatMap(UInt64.init) else {
            throw DatasetError(path, "damaged checkpoint header: rng_state must be a string holding an unsigned 64-bit integer")
        }
        guard let orderList = header["order"] as? [Any] else { throw DatasetError(path, "damaged checkpoint header: order must be a list of view indices") }
        var order: [Int] = []
        order.reserveCapacity(orderList.count)
        for value in orderList {
            guard let index = wholeNumber(value), index >= 0, index <= Int(Int32.max) else {
                throw DatasetError(path, "damaged checkpoint header: order holds \(value), not a view index")
            }
            order.append(index)
        }
        // The recipe, decoded strictly from the header's own bytes so a
        // damaged key is named (`key "iterations" is missing (at config)`).
        struct Recipe: Decodable { var config: GaussianTrainingConfig }
        let config: GaussianTrainingConfig
        do { config = try StrictJSON.decode(Recipe.self, from: headerData, path: path).config } catch let error as DatasetError {
            throw DatasetError(path, "damaged checkpoint header: \(error.problem)")
        }
        if let problem = configProblem(config) { throw DatasetError(path, "damaged checkpoint header: config.\(problem)") }
        guard let arrayList = header["arrays"] as? [Any] else { throw DatasetError(path, "damaged checkpoint header: arrays must be a list") }
        let kind = header["kind"] ?? "gaussians"
        guard let kind = kind as? String, kind == "gaussians" || kind == GaussianSchema.kind4D else {
            throw DatasetError(path, "damaged checkpoint header: kind \(kind) is neither gaussians nor \(GaussianSchema.kind4D)")
        }
        let hasTime = kind == GaussianSchema.kind4D
        let schema = hasTime ? GaussianSchema.gaussians4D(shDegree: degree) : GaussianSchema.gaussians3D(shDegree: degree)
        let groups = schema.groups.map(\.name)
        let known = Set(groups + statisticsArrays + groups.flatMap { ["adam_m/" + $0, "adam_v/" + $0] })
        var offset = 16 + headerLength
        var arrays: [String: [Float]] = [:]
        for (index, item) in arrayList.enumerated() {
            guard let entry = item as? [String: Any], let name = entry["name"] as? String else {
                throw DatasetError(path, "damaged checkpoint header: arrays[\(index)] lacks a name")
            }
            guard known.contains(name) else { throw DatasetError(path, "damaged checkpoint header: unknown array '\(name)'") }
            guard arrays[name] == nil else { throw DatasetError(path, "damaged checkpoint header: array \(name) is listed twice") }
            // The count against the bytes left before it is multiplied: a
            // count of 2^62 is refused here, not allocated.
            let left = (bytes.count - offset) / 4
            guard let count = wholeNumber(entry["count"]), count >= 0 else {
                throw DatasetError(path, "damaged checkpoint header: array \(name) has no valid count")
            }
            guard count <= left else {
                throw DatasetError(path, "truncated checkpoint: array \(name) holds \(count) values, \(left) follow")
            }
            let start = offset
            arrays[name] = bytes.withUnsafeBytes { raw in
                (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: start + 4 * $0, as: UInt32.self))) }
            }
            offset += count * 4
        }
        guard offset == bytes.count else { throw DatasetError(path, "checkpoint has \(bytes.count - offset) unexpected trailing bytes") }
        func array(_ name: String) throws -> [Float] {
            guard let a = arrays[name] else { throw DatasetError(path, "checkpoint lacks array \(name)") }
            return a
        }
        let model = GaussianModel(shDegree: degree, parameterGroups: try groups.map(array), hasTime: hasTime)
        if let problem = model.shapeProblem() { throw DatasetError(path, "checkpoint model: \(problem)") }
        guard model.count == count else {
            throw DatasetError(path, "damaged checkpoint header: count says \(count) Gaussians, the arrays hold \(model.count)")
        }
        for name in statisticsArrays where try array(name).count != count {
            throw DatasetError(path, "checkpoint array \(name) holds \(try array(name).count) values; \(count) Gaussians need \(count)")
        }
        var moments: [String: (m: [Float], v: [Float])] = [:]
        for group in schema.groups {
            let name = group.name
            let m = arrays["adam_m/" + name], v = arrays["adam_v/" + name]
            if m == nil && v == nil { continue }
            guard let m, let v else { throw DatasetError(path, "checkpoint has only one of the Adam moments of \(name)") }
            let wanted = count * group.floatsPerGaussian
            guard m.count == wanted, v.count == wanted else {
                throw DatasetError(path, "checkpoint Adam moments of \(name) hold \(m.count) and \(v.count) values; \(count) Gaussians need \(wanted)")
            }
            moments[name] = (m, v)
        }
        return GaussianCheckpoint(iteration: iteration, adamStep: adamStep, rngState: rng, order: order,
                                  densifications: densifications, config: config, model: model, moments: moments,
                                  gradAccum: try array("grad_accum"), views: try array("views"), maxRadius: try array("max_radius"))
    }

    /// A JSON number that is a whole number an Int holds (1e3 included), or
    /// nil; never traps (2^70 and 1.5 are nil).
    static func wholeNumber(_ value: Any?) -> Int? {
        if let n = value as? Int { return n }
        if let d = value as? Double { return Int(exactly: d) }
        return nil
    }

    /// Why a checkpoint's recipe cannot train, or nil: the first field out
    /// of range, by its JSON key (GaussianTrainingConfig's property names).
    static func configProblem(_ c: GaussianTrainingConfig) -> String? {
        let rates: [(String, Double)] = [("positionLR", c.positionLR), ("positionLRFinal", c.positionLRFinal), ("featureLR", c.featureLR),
                                         ("opacityLR", c.opacityLR), ("scalingLR", c.scalingLR), ("rotationLR", c.rotationLR)]
        for (key, rate) in rates where !(rate >= 0 && rate.isFinite) { return "\(key) must be finite and >= 0, got \(rate)" }
        if !(0...maxCounter).contains(c.iterations) { return "iterations must be within 0...\(maxCounter), got \(c.iterations)" }
        if !(c.lambdaDSSIM >= 0 && c.lambdaDSSIM <= 1) { return "lambdaDSSIM must be within 0...1, got \(c.lambdaDSSIM)" }
        if c.shDegreeInterval < 0 { return "shDegreeInterval must be >= 0, got \(c.shDegreeInterval)" }
        if !(0...GaussianModel.maxSHDegree).contains(c.maxSHDegree) {
            return "maxSHDegree must be within 0...\(GaussianModel.maxSHDegree), got \(c.maxSHDegree)"
        }
        if !(c.initialOpacity > 0 && c.initialOpacity < 1) { return "initialOpacity must be in (0, 1), got \(c.initialOpacity)" }
        if c.randomPoints < 0 { return "randomPoints must be >= 0, got \(c.randomPoints)" }
        if !(c.initialTimeScale > 0 && c.initialTimeScale.isFinite) { return "initialTimeScale must be finite and > 0, got \(c.initialTimeScale)" }
        if !(c.opacityEntropy >= 0 && c.opacityEntropy.isFinite) { return "opacityEntropy must be finite and >= 0, got \(c.opacityEntropy)" }
        if !(c.consistency4D >= 0 && c.consistency4D.isFinite) { return "consistency4D must be finite and >= 0, got \(c.consistency4D)" }
        let d = c.densification
        let counts: [(String, Int)] = [("from", d.from), ("until", d.until), ("interval", d.interval),
                                       ("opacityResetInterval", d.opacityResetInterval), ("maxGaussians", d.maxGaussians)]
        for (key, value) in counts where value < 0 { return "densification.\(key) must be >= 0, got \(value)" }
        let amounts: [(String, Double)] = [("gradThreshold", d.gradThreshold), ("percentDense", d.percentDense), ("minOpacity", d.minOpacity),
                                           ("maxScreenRadius", d.maxScreenRadius), ("maxWorldScale", d.maxWorldScale)]
        for (key, value) in amounts where !(value >= 0 && value.isFinite) { return "densification.\(key) must be finite and >= 0, got \(value)" }
        return nil
    }
}

extension GaussianTrainer {
    /// The trainer's whole state, downloaded.
    public func checkpoint() throws -> GaussianCheckpoint {
        let stats = try densifier.statistics()
        let n = rasterizer.gaussianCount
        // Statistics describe the current model (zeros when not yet accumulated).
        let fit = { (a: [Float]) in a.count == n ? a : [Float](repeating: 0, count: n) }
        return GaussianCheckpoint(iteration: iteration, adamStep: adam.step, rngState: rng.state, order: order,
                                  densifications: densifier.densifications, config: config,
                                  model: try rasterizer.currentModel(), moments: try adam.downloadMoments(),
                                  gradAccum: fit(stats.gradAccum), views: fit(stats.views), maxRadius: fit(stats.maxRadius))
    }

    /// Continues from `checkpoint` (same scene and split: the view order indexes the training views).
    public func restore(_ checkpoint: GaussianCheckpoint) throws {
        guard checkpoint.order.allSatisfy({ $0 >= 0 && $0 < views.count }) else {
            throw ComputeError.invalidArgument("the checkpoint's view order does not fit the \(views.count) training views (another scene or split?)")
        }
        try rasterizer.setModel(checkpoint.model)
        try adam.restore(step: checkpoint.adamStep, moments: checkpoint.moments)
        try densifier.setStatistics(gradAccum: checkpoint.gradAccum, views: checkpoint.views, maxRadius: checkpoint.maxRadius)
        densifier.restore(densifications: checkpoint.densifications)
        iteration = checkpoint.iteration
        rng.state = checkpoint.rngState
        order = checkpoint.order
    }
}
