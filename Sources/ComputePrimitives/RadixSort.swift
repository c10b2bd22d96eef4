import CShaderLayouts
import Compute

/// Stable key-value LSD radix sort on the GPU: 32- or 64-bit keys, uint32
/// values, 8-bit digits, and only as many passes as the caller's significant
/// key bits need (the rasterizer sorts tile|depth keys of 32 + ceil(log2 tiles)
/// bits: 6 passes for up to 65536 tiles instead of 8).
///
/// One pass: radix_count (per-tile digit histograms) -> PrefixSum over the
/// digit-major histogram -> radix_scatter (stable per-tile ranking, see the
/// shader). Keys are compared on their low `keyBits` bits only.
public final class RadixSort {
    public enum KeyWidth: Int {
        case bits32 = 1, bits64 = 2
        var words: Int { rawValue }
        var bytes: Int { rawValue * 4 }
        public var bitCount: Int { rawValue * 32 }
    }

    /// How a tile's keys are ranked in the scatter step. Both give the same,
    /// stable result; they differ in speed by kind of device.
    public enum Ranking: CaseIterable {
        /// Subgroup multi-split (radix_scatter.comp): for GPUs.
        case subgroupMultisplit
        /// Each thread ranks a contiguous run with its own counters
        /// (radix_scatter_serial.comp): for CPU drivers such as lavapipe, which
        /// run a workgroup on one core, where ballots, atomics and barriers cost
        /// more than strided reads.
        case threadSerial

        /// The faster ranking for `info`'s kind of device.
        public static func preferred(for info: DeviceInfo) -> Ranking {
            info.kind == .cpu ? .threadSerial : .subgroupMultisplit
        }
    }

    public let device: ComputeDevice
    public let ranking: Ranking
    let shape: LaunchShape
    let scan: PrefixSum
    private var countKernels: [KeyWidth: Kernel] = [:]
    private var scatterKernels: [KeyWidth: Kernel] = [:]
    private let histogram = ScratchBuffer(label: "radix histogram")
    private let keysScratch = ScratchBuffer(label: "radix keys")
    private let valuesScratch = ScratchBuffer(label: "radix values")

    /// Tiles hold about this many keys: large enough that the histogram
    /// (256 counters per tile) stays small next to the keys.
    static let targetTileKeys = 4096

    public init(device: ComputeDevice, ranking: Ranking? = nil, scan: PrefixSum? = nil) throws {
        self.device = device
        self.scan = try scan ?? PrefixSum(device: device)
        let ranking = ranking ?? .preferred(for: device.info)
        self.ranking = ranking
        let info = device.info
        let minSubgroup = max(1, info.minSubgroupSize)
        let bins = Int(RADIX_BINS)
        switch ranking {
        case .subgroupMultisplit:
            // Eight subgroups per workgroup (at most 256 threads); the
            // per-subgroup digit counters must fit shared memory.
            shape = try LaunchShape.choose(info, preferred: min(256, 8 * info.subgroupSize),
                                           items: { max(1, Self.targetTileKeys / $0) },
                                           sharedBytes: { wg, _ in (max(1, wg / minSubgroup) * bins + bins) * 4 })
        case .threadSerial:
            // One subgroup per workgroup, one counter row per thread.
            shape = try LaunchShape.choose(info, preferred: max(1, info.subgroupSize),
                                           items: { max(1, Self.targetTileKeys / $0) },
                                           sharedBytes: { wg, _ in wg * bins * 4 })
        }
        let serialFlag = ranking == .threadSerial ? RADIX_VARIANT_SERIAL : 0
        for width in [KeyWidth.bits32, .bits64] {
            let spec = shape.specialization(variant: UInt32(width.words) | serialFlag)
            countKernels[width] = try device.kernel(ShaderLibrary.radixCount, bindings: [.read, .write],
                                                    pushConstantBytes: MemoryLayout<RadixSortParams>.size,
                                                    specialization: spec, requireFullSubgroups: true)
            scatterKernels[width] = try device.kernel(
                ranking == .threadSerial ? ShaderLibrary.radixScatterSerial : ShaderLibrary.radixScatter,
                bindings: [.read, .read, .read, .write, .write],
                pushConstantBytes: MemoryLayout<RadixSortParams>.size,
                specialization: spec, requireFullSubgroups: true)
        }
    }

    /// Keys per workgroup tile on this device.
    public var tileSize: Int { shape.tileSize }

    /// Passes needed for `keyBits` significant bits.
    public static func passes(keyBits: Int) -> Int { (keyBits + Int(RADIX_BITS) - 1) / Int(RADIX_BITS) }

    /// Records a stable sort of `count` keys and their values, in place.
    /// `keys` holds `count` keys of `width` (64-bit keys as little-endian
    /// UInt64, i.e. (low, high) words), `values` `count` uint32.
    public func record(_ stream: CommandStream, keys: GPUBuffer, values: GPUBuffer, count: Int,
                       width: KeyWidth, keyBits: Int) throws {
        try requireCount(count, "radix sort")
        guard (0...width.bitCount).contains(keyBits) else {
            throw ComputeError.invalidArgument("radix sort: \(keyBits) significant bits for \(width.bitCount)-bit keys")
        }
        try requireLength(keys, count * width.bytes, "radix sort keys")
        try requireLength(values, count * 4, "radix sort values")
        let passes = Self.passes(keyBits: keyBits)
        guard count > 1, passes > 0 else { return }
        let blocks = shape.tiles(for: count)
        let bins = Int(RADIX_BINS) * blocks
        let hist = try histogram.atLeast(bins * 4, device: device).slice(offset: 0, length: bins * 4)
        let keyBytes = count * width.bytes, valueBytes = count * 4
        let keysB = try keysScratch.atLeast(keyBytes, device: device)
        let valuesB = try valuesScratch.atLeast(valueBytes, device: device)
        var source: (keys: BufferRange, values: BufferRange) = (keys.slice(offset: 0, length: keyBytes), values.slice(offset: 0, length: valueBytes))
        var target: (keys: BufferRange, values: BufferRange) = (keysB.slice(offset: 0, length: keyBytes), valuesB.slice(offset: 0, length: valueBytes))
        let groups = blocks
        for pass in 0..<passes {
            let shift = pass * Int(RADIX_BITS)
            let bits = min(Int(RADIX_BITS), keyBits - shift)
            let params = RadixSortParams(count: UInt32(count), shift: UInt32(shift), blocks: UInt32(blocks),
                                         digitMask: (1 << UInt32(bits)) - 1)
            try stream.dispatch(countKernels[width]!, [source.keys, hist], push: params, groups: groups, label: "radix_count")
            try scan.record(stream, input: hist, output: hist, count: bins)
            try stream.dispatch(scatterKernels[width]!, [source.keys, source.values, hist, target.keys, target.values],
                                push: params, groups: groups, label: "radix_scatter")
            swap(&source, &target)
        }
        if passes % 2 == 1 {
            stream.copy(from: keysB, to: keys, bytes: keyBytes)
            stream.copy(from: valuesB, to: values, bytes: valueBytes)
        }
    }

    /// Uploads, sorts on the GPU, downloads: 32-bit (UInt32) or 64-bit
    /// (UInt64) keys, compared on their low `keyBits` bits (default: all).
    public func sort<Key: FixedWidthInteger & UnsignedInteger>(keys: [Key], values: [UInt32], keyBits: Int? = nil) throws
        -> (keys: [Key], values: [UInt32]) {
        precondition(keys.count == values.count, "keys and values differ in length")
        guard let width = KeyWidth(rawValue: Key.bitWidth / 32), width.bitCount == Key.bitWidth else {
            throw ComputeError.invalidArgument("radix sort takes 32- or 64-bit keys, not \(Key.bitWidth)-bit")
        }
        let k = try GPUBuffer(device: device, keys.isEmpty ? [0] : keys, label: "sort keys")
        let v = try GPUBuffer(device: device, values.isEmpty ? [0] : values, label: "sort values")
        let stream = try CommandStream(device: device)
        try record(stream, keys: k, values: v, count: keys.count, width: width, keyBits: keyBits ?? Key.bitWidth)
        try stream.run()
        return (try k.read(Key.self, count: keys.count, device: device), try v.read(UInt32.self, count: keys.count, device: device))
    }

    /// The Swift twin: a stable sort on the low `keyBits` bits of each key.
    public static func reference<Key: FixedWidthInteger & UnsignedInteger>(keys: [Key], values: [UInt32], keyBits: Int)
        -> (keys: [Key], values: [UInt32]) {
        let mask: Key = keyBits >= Key.bitWidth ? ~0 : (Key(1) << Key(keyBits)) &- 1
        // Sorting indices by (masked key, index) is a stable sort.
        let order = keys.indices.sorted { a, b in
            let ka = keys[a] & mask, kb = keys[b] & mask
            return ka != kb ? ka < kb : a < b
        }
        return (order.map { keys[$0] }, order.map { values[$0] })
    }
}
