import CShaderLayouts
import Compute

/// Exclusive prefix sum of uint32 (wrapping), reduce-then-scan:
/// tiles are summed (scan_reduce), the tile sums are scanned recursively, then
/// each tile is scanned and offset (scan_downsweep). A single tile needs only
/// the last step.
public final class PrefixSum {
    public let device: ComputeDevice
    let shape: LaunchShape
    let reduceKernel: Kernel
    let downsweepKernel: Kernel
    private var levels: [ScratchBuffer] = []
    private let placeholder: GPUBuffer

    public init(device: ComputeDevice) throws {
        self.device = device
        shape = try LaunchShape.choose(device.info, preferred: 256, items: { _ in 8 },
                                       sharedBytes: { wg, items in (wg * items + wg + 1) * 4 })
        let spec = shape.specialization()
        reduceKernel = try device.kernel(ShaderLibrary.scanReduce, bindings: [.read, .write],
                                         pushConstantBytes: MemoryLayout<ScanParams>.size, specialization: spec)
        downsweepKernel = try device.kernel(ShaderLibrary.scanDownsweep, bindings: [.read, .write, .read, .write],
                                            pushConstantBytes: MemoryLayout<ScanParams>.size, specialization: spec)
        placeholder = try GPUBuffer(device: device, length: 16, label: "scan placeholder")
    }

    /// Records an exclusive scan of `count` uint32 from `input` into `output`
    /// (which may be `input`). `total`, if given, receives the sum of all
    /// elements in its first uint32. With `countNonZero`, element x counts as
    /// (x != 0 ? 1 : 0) (stream compaction's offsets).
    public func record(_ stream: CommandStream, input: BufferRange, output: BufferRange, count: Int,
                       total: BufferRange? = nil, countNonZero: Bool = false) throws {
        try requireCount(count, "prefix sum")
        try requireLength(input, count * 4, "prefix sum input")
        try requireLength(output, count * 4, "prefix sum output")
        if count == 0 {
            if let total { stream.fill(total.buffer, value: 0, offset: total.offset, bytes: 4) }
            return
        }
        try record(stream, input: input, output: output, count: count, total: total,
                   flags: countNonZero ? SCAN_FLAG_NONZERO : 0, level: 0)
    }

    private func record(_ stream: CommandStream, input: BufferRange, output: BufferRange, count: Int,
                        total: BufferRange?, flags: UInt32, level: Int) throws {
        let tiles = shape.tiles(for: count)
        var flags = flags
        if total != nil { flags |= SCAN_FLAG_WRITE_TOTAL }
        var partials: BufferRange = placeholder
        if tiles > 1 {
            while levels.count <= level { levels.append(ScratchBuffer(label: "scan partials \(levels.count)")) }
            let scratch = try levels[level].atLeast(tiles * 4, device: device)
            partials = scratch.slice(offset: 0, length: tiles * 4)
            let params = ScanParams(count: UInt32(count), flags: flags & SCAN_FLAG_NONZERO, pad0: 0, pad1: 0)
            try stream.dispatch(reduceKernel, [input, partials], push: params, groups: tiles, label: "scan_reduce")
            try record(stream, input: partials, output: partials, count: tiles, total: nil, flags: 0, level: level + 1)
            flags |= SCAN_FLAG_ADD_PARTIALS
        }
        let params = ScanParams(count: UInt32(count), flags: flags, pad0: 0, pad1: 0)
        try stream.dispatch(downsweepKernel, [input, output, partials, total ?? placeholder],
                            push: params, groups: tiles, label: "scan_downsweep")
    }

    /// Uploads `values`, scans them on the GPU and returns the result.
    public func run(_ values: [UInt32], countNonZero: Bool = false) throws -> (scanned: [UInt32], total: UInt32) {
        let buffer = try GPUBuffer(device: device, values.isEmpty ? [0] : values, label: "scan values")
        let total = try GPUBuffer(device: device, length: 4, label: "scan total")
        let stream = try CommandStream(device: device)
        try record(stream, input: buffer, output: buffer, count: values.count, total: total, countNonZero: countNonZero)
        try stream.run()
        return (try buffer.read(UInt32.self, count: values.count, device: device),
                try total.read(UInt32.self, count: 1, device: device)[0])
    }

    /// The Swift twin: exclusive scan with wrapping addition.
    public static func reference(_ values: [UInt32], countNonZero: Bool = false) -> (scanned: [UInt32], total: UInt32) {
        var out = [UInt32](repeating: 0, count: values.count)
        var running: UInt32 = 0
        for (i, v) in values.enumerated() {
            out[i] = running
            running &+= countNonZero ? (v != 0 ? 1 : 0) : v
        }
        return (out, running)
    }
}
