import ArgumentParser
import Compute
import Foundation

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe the Vulkan devices splat can use.",
        discussion: """
        `splat info --devices` lists every Vulkan device with the limits splat's
        kernels size themselves by, and marks the one splat would choose
        (a discrete GPU, else an integrated one, else the CPU driver lavapipe;
        SPLAT_DEVICE overrides).
        """)

    @Flag(name: .long, help: "List the Vulkan devices and their limits.")
    var devices = false

    @Flag(name: .long, help: "Print one JSON object on stdout.")
    var json = false

    func run() throws {
        try runReportingErrors {
            guard devices else {
                throw ValidationError("give --devices (scene and model description arrive with scene input support)")
            }
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
            float atomics: add \(yes(d.float32AtomicAdd)), min/max \(yes(d.float32AtomicMinMax)); int64 \(yes(d.shaderInt64)); timestamps \(yes(d.timestampsSupported)) (\(d.timestampPeriodNs) ns/tick)
            \(d.unsupportedReason.map { "unusable: \($0)" } ?? "usable by splat")
        """
    }

    func yes(_ b: Bool) -> String { b ? "yes" : "no" }
}
