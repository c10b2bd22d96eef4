import CVulkan
import Foundation

/// Anything that can be bound to a kernel's storage-buffer binding: a whole
/// buffer or a byte range of one.
public protocol BufferRange {
    var buffer: GPUBuffer { get }
    var offset: Int { get }
    var length: Int { get }
}

/// A byte range of a buffer.
public struct BufferSlice: BufferRange {
    public let buffer: GPUBuffer
    public let offset: Int
    public let length: Int
}

/// A Vulkan storage buffer with memory from the device's sub-allocator.
/// Usable as storage, copy source/destination and indirect-dispatch arguments.
/// Released when the last reference goes (a stream holds what it uses until reset).
public final class GPUBuffer: BufferRange {
    let core: DeviceCore
    public let handle: VkBuffer
    /// Bytes requested (the Vulkan buffer may be larger: zero-sized buffers are not allowed).
    public let length: Int
    public let placement: MemoryPlacement
    let allocation: MemoryAllocation
    /// The host address of the buffer's memory, when it is host-visible.
    public let mapped: UnsafeMutableRawPointer?
    /// A name for error messages and timings.
    public var label: String

    public var buffer: GPUBuffer { self }
    public var offset: Int { 0 }

    /// A buffer of `length` bytes (uninitialised).
    public init(device: ComputeDevice, length: Int, placement: MemoryPlacement = .device, label: String = "buffer") throws {
        guard length >= 0 else { throw ComputeError.invalidArgument("buffer length \(length) is negative") }
        let maxAllocation = device.info.maxMemoryAllocationSize
        if maxAllocation > 0, length > maxAllocation {
            throw ComputeError.limitExceeded(limit: "maxMemoryAllocationSize (buffer \(label))", requested: length, maximum: maxAllocation)
        }
        core = device.core
        self.length = length
        self.placement = placement
        self.label = label
        var info = VkBufferCreateInfo()
        info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO
        info.size = VkDeviceSize(max(length, 16))
        info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT.rawValue | VK_BUFFER_USAGE_TRANSFER_SRC_BIT.rawValue
            | VK_BUFFER_USAGE_TRANSFER_DST_BIT.rawValue | VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT.rawValue
            | VK_BUFFER_USAGE_UNIFORM_BUFFER_BIT.rawValue
        info.sharingMode = VK_SHARING_MODE_EXCLUSIVE
        var buffer: VkBuffer?
        try check(vkCreateBuffer(core.handle, &info, nil, &buffer), "vkCreateBuffer(\(label), \(length) bytes)", bytes: length)
        guard let buffer else { throw ComputeError.vulkan(call: "vkCreateBuffer", result: 0) }
        var requirements = VkMemoryRequirements()
        vkGetBufferMemoryRequirements(core.handle, buffer, &requirements)
        do {
            allocation = try core.memory.allocate(requirements, placement: placement)
        } catch {
            vkDestroyBuffer(core.handle, buffer, nil)
            throw error
        }
        let bound = vkBindBufferMemory(core.handle, buffer, allocation.memory, VkDeviceSize(allocation.offset))
        if bound != VK_SUCCESS {
            vkDestroyBuffer(core.handle, buffer, nil)
            core.memory.free(allocation)
            throw Compute.error(for: bound, call: "vkBindBufferMemory", bytes: length)
        }
        handle = buffer
        mapped = allocation.mapped
    }

    /// A buffer holding `values`.
    public convenience init<T>(device: ComputeDevice, _ values: [T], placement: MemoryPlacement = .device, label: String = "buffer") throws {
        try self.init(device: device, length: values.count * MemoryLayout<T>.stride, placement: placement, label: label)
        try write(values, device: device)
    }

    deinit {
        vkDestroyBuffer(core.handle, handle, nil)
        core.memory.free(allocation)
    }

    /// A byte range of this buffer.
    public func slice(offset: Int, length: Int) -> BufferSlice {
        precondition(offset >= 0 && length >= 0 && offset + length <= self.length, "slice out of range")
        return BufferSlice(buffer: self, offset: offset, length: length)
    }

    /// Writes `values` at element `index` (zero-copy where mapped, else staged).
    public func write<T>(_ values: [T], at index: Int = 0, device: ComputeDevice) throws {
        try values.withUnsafeBytes { try device.upload($0, to: self, offset: index * MemoryLayout<T>.stride) }
    }

    /// Reads `count` elements of `T` from element `index`. Waits for nothing:
    /// the caller has waited for the stream that wrote them.
    public func read<T>(_ type: T.Type, count: Int, at index: Int = 0, device: ComputeDevice) throws -> [T] {
        guard count > 0 else { return [] }
        return try [T](unsafeUninitializedCapacity: count) { storage, initialized in
            try device.download(self, offset: index * MemoryLayout<T>.stride, into: UnsafeMutableRawBufferPointer(storage))
            initialized = count
        }
    }
}

extension GPUBuffer: CustomStringConvertible {
    public var description: String { "\(label) (\(formatBytes(length)))" }
}
