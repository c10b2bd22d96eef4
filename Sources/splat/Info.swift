import ArgumentParser
import Compute
import Datasets
import Fields
import Foundation
import Language
import Geometry
import Models
import Splatting

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a scene, a model, or the Vulkan devices splat can use.",
        discussion: """
        `splat info SCENE` prints a scene's format, cameras (models, resolutions,
        distortion), split, points and bounds; `splat info MODEL` (a .ply, .splat
        or training output folder) its Gaussian count, SH degree, bounds and size,
        or for a NeRF (.nerf or its output folder) its components, parameter
        counts, scene box and occupancy.
        `splat info --devices` lists every Vulkan device with the limits splat's
        kernels size themselves by, and marks the one splat would choose
        (a discrete GPU, else an integrated one, else the CPU driver lavapipe;
        SPLAT_DEVICE overrides).
        """)

    @Argument(help: "A scene folder (COLMAP or transforms.json), a transforms.json, or a model (.ply, .splat, output folder).")
    var path: String?

    @Flag(name: .long, help: "List the Vulkan devices and their limits.")
    var devices = false

    @Flag(help: "Describe the split --eval would use (every 8th image is test when the scene has no test split).")
    var eval = false

    @Flag(name: .long, help: "Print one JSON object on stdout.")
    var json = false

    func run() throws {
        try runReportingErrors {
            if let path, !devices {
                try describePath(path)
                return
            }
            guard devices else { throw ValidationError("give a PATH or --devices") }
            let instance = try VulkanInstance.shared()
            let infos = try instance.devices()
            if infos.isEmpty { throw ComputeError.noDevice(detail: "the loader lists no device") }
            let chosen = try ComputeDevice.choose(infos, request: ProcessInfo.processInfo.environment["SPLAT_DEVICE"])
            if json {
                let encoded = try JSONEncoder().encode(infos)
                let list = try JSONSerialization.jsonObject(with: encoded)
                try printJSON(["chosen": chosen, "devices": list])
                return
            }
            for info in infos {
                print(describe(info, chosen: info.index == chosen))
            }
        }
    }

    func describePath(_ path: String) throws {
        if let text = try describeCheckpoint(path) {
            if json { try printJSON(text.object) } else { print(text.text) }
            return
        }
        if let (text, object) = try Self.describeLanguageFile(path) {
            if json { try printJSON(object) } else { print(text) }
            return
        }
        let isModel = path.hasSuffix(".ply") || path.hasSuffix(".splat") || path.hasSuffix(".spz") || path.hasSuffix(".nerf")
            || FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("model.json"))
        if isModel {
            if !path.hasSuffix(".ply") && !path.hasSuffix(".splat") && !path.hasSuffix(".spz") {
                let model = try RenderModel.load(path)
                if case .nerf(let n) = model.content {
                    let (text, object) = Self.describeNerf(n, path: model.path)
                    if json { try printJSON(object) } else { print(text) }
                    return
                }
            }
            // A training output folder holds its Gaussians in point_cloud.ply.
            var isFolder: ObjCBool = false
            let file = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
                ? (path as NSString).appendingPathComponent("point_cloud.ply") : path
            var text = try ModelInfo.describe(path: file)
            var object: [String: Any] = ["path": path, "description": text]
            if isFolder.boolValue, let features = try RenderModel.load(path).languageFeatures,
               let (languageText, languageObject) = try Self.describeLanguageFile(features) {
                text += "\n" + languageText
                object["language"] = languageObject
            }
            if json { try printJSON(object) } else { print(text) }
            return
        }
        let scene = try SceneLoader.load(path, options: SceneOptions(eval: eval))
        let summary = SceneSummary(scene)
        if json { try printJSON(summary.json) } else { print(summary.text) }
    }

    /// A training run's checkpoint where there is no model yet (a run killed
    /// before its first model write leaves only `checkpoint/`), or a
    /// checkpoint file or folder named directly; nil for anything else.
    func describeCheckpoint(_ path: String) throws -> (text: String, object: [String: Any])? {
        let manager = FileManager.default
        var isFolder: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isFolder) else { return nil }
        let folder = isFolder.boolValue ? path : (path as NSString).deletingLastPathComponent
        // A folder with a model is described as the model (its checkpoint is one line of that).
        if isFolder.boolValue && manager.fileExists(atPath: (path as NSString).appendingPathComponent("model.json")) { return nil }
        let gaussianFile = isFolder.boolValue ? GaussianCheckpoint.file(in: path)
                                              : ((path as NSString).lastPathComponent == GaussianCheckpoint.fileName ? path : nil)
        // The run's folder, for the resume command: DIR for DIR/checkpoint/FILE.
        func runFolder(_ file: String) -> String {
            let parent = (file as NSString).deletingLastPathComponent
            return (parent as NSString).lastPathComponent == "checkpoint" ? (parent as NSString).deletingLastPathComponent : parent
        }
        if let file = gaussianFile {
            let c = try GaussianCheckpoint.read(from: (file as NSString).deletingLastPathComponent)
            let bytes = (try? manager.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
            let run = runFolder(file)
            let lines = [
                "\(file): Gaussian training checkpoint (SPLATCKP version \(GaussianCheckpoint.version)), \(formatBytes(bytes))",
                "  iteration \(c.iteration) of \(c.config.iterations), Adam step \(c.adamStep), \(c.model.count) Gaussians of SH degree \(c.model.shDegree), \(c.densifications) densifications",
                "  a checkpoint, not a model: `splat train SCENE --resume \(run)` continues the run and writes the model",
            ]
            let object: [String: Any] = ["path": file, "kind": "checkpoint", "engine": "gaussians", "iteration": c.iteration,
                                         "iterations": c.config.iterations, "adam_step": c.adamStep, "gaussians": c.model.count,
                                         "sh_degree": c.model.shDegree, "bytes": bytes, "resume": run]
            return (lines.joined(separator: "\n"), object)
        }
        // A NeRF checkpoint: model.nerf with optimiser state, in checkpoint/ of a run without model.json.
        let nerfFile = isFolder.boolValue ? [path + "/checkpoint/model.nerf", path + "/model.nerf"].first { manager.fileExists(atPath: $0) }
                                          : nil
        guard let nerfFile, folder == path else { return nil }
        let contents = try NerfModelFile.read(path: nerfFile)
        guard contents.header.optimizer != nil else { return nil }
        var (text, object) = Self.describeNerf(contents, path: nerfFile)
        text += "\n  no model written yet: `splat train SCENE --method nerf --resume \(runFolder(nerfFile))` continues the run"
        object["resume"] = runFolder(nerfFile)
        return (text, object)
    }

    /// A language features file (SPLATLNG) or checkpoint; nil for any other file.
    static func describeLanguageFile(_ path: String) throws -> (String, [String: Any])? {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), !isFolder.boolValue,
              let handle = FileHandle(forReadingAtPath: path) else { return nil }
        let head = handle.readData(ofLength: LanguageFeatureFile.magic.count)
        try? handle.close()
        guard Array(head) == LanguageFeatureFile.magic else { return nil }
        let (field, checkpoint) = try LanguageFeatureFile.read(path: path)
        let s = field.shape
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let lines = [
            "\(path): language features (LangSplatV2 sparse codebook field, SPLATLNG version \(LanguageFeatureFile.version)), \(formatBytes(bytes))",
            "  \(field.gaussianCount) Gaussians, \(s.levels) levels (\(field.levelNames.joined(separator: ", "))), per level a codebook of \(s.codebookSize) x \(s.dimension) and the top \(s.topK) weights per Gaussian",
            "  trained \(field.iteration) iterations" + (checkpoint.map { ", a checkpoint (Adam step \($0.state.adamStep); `splat train --resume` continues it)" } ?? ""),
        ]
        let object: [String: Any] = ["path": path, "kind": checkpoint == nil ? "language-features" : "language-checkpoint",
                                     "format_version": Int(LanguageFeatureFile.version), "gaussians": field.gaussianCount,
                                     "levels": s.levels, "level_names": field.levelNames, "codebook_size": s.codebookSize,
                                     "dimension": s.dimension, "top_k": s.topK, "iteration": field.iteration, "bytes": bytes]
        return (lines.joined(separator: "\n"), object)
    }

    /// A NeRF model file: what trained it, its components and the occupancy grid.
    static func describeNerf(_ n: NerfModelFile.Contents, path: String) -> (String, [String: Any]) {
        let h = n.header, c = h.config, e = c.encoding
        let occupied = n.bits.reduce(0) { $0 + $1.nonzeroBitCount }
        let cells = n.occupancy.count
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let parameters = n.table.count + n.densityWeights.count + n.colourWeights.count
        let cascades = cells / max(1, c.gridSize * c.gridSize * c.gridSize)
        let sdf = c.isSDF
        let inverseScale = h.variance.map { SDFField.inverseScale(variance: Double($0)) }
        let fieldLine = sdf
            ? "  SDF MLP (position + hash) \(c.network.hiddenLayers) x \(c.network.neurons) \(c.network.activation)\(c.network.biases ? " with biases" : "") -> 16, "
                + "colour MLP (SH degree 4, position, normal, 16 SDF features) -> \(c.rgbNetwork.hiddenLayers) x \(c.rgbNetwork.neurons) -> 3: "
            : "  density MLP \(c.network.hiddenLayers) x \(c.network.neurons) -> 16, colour MLP (SH degree 4 + 16) -> \(c.rgbNetwork.hiddenLayers) x \(c.rgbNetwork.neurons) -> 3: "
        let lines = [
            "\(path): \(sdf ? "NeuS model (SDF field" : "NeRF model (")SPLATNRF version \(NerfModelFile.version)), \(formatBytes(bytes)), trained \(h.iteration) iterations",
            "  hash grid: \(e.levels) levels x \(e.featuresPerLevel) features, 2^\(e.log2HashmapSize) entries, base resolution \(e.baseResolution): \(n.table.count) parameters",
            fieldLine + "\(n.densityWeights.count + n.colourWeights.count) weights; \(parameters) parameters in all",
        ] + (inverseScale.map { [String(format: "  sharpness inv_s %.4g (the logistic density's width: %.3g of the box)", $0, 1 / $0)] } ?? []) + [
            "  scene box: \(String(format: "%.4g", h.boxSize)) wide around (\(h.boxCenter.map { String(format: "%.4g", $0) }.joined(separator: ", "))), aabb_scale \(h.aabbScale)",
            "  occupancy grid: \(cascades) cascades of \(c.gridSize)^3, \(occupied) of \(cells) cells occupied (\(String(format: "%.2f", 100 * Double(occupied) / Double(max(1, cells))))%)",
            "  background \(h.background.map { String(format: "%.3g", $0) }.joined(separator: ", ")), loss \(c.loss)",
        ] + (h.optimizer.map { ["  a checkpoint: Adam step \($0.step), \($0.raysPerBatch) rays per batch (`splat train --resume` continues it)"] } ?? [])
        var object: [String: Any] = ["path": path, "kind": sdf ? "neus" : "nerf", "iteration": h.iteration, "bytes": bytes, "parameters": parameters,
                                     "hash_parameters": n.table.count, "mlp_weights": n.densityWeights.count + n.colourWeights.count,
                                     "box_center": h.boxCenter, "box_size": h.boxSize, "aabb_scale": h.aabbScale,
                                     "occupied_cells": occupied, "cells": cells]
        if let o = h.optimizer { object["checkpoint"] = true; object["adam_step"] = o.step }
        if let inverseScale { object["inverse_scale"] = inverseScale }
        return (lines.joined(separator: "\n"), object)
    }

    func describe(_ d: DeviceInfo, chosen: Bool) -> String {
        let heaps = d.heaps.map { "\(formatBytes($0.bytes))\($0.deviceLocal ? " device-local" : "")" }.joined(separator: ", ")
        return """
        \(chosen ? "*" : " ") \(d.index): \(d.name)\(chosen ? "   (chosen)" : "")
            type \(d.kind.rawValue), Vulkan \(d.apiVersion), driver \(d.driverName) \(d.driverInfo)
            subgroup size \(d.subgroupSize) (range \(d.minSubgroupSize)-\(d.maxSubgroupSize)), arithmetic \(yes(d.subgroupArithmetic)), ballot \(yes(d.subgroupBallot)), shuffle \(yes(d.subgroupShuffle))
            shared memory \(formatBytes(d.maxSharedMemoryBytes)), workgroup invocations \(d.maxWorkgroupInvocations), size \(d.maxWorkgroupSize.map(String.init).joined(separator: "x"))
            max workgroups \(d.maxWorkgroupCount.map(String.init).joined(separator: " x ")), push constants \(d.maxPushConstantsBytes) B
            storage buffer range \(formatBytes(d.maxStorageBufferRange)), allocation \(formatBytes(d.maxMemoryAllocationSize))
            memory heaps: \(heaps)
            float atomics: add \(yes(d.float32AtomicAdd)) (shared \(yes(d.float32SharedAtomicAdd))), min/max \(yes(d.float32AtomicMinMax)); int64 \(yes(d.shaderInt64)); 16-bit storage \(yes(d.storage16Bit)); timestamps \(yes(d.timestampsSupported)) (\(d.timestampPeriodNs) ns/tick)
            \(d.unsupportedReason.map { "unusable: \($0)" } ?? "usable by splat")
        """
    }

    func yes(_ b: Bool) -> String { b ? "yes" : "no" }
}
