import Compute
import Datasets
import Foundation

/// Everything needed to resume Gaussian training exactly where it stopped
/// (CONVENTIONS.md `checkpoint/`): parameters, Adam moments and step, the
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
    /// Adam moments per group name.
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
        var out: [(String, [Float])] = [
            ("positions", model.positions), ("scales", model.scales), ("rotations", model.rotations),
            ("opacities", model.opacities), ("sh_dc", model.shDC), ("sh_rest", model.shRest),
            ("grad_accum", gradAccum), ("views", views), ("max_radius", maxRadius),
        ]
        for name in moments.keys.sorted() {
            out.append(("adam_m/" + name, moments[name]!.m))
            out.append(("adam_v/" + name, moments[name]!.v))
        }
        return out
    }

    /// Writes `folder/state.bin` atomically (the folder is created).
    public func write(to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let arrays = self.arrays
        let header: [String: Any] = [
            "iteration": iteration, "adam_step": adamStep, "rng_state": String(rngState), "order": order,
            "densifications": densifications, "sh_degree": model.shDegree, "count": model.count,
            "config": try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)),
            "arrays": arrays.map { ["name": $0.0, "count": $0.1.count] as [String: Any] },
        ]
        let json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        var data = Data(Self.magic)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        u32(Self.version)
        u32(UInt32(json.count))
        data.append(json)
        for (_, values) in arrays {
            values.withUnsafeBufferPointer { p in data.append(UnsafeBufferPointer(start: UnsafeRawPointer(p.baseAddress!).assumingMemoryBound(to: UInt8.self), count: p.count * 4)) }
        }
        try AtomicFile.write(data, to: folder + "/" + Self.fileName)
    }

    /// Reads a checkpoint folder (or a training output folder holding `checkpoint/`).
    public static func read(from folder: String) throws -> GaussianCheckpoint {
        var path = folder + "/" + fileName
        if !FileManager.default.fileExists(atPath: path) { path = folder + "/checkpoint/" + fileName }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DatasetError(folder, "no checkpoint here (expected checkpoint/\(fileName); train with --save-every or stop with Ctrl-C to write one)")
        }
        let bytes = [UInt8](data)
        func u32(_ at: Int) -> UInt32 { UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24 }
        guard bytes.count >= 16, Array(bytes[0..<8]) == magic else { throw DatasetError(path, "not a splat checkpoint (bad magic)") }
        let version = u32(8)
        guard version == Self.version else {
            throw DatasetError(path, "checkpoint version \(version); this splat reads version \(Self.version)")
        }
        let headerLength = Int(u32(12))
        guard bytes.count >= 16 + headerLength,
              let header = try? JSONSerialization.jsonObject(with: Data(bytes[16..<(16 + headerLength)])) as? [String: Any],
              let iteration = header["iteration"] as? Int, let adamStep = header["adam_step"] as? Int,
              let rng = (header["rng_state"] as? String).flatMap(UInt64.init), let order = header["order"] as? [Int],
              let densifications = header["densifications"] as? Int, let degree = header["sh_degree"] as? Int,
              let configObject = header["config"], let arrayList = header["arrays"] as? [[String: Any]] else {
            throw DatasetError(path, "truncated or damaged checkpoint header")
        }
        let config = try JSONDecoder().decode(GaussianTrainingConfig.self, from: JSONSerialization.data(withJSONObject: configObject))
        var offset = 16 + headerLength
        var arrays: [String: [Float]] = [:]
        for entry in arrayList {
            guard let name = entry["name"] as? String, let count = entry["count"] as? Int, count >= 0 else {
                throw DatasetError(path, "damaged checkpoint header (array list)")
            }
            guard offset + count * 4 <= bytes.count else {
                throw DatasetError(path, "truncated checkpoint: array \(name) needs \(count * 4) bytes at offset \(offset), file has \(bytes.count)")
            }
            arrays[name] = bytes.withUnsafeBytes { raw in
                (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4 * $0, as: UInt32.self))) }
            }
            offset += count * 4
        }
        guard offset == bytes.count else { throw DatasetError(path, "checkpoint has \(bytes.count - offset) unexpected trailing bytes") }
        func array(_ name: String) throws -> [Float] {
            guard let a = arrays[name] else { throw DatasetError(path, "checkpoint lacks array \(name)") }
            return a
        }
        let model = GaussianModel(shDegree: degree, positions: try array("positions"), shDC: try array("sh_dc"),
                                  shRest: try array("sh_rest"), opacities: try array("opacities"),
                                  scales: try array("scales"), rotations: try array("rotations"))
        if let problem = model.shapeProblem() { throw DatasetError(path, "checkpoint model: \(problem)") }
        var moments: [String: (m: [Float], v: [Float])] = [:]
        for name in arrays.keys where name.hasPrefix("adam_m/") {
            let group = String(name.dropFirst("adam_m/".count))
            moments[group] = (try array(name), try array("adam_v/" + group))
        }
        return GaussianCheckpoint(iteration: iteration, adamStep: adamStep, rngState: rng, order: order,
                                  densifications: densifications, config: config, model: model, moments: moments,
                                  gradAccum: try array("grad_accum"), views: try array("views"), maxRadius: try array("max_radius"))
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
