import CShaderLayouts
import Compute

/// Stream compaction: keeps the uint32 values whose flag is non-zero, in order.
/// Offsets come from an exclusive scan of (flag != 0); compact_scatter moves
/// each kept value to its offset, and the scan's total is the kept count.
public final class StreamCompaction {
    public let device: ComputeDevice
    let scan: PrefixSum
    let scatter: Kernel
    let workgroupSize: Int
    private let offsets = ScratchBuffer(label: "compaction offsets")

    public init(device: ComputeDevice, scan: PrefixSum? = nil) throws {
        self.device = device
        self.scan = try scan ?? PrefixSum(device: device)
        workgroupSize = Swift.min(256, device.info.maxWorkgroupInvocations, device.info.maxWorkgroupSize[0])
        scatter = try device.kernel(ShaderLibrary.compactScatter, bindings: [.read, .read, .read, .write],
                                    pushConstantBytes: MemoryLayout<CompactParams>.size,
                                    specialization: [UInt32(workgroupSize)])
    }

    /// Records the compaction of `count` `values` by `flags` into `output`
    /// (room for `count` values); `keptCount` receives how many were kept.
    public func record(_ stream: CommandStream, values: BufferRange, flags: BufferRange, count: Int,
                       output: BufferRange, keptCount: BufferRange) throws {
        try requireCount(count, "compaction")
        try requireLength(values, count * 4, "compaction values")
        try requireLength(flags, count * 4, "compaction flags")
        try requireLength(output, count * 4, "compaction output")
        let offsetBuffer = try offsets.atLeast(Swift.max(count, 1) * 4, device: device)
        try scan.record(stream, input: flags, output: offsetBuffer, count: count, total: keptCount, countNonZero: true)
        guard count > 0 else { return }
        let params = CompactParams(count: UInt32(count), pad0: 0, pad1: 0, pad2: 0)
        try stream.dispatch(scatter, [values, flags, offsetBuffer, output], push: params,
                            groups: (count + workgroupSize - 1) / workgroupSize, label: "compact_scatter")
    }

    /// Uploads, compacts on the GPU, and returns the kept values.
    public func run(values: [UInt32], flags: [UInt32]) throws -> [UInt32] {
        precondition(values.count == flags.count, "values and flags differ in length")
        let v = try GPUBuffer(device: device, values.isEmpty ? [0] : values, label: "compaction values")
        let f = try GPUBuffer(device: device, flags.isEmpty ? [0] : flags, label: "compaction flags")
        let out = try GPUBuffer(device: device, length: Swift.max(values.count, 1) * 4, label: "compaction output")
        let kept = try GPUBuffer(device: device, length: 4, label: "compaction count")
        let stream = try CommandStream(device: device)
        try record(stream, values: v, flags: f, count: values.count, output: out, keptCount: kept)
        try stream.run()
        let n = Int(try kept.read(UInt32.self, count: 1, device: device)[0])
        return try out.read(UInt32.self, count: n, device: device)
    }

    /// The Swift twin.
    public static func reference(values: [UInt32], flags: [UInt32]) -> [UInt32] {
        zip(values, flags).filter { $0.1 != 0 }.map(\.0)
    }
}
