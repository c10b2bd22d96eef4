import CVulkan
import Foundation

/// Where a buffer's memory lives.
public enum MemoryPlacement {
    /// Device-local storage. On devices whose memory is the host's (lavapipe,
    /// integrated GPUs) it is also mapped, so uploads and downloads are memcpy
    /// (the zero-copy path); on discrete GPUs transfers go through staging.
    case device
    /// Host-visible memory for uploads (write-combined is fine).
    case hostUpload
    /// Host-visible memory for reading results back (cached where possible).
    case hostReadback
}

/// A range of device memory handed out by `MemoryAllocator`.
struct MemoryAllocation {
    let block: MemoryBlock
    let offset: Int
    let size: Int
    var memory: VkDeviceMemory { block.memory }
    var mapped: UnsafeMutableRawPointer? { block.mapped.map { $0 + offset } }
}

/// One `vkAllocateMemory` result, carved into many buffers with a first-fit
/// free list, so thousands of small buffers do not mean thousands of
/// allocations (drivers cap those at `maxMemoryAllocationCount`, often 4096).
final class MemoryBlock {
    let memory: VkDeviceMemory
    let size: Int
    let typeIndex: UInt32
    let mapped: UnsafeMutableRawPointer?
    let dedicated: Bool
    /// Free ranges, sorted by offset, never adjacent (merged on free).
    var free: [(offset: Int, size: Int)]
    var used = 0

    init(memory: VkDeviceMemory, size: Int, typeIndex: UInt32, mapped: UnsafeMutableRawPointer?, dedicated: Bool) {
        self.memory = memory
        self.size = size
        self.typeIndex = typeIndex
        self.mapped = mapped
        self.dedicated = dedicated
        free = [(0, size)]
    }

    func allocate(size: Int, alignment: Int) -> Int? {
        for (i, range) in free.enumerated() {
            let start = (range.offset + alignment - 1) / alignment * alignment
            let end = start + size
            guard end <= range.offset + range.size else { continue }
            var replacement: [(offset: Int, size: Int)] = []
            if start > range.offset { replacement.append((range.offset, start - range.offset)) }
            if end < range.offset + range.size { replacement.append((end, range.offset + range.size - end)) }
            free.replaceSubrange(i...i, with: replacement)
            used += size
            return start
        }
        return nil
    }

    func release(offset: Int, size: Int) {
        used -= size
        let index = free.firstIndex { $0.offset > offset } ?? free.count
        free.insert((offset, size), at: index)
        // Merge with the neighbours.
        if index + 1 < free.count, free[index].offset + free[index].size == free[index + 1].offset {
            free[index].size += free[index + 1].size
            free.remove(at: index + 1)
        }
        if index > 0, free[index - 1].offset + free[index - 1].size == free[index].offset {
            free[index - 1].size += free[index].size
            free.remove(at: index)
        }
    }
}

/// Sub-allocates device memory per memory type.
final class MemoryAllocator {
    let device: VkDevice
    let info: DeviceInfo
    private let types: [VkMemoryType]
    private let heapSizes: [Int]
    private var blocks: [UInt32: [MemoryBlock]] = [:]
    private let lock = NSLock()
    /// Bytes held in live allocations (for `splat info` and tests).
    private(set) var allocatedBytes = 0
    private(set) var blockCount = 0

    init(device: VkDevice, physical: VkPhysicalDevice, info: DeviceInfo) {
        self.device = device
        self.info = info
        var props = VkPhysicalDeviceMemoryProperties()
        vkGetPhysicalDeviceMemoryProperties(physical, &props)
        types = withUnsafeBytes(of: props.memoryTypes) { raw in
            Array(raw.bindMemory(to: VkMemoryType.self).prefix(Int(props.memoryTypeCount)))
        }
        heapSizes = withUnsafeBytes(of: props.memoryHeaps) { raw in
            raw.bindMemory(to: VkMemoryHeap.self).prefix(Int(props.memoryHeapCount)).map { Int($0.size) }
        }
    }

    /// The memory type for `placement` among those `allowed` (a bit mask).
    func typeIndex(for placement: MemoryPlacement, allowed: UInt32) -> UInt32? {
        let deviceLocal = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT.rawValue
        let visible = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT.rawValue
        let coherent = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT.rawValue
        let cached = VK_MEMORY_PROPERTY_HOST_CACHED_BIT.rawValue
        let unified = info.kind == .cpu || info.kind == .integrated
        // Preference lists: first match wins.
        let wanted: [UInt32]
        switch placement {
        case .device:
            wanted = unified
                ? [deviceLocal | visible | coherent | cached, deviceLocal | visible | coherent, deviceLocal]
                : [deviceLocal, 0]
        case .hostUpload:
            wanted = [visible | coherent]
        case .hostReadback:
            wanted = [visible | coherent | cached, visible | coherent]
        }
        for flags in wanted {
            for (i, t) in types.enumerated() where allowed & (1 << UInt32(i)) != 0 {
                // On discrete GPUs keep device buffers out of the small host-visible BAR heap.
                if placement == .device, !unified, flags == deviceLocal, t.propertyFlags & visible != 0 { continue }
                if t.propertyFlags & flags == flags { return UInt32(i) }
            }
        }
        return nil
    }

    func allocate(_ requirements: VkMemoryRequirements, placement: MemoryPlacement) throws -> MemoryAllocation {
        guard let typeIndex = typeIndex(for: placement, allowed: requirements.memoryTypeBits) else {
            throw ComputeError.invalidArgument("no memory type on \(info.name) suits a \(placement) buffer")
        }
        let size = Int(requirements.size)
        let alignment = max(Int(requirements.alignment), 1)
        if size > info.maxMemoryAllocationSize, info.maxMemoryAllocationSize > 0 {
            throw ComputeError.limitExceeded(limit: "maxMemoryAllocationSize", requested: size, maximum: info.maxMemoryAllocationSize)
        }
        let heap = heapSizes[Int(types[Int(typeIndex)].heapIndex)]
        if size > heap {
            throw ComputeError.limitExceeded(limit: "memory heap size", requested: size, maximum: heap)
        }
        lock.lock(); defer { lock.unlock() }
        // Small buffers share 64 MiB blocks (less on small heaps); large ones get their own.
        let blockSize = min(64 << 20, max(heap / 16, 1 << 20))
        if size * 2 > blockSize {
            let block = try newBlock(size: size, typeIndex: typeIndex, dedicated: true)
            _ = block.allocate(size: size, alignment: 1)
            allocatedBytes += size
            return MemoryAllocation(block: block, offset: 0, size: size)
        }
        for block in blocks[typeIndex, default: []] where !block.dedicated {
            if let offset = block.allocate(size: size, alignment: alignment) {
                allocatedBytes += size
                return MemoryAllocation(block: block, offset: offset, size: size)
            }
        }
        let block = try newBlock(size: blockSize, typeIndex: typeIndex, dedicated: false)
        guard let offset = block.allocate(size: size, alignment: alignment) else {
            throw ComputeError.invalidArgument("allocator: \(size) bytes do not fit a new \(blockSize)-byte block")
        }
        allocatedBytes += size
        return MemoryAllocation(block: block, offset: offset, size: size)
    }

    func free(_ allocation: MemoryAllocation) {
        lock.lock(); defer { lock.unlock() }
        let block = allocation.block
        block.release(offset: allocation.offset, size: allocation.size)
        allocatedBytes -= allocation.size
        // Keep one empty shared block per type for reuse; free the rest.
        if block.used == 0 {
            var list = blocks[block.typeIndex, default: []]
            let emptyShared = list.filter { $0.used == 0 && !$0.dedicated }.count
            if block.dedicated || emptyShared > 1 {
                list.removeAll { $0 === block }
                blocks[block.typeIndex] = list
                destroy(block)
            }
        }
    }

    private func newBlock(size: Int, typeIndex: UInt32, dedicated: Bool) throws -> MemoryBlock {
        var info = VkMemoryAllocateInfo()
        info.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO
        info.allocationSize = VkDeviceSize(size)
        info.memoryTypeIndex = typeIndex
        var memory: VkDeviceMemory?
        try check(vkAllocateMemory(device, &info, nil, &memory), "vkAllocateMemory", bytes: size)
        guard let memory else { throw ComputeError.outOfMemory(call: "vkAllocateMemory", bytes: size, device: true) }
        var mapped: UnsafeMutableRawPointer?
        if types[Int(typeIndex)].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT.rawValue != 0 {
            let result = vkMapMemory(device, memory, 0, VkDeviceSize(VK_WHOLE_SIZE), 0, &mapped)
            if result != VK_SUCCESS {
                vkFreeMemory(device, memory, nil)
                throw error(for: result, call: "vkMapMemory", bytes: size)
            }
        }
        let block = MemoryBlock(memory: memory, size: size, typeIndex: typeIndex, mapped: mapped, dedicated: dedicated)
        blocks[typeIndex, default: []].append(block)
        blockCount += 1
        return block
    }

    private func destroy(_ block: MemoryBlock) {
        if block.mapped != nil { vkUnmapMemory(device, block.memory) }
        vkFreeMemory(device, block.memory, nil)
        blockCount -= 1
    }

    func destroyAll() {
        lock.lock(); defer { lock.unlock() }
        for list in blocks.values { list.forEach(destroy) }
        blocks.removeAll()
    }
}
