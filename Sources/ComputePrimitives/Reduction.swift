import CShaderLayouts
import Compute

/// Sum and maximum of uint32 or float32 arrays: each tile reduces to one
/// value, repeated until one is left.
///
/// Empty input gives the identity: 0 for sums and the uint32 maximum, -infinity
/// for the float maximum. Float sums are computed as a tree, so they differ
/// from a sequential sum by rounding; NaN handling follows GLSL's max().
public final class Reduction {
    public enum Operation: CaseIterable {
        case sumU32, maxU32, sumF32, maxF32

        var variant: UInt32 {
            switch self {
            case .sumU32: return REDUCE_SUM_U32
            case .maxU32: return REDUCE_MAX_U32
            case .sumF32: return REDUCE_SUM_F32
            case .maxF32: return REDUCE_MAX_F32
            }
        }

        /// The identity element as stored bits.
        public var identityBits: UInt32 { self == .maxF32 ? (-Float.infinity).bitPattern : 0 }
    }

    public let device: ComputeDevice
    let shape: LaunchShape
    private var kernels: [Operation: Kernel] = [:]
    private let scratch = [ScratchBuffer(label: "reduce A"), ScratchBuffer(label: "reduce B")]

    public init(device: ComputeDevice) throws {
        self.device = device
        shape = try LaunchShape.choose(device.info, preferred: 256, items: { _ in 8 },
                                       sharedBytes: { wg, _ in wg * 4 })
        for op in Operation.allCases {
            kernels[op] = try device.kernel(ShaderLibrary.reduce, bindings: [.read, .write],
                                            pushConstantBytes: MemoryLayout<ReduceParams>.size,
                                            specialization: shape.specialization(variant: op.variant))
        }
    }

    /// Records the reduction of `count` elements of `input` (uint32 or float32
    /// bits) into the first element of `result`.
    public func record(_ stream: CommandStream, _ operation: Operation, input: BufferRange, count: Int,
                       result: BufferRange) throws {
        try requireCount(count, "reduction")
        try requireLength(input, count * 4, "reduction input")
        try requireLength(result, 4, "reduction result")
        if count == 0 {
            stream.fill(result.buffer, value: operation.identityBits, offset: result.offset, bytes: 4)
            return
        }
        let kernel = kernels[operation]!
        var source: BufferRange = input
        var remaining = count
        var level = 0
        while true {
            let tiles = shape.tiles(for: remaining)
            let destination: BufferRange = tiles == 1
                ? result
                : try scratch[level % 2].atLeast(tiles * 4, device: device).slice(offset: 0, length: tiles * 4)
            let params = ReduceParams(count: UInt32(remaining), pad0: 0, pad1: 0, pad2: 0)
            try stream.dispatch(kernel, [source, destination], push: params, groups: tiles, label: "reduce")
            if tiles == 1 { return }
            source = destination
            remaining = tiles
            level += 1
        }
    }

    public func sum(_ values: [UInt32]) throws -> UInt32 { try run(.sumU32, values) }
    public func max(_ values: [UInt32]) throws -> UInt32 { try run(.maxU32, values) }
    public func sum(_ values: [Float]) throws -> Float { Float(bitPattern: try run(.sumF32, values.map(\.bitPattern))) }
    public func max(_ values: [Float]) throws -> Float { Float(bitPattern: try run(.maxF32, values.map(\.bitPattern))) }

    private func run(_ op: Operation, _ bits: [UInt32]) throws -> UInt32 {
        let input = try GPUBuffer(device: device, bits.isEmpty ? [0] : bits, label: "reduce input")
        let result = try GPUBuffer(device: device, length: 4, label: "reduce result")
        let stream = try CommandStream(device: device)
        try record(stream, op, input: input, count: bits.count, result: result)
        try stream.run()
        return try result.read(UInt32.self, count: 1, device: device)[0]
    }

    /// The Swift twins.
    public static func reference(sum values: [UInt32]) -> UInt32 { values.reduce(0, &+) }
    public static func reference(max values: [UInt32]) -> UInt32 { values.max() ?? 0 }
    /// Summed in Double, so tests can bound the GPU's rounding error.
    public static func reference(sum values: [Float]) -> Double { values.reduce(0) { $0 + Double($1) } }
    public static func reference(max values: [Float]) -> Float { values.max() ?? -.infinity }
}
