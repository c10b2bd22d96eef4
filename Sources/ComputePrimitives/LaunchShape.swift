import Compute

/// How a tiled kernel is launched on a given device: workgroup size and items
/// per thread, chosen from the device's queried limits (never hard-coded), and
/// passed to the shader as specialisation constants (Shaders/common/layouts.h:
/// SPEC_WORKGROUP_SIZE, SPEC_SUBGROUP_SIZE, SPEC_ITEMS_PER_THREAD, SPEC_VARIANT).
struct LaunchShape: Equatable {
    var workgroupSize: Int
    var itemsPerThread: Int
    var minSubgroupSize: Int

    var tileSize: Int { workgroupSize * itemsPerThread }

    func tiles(for count: Int) -> Int { (count + tileSize - 1) / tileSize }

    func specialization(variant: UInt32 = 0) -> [UInt32] {
        [UInt32(workgroupSize), UInt32(minSubgroupSize), UInt32(itemsPerThread), variant]
    }

    /// The largest power-of-two workgroup size up to `preferred` the device allows
    /// for which `sharedBytes(workgroupSize)` fits its shared memory.
    static func choose(_ info: DeviceInfo, preferred: Int, items: (Int) -> Int,
                       sharedBytes: (_ workgroupSize: Int, _ items: Int) -> Int) throws -> LaunchShape {
        let minSubgroup = max(1, info.minSubgroupSize)
        var size = preferred
        while size > min(info.maxWorkgroupInvocations, info.maxWorkgroupSize[0]) { size /= 2 }
        while size >= max(minSubgroup, 1) {
            let perThread = items(size)
            if sharedBytes(size, perThread) <= info.maxSharedMemoryBytes {
                return LaunchShape(workgroupSize: size, itemsPerThread: perThread, minSubgroupSize: minSubgroup)
            }
            size /= 2
        }
        throw ComputeError.limitExceeded(limit: "maxComputeSharedMemorySize", requested: sharedBytes(minSubgroup, items(minSubgroup)),
                                         maximum: info.maxSharedMemoryBytes)
    }
}

/// A scratch buffer that grows on need (to the next power of two) and is
/// otherwise reused, so steady-state use allocates nothing.
public final class ScratchBuffer {
    public let label: String
    public private(set) var buffer: GPUBuffer?

    public init(label: String) { self.label = label }

    public func atLeast(_ bytes: Int, device: ComputeDevice) throws -> GPUBuffer {
        if let buffer, buffer.length >= bytes { return buffer }
        var size = 256
        while size < bytes { size <<= 1 }
        let made = try GPUBuffer(device: device, length: size, label: label)
        buffer = made
        return made
    }

    /// Installs `replacement` (which may be smaller than the current buffer)
    /// and returns the previous buffer, for double-buffered updates.
    @discardableResult
    public func exchange(_ replacement: GPUBuffer?) -> GPUBuffer? {
        let previous = buffer
        buffer = replacement
        return previous
    }
}

func requireLength(_ buffer: BufferRange, _ bytes: Int, _ what: String) throws {
    if buffer.length < bytes {
        throw ComputeError.invalidArgument("\(what): buffer \(buffer.buffer.label) holds \(buffer.length) bytes, \(bytes) needed")
    }
}

func requireCount(_ count: Int, _ what: String) throws {
    if count < 0 { throw ComputeError.invalidArgument("\(what): negative count \(count)") }
    if count > Int(UInt32.max) {
        throw ComputeError.limitExceeded(limit: "uint32 element index (\(what))", requested: count, maximum: Int(UInt32.max))
    }
}
