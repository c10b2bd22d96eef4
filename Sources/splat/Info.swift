import ArgumentParser
import Compute
import Datasets
import Foundation
import Geometry

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a scene, a model, or the Vulkan devices splat can use.",
        discussion: """
        `splat info SCENE` prints a scene's format, cameras (models, resolutions,
        distortion), split, points and bounds; `splat info MODEL` (a .ply, .splat
        or training output folder) its Gaussian count, SH degree, bounds and size.
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
        let isModel = path.hasSuffix(".ply") || path.hasSuffix(".splat")
            || FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("model.json"))
        if isModel {
            // A training output folder holds its Gaussians in point_cloud.ply.
            var isFolder: ObjCBool = false
            let file = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
                ? (path as NSString).appendingPathComponent("point_cloud.ply") : path
            let text = try ModelInfo.describe(path: file)
            if json { try printJSON(["path": path, "description": text]) } else { print(text) }
            return
        }
        let scene = try SceneLoader.load(path, options: SceneOptions(eval: eval))
        let summary = SceneSummary(scene)
        if json { try printJSON(summary.json) } else { print(summary.text) }
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
            float atomics: add \(yes(d.float32AtomicAdd)) (shared \(yes(d.float32SharedAtomicAdd))), min/max \(yes(d.float32AtomicMinMax)); int64 \(yes(d.shaderInt64)); timestamps \(yes(d.timestampsSupported)) (\(d.timestampPeriodNs) ns/tick)
            \(d.unsupportedReason.map { "unusable: \($0)" } ?? "usable by splat")
        """
    }

    func yes(_ b: Bool) -> String { b ? "yes" : "no" }
}
