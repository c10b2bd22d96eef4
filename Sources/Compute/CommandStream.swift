import CVulkan
import Foundation

/// One GPU timestamp interval: the work recorded between the previous mark
/// and this one.
public struct StreamTiming: Codable, Equatable {
    public var label: String
    public var milliseconds: Double
}

/// Records many dispatches and copies into one command buffer and submits it
/// once.
///
/// Barriers are inserted automatically and only where needed: the stream
/// tracks which buffers were written and read since the last barrier, and a
/// command that reads or writes a written buffer (RAW, WAW) or writes a read
/// one (WAR) gets a memory barrier first. A final barrier makes results visible
/// to the host. Everything a stream uses is kept alive until `reset()`.
///
/// A recorded stream may be submitted again (benchmarks do) until `reset()`.
public final class CommandStream {
    let core: DeviceCore
    let commandPool: VkCommandPool
    let commandBuffer: VkCommandBuffer
    let fence: VkFence

    /// Writes a timestamp after every dispatch, labelled with the kernel's name.
    public var profileDispatches: Bool

    private enum State { case idle, recording, ended, submitted }
    private var state = State.idle
    private var retained: [AnyObject] = []
    private var writtenSinceBarrier = Set<ObjectIdentifier>()
    private var readSinceBarrier = Set<ObjectIdentifier>()
    private var queryPools: [VkQueryPool] = []
    private var marks: [String] = []
    private static let queriesPerPool = 512
    /// Largest group count per dimension a dispatch uses; the device's limit
    /// unless a test lowers it to exercise the 2D split.
    var maxGroupsPerDimension: Int
    /// Number of commands recorded since the last reset.
    public private(set) var commandCount = 0
    /// Number of barriers the hazard tracking inserted since the last reset.
    public private(set) var barrierCount = 0

    /// Lowers the per-dimension group limit so tests can exercise the 2D split
    /// on small inputs. Never needed in ordinary use.
    public func limitGroupsPerDimensionForTesting(_ limit: Int) {
        maxGroupsPerDimension = max(1, min(limit, maxGroupsPerDimension))
    }

    public init(device: ComputeDevice, profileDispatches: Bool = false) throws {
        core = device.core
        self.profileDispatches = profileDispatches
        maxGroupsPerDimension = min(device.info.maxWorkgroupCount[0], device.info.maxWorkgroupCount[1])
        let handle = core.handle

        var poolInfo = VkCommandPoolCreateInfo()
        poolInfo.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO
        poolInfo.queueFamilyIndex = core.queueFamily
        var pool: VkCommandPool?
        try check(vkCreateCommandPool(handle, &poolInfo, nil, &pool), "vkCreateCommandPool")
        guard let pool else { throw ComputeError.vulkan(call: "vkCreateCommandPool", result: 0) }

        var allocInfo = VkCommandBufferAllocateInfo()
        allocInfo.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO
        allocInfo.commandPool = pool
        allocInfo.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY
        allocInfo.commandBufferCount = 1
        var buffer: VkCommandBuffer?
        let allocResult = vkAllocateCommandBuffers(handle, &allocInfo, &buffer)
        guard allocResult == VK_SUCCESS, let buffer else {
            vkDestroyCommandPool(handle, pool, nil)
            throw Compute.error(for: allocResult, call: "vkAllocateCommandBuffers")
        }

        var fenceInfo = VkFenceCreateInfo()
        fenceInfo.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO
        var fence: VkFence?
        let fenceResult = vkCreateFence(handle, &fenceInfo, nil, &fence)
        guard fenceResult == VK_SUCCESS, let fence else {
            vkDestroyCommandPool(handle, pool, nil)
            throw Compute.error(for: fenceResult, call: "vkCreateFence")
        }
        commandPool = pool
        commandBuffer = buffer
        self.fence = fence
    }

    deinit {
        if state == .submitted { _ = vkWaitForFences(core.handle, 1, [fence], VkBool32(VK_TRUE), UInt64.max) }
        for pool in queryPools { vkDestroyQueryPool(core.handle, pool, nil) }
        vkDestroyFence(core.handle, fence, nil)
        vkDestroyCommandPool(core.handle, commandPool, nil)
    }

    // MARK: Recording

    private func begin() throws {
        switch state {
        case .recording: return
        case .idle: break
        case .ended, .submitted:
            throw ComputeError.invalidArgument("command stream: recording after submit needs reset() first")
        }
        var info = VkCommandBufferBeginInfo()
        info.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO
        try check(vkBeginCommandBuffer(commandBuffer, &info), "vkBeginCommandBuffer")
        state = .recording
    }

    /// Declares the accesses of the next command and inserts a barrier if
    /// they conflict with what was recorded since the last one.
    private func access(reads: [GPUBuffer], writes: [GPUBuffer]) {
        let r = reads.map { ObjectIdentifier($0) }
        let w = writes.map { ObjectIdentifier($0) }
        let hazard = r.contains(where: writtenSinceBarrier.contains) || w.contains(where: writtenSinceBarrier.contains)
            || w.contains(where: readSinceBarrier.contains)
        if hazard { recordBarrier() }
        readSinceBarrier.formUnion(r)
        writtenSinceBarrier.formUnion(w)
        retained.append(contentsOf: reads as [AnyObject])
        retained.append(contentsOf: writes as [AnyObject])
    }

    private func recordBarrier() {
        var barrier = VkMemoryBarrier()
        barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER
        barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT.rawValue | VK_ACCESS_TRANSFER_WRITE_BIT.rawValue
        barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT.rawValue | VK_ACCESS_SHADER_WRITE_BIT.rawValue
            | VK_ACCESS_TRANSFER_READ_BIT.rawValue | VK_ACCESS_TRANSFER_WRITE_BIT.rawValue
            | VK_ACCESS_INDIRECT_COMMAND_READ_BIT.rawValue | VK_ACCESS_UNIFORM_READ_BIT.rawValue
        let stages = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT.rawValue | VK_PIPELINE_STAGE_TRANSFER_BIT.rawValue
        vkCmdPipelineBarrier(commandBuffer, stages, stages | VK_PIPELINE_STAGE_DRAW_INDIRECT_BIT.rawValue,
                             0, 1, &barrier, 0, nil, 0, nil)
        writtenSinceBarrier.removeAll(keepingCapacity: true)
        readSinceBarrier.removeAll(keepingCapacity: true)
        barrierCount += 1
    }

    /// A full barrier, for dependencies the stream cannot see (none in
    /// ordinary use: hazards on buffers are tracked).
    public func barrier() throws {
        try begin()
        recordBarrier()
    }

    /// Splits a 1D group count into a grid within the per-dimension limit.
    static func grid(for groups: Int, limit: Int) throws -> (Int, Int) {
        if groups <= limit { return (groups, 1) }
        let y = (groups + limit - 1) / limit
        guard y <= limit else {
            throw ComputeError.limitExceeded(limit: "maxComputeWorkGroupCount (x * y)", requested: groups, maximum: limit * limit)
        }
        return ((groups + y - 1) / y, y)
    }

    /// Records `kernel` over `groups` workgroups (split into a 2D grid when above
    /// the per-dimension limit), with `buffers` bound at 0..<n and `push` as
    /// push constants (its byte size must match the kernel's).
    public func dispatch<Push>(_ kernel: Kernel, _ buffers: [BufferRange], push: Push, groups: Int, label: String? = nil) throws {
        guard groups > 0 else { return }
        let (x, y) = try Self.grid(for: groups, limit: maxGroupsPerDimension)
        try dispatch(kernel, buffers, push: push, grid: (x, y, 1), label: label)
    }

    /// Records `kernel` over an explicit 3D grid of workgroups.
    public func dispatch<Push>(_ kernel: Kernel, _ buffers: [BufferRange], push: Push, grid: (Int, Int, Int), label: String? = nil) throws {
        guard grid.0 > 0, grid.1 > 0, grid.2 > 0 else { return }
        let limits = core.info.maxWorkgroupCount
        for (axis, (count, limit)) in zip(["x", "y", "z"], [(grid.0, limits[0]), (grid.1, limits[1]), (grid.2, limits[2])]) where count > limit {
            throw ComputeError.limitExceeded(limit: "maxComputeWorkGroupCount[\(axis)]", requested: count, maximum: limit)
        }
        try bind(kernel, buffers, push: push)
        vkCmdDispatch(commandBuffer, UInt32(grid.0), UInt32(grid.1), UInt32(grid.2))
        try finishDispatch(kernel, label: label)
    }

    /// Records `kernel` with its group counts read from `arguments` (three
    /// uint32 at `argumentOffset` bytes), written by an earlier command.
    public func dispatchIndirect<Push>(_ kernel: Kernel, _ buffers: [BufferRange], push: Push,
                                       arguments: GPUBuffer, argumentOffset: Int = 0, label: String? = nil) throws {
        try begin()
        access(reads: [arguments], writes: [])
        try bind(kernel, buffers, push: push)
        vkCmdDispatchIndirect(commandBuffer, arguments.handle, VkDeviceSize(argumentOffset))
        try finishDispatch(kernel, label: label)
    }

    private func bind<Push>(_ kernel: Kernel, _ buffers: [BufferRange], push: Push) throws {
        guard buffers.count == kernel.bindings.count else {
            throw ComputeError.invalidArgument("kernel \(kernel.name) has \(kernel.bindings.count) bindings, got \(buffers.count) buffers")
        }
        guard MemoryLayout<Push>.size == kernel.pushConstantBytes || (kernel.pushConstantBytes == 0) else {
            throw ComputeError.invalidArgument("kernel \(kernel.name) takes \(kernel.pushConstantBytes) bytes of push constants, got \(MemoryLayout<Push>.size)")
        }
        let maxRange = core.info.maxStorageBufferRange
        for (b, use) in zip(buffers, kernel.bindings) where use != .uniform && b.length > maxRange {
            throw ComputeError.limitExceeded(limit: "maxStorageBufferRange (\(b.buffer.label) bound to \(kernel.name))",
                                             requested: b.length, maximum: maxRange)
        }
        let alignment = core.info.minStorageBufferOffsetAlignment
        for b in buffers where alignment > 0 && b.offset % alignment != 0 {
            throw ComputeError.invalidArgument("buffer offset \(b.offset) is not a multiple of minStorageBufferOffsetAlignment \(alignment)")
        }
        try begin()
        var reads: [GPUBuffer] = [], writes: [GPUBuffer] = []
        for (b, use) in zip(buffers, kernel.bindings) {
            if use.reads { reads.append(b.buffer) }
            if use.writes { writes.append(b.buffer) }
        }
        access(reads: reads, writes: writes)
        retained.append(kernel)

        vkCmdBindPipeline(commandBuffer, VK_PIPELINE_BIND_POINT_COMPUTE, kernel.pipeline)
        if !buffers.isEmpty {
            var infos = buffers.map { b -> VkDescriptorBufferInfo in
                VkDescriptorBufferInfo(buffer: b.buffer.handle, offset: VkDeviceSize(b.offset),
                                       range: b.length == 0 ? VkDeviceSize(VK_WHOLE_SIZE) : VkDeviceSize(b.length))
            }
            infos.withUnsafeMutableBufferPointer { infoPtr in
                var writes = (0..<buffers.count).map { i -> VkWriteDescriptorSet in
                    var w = VkWriteDescriptorSet()
                    w.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET
                    w.dstBinding = UInt32(i)
                    w.descriptorCount = 1
                    w.descriptorType = kernel.bindings[i].descriptorType
                    w.pBufferInfo = UnsafePointer(infoPtr.baseAddress! + i)
                    return w
                }
                vkCmdPushDescriptorSetKHR!(commandBuffer, VK_PIPELINE_BIND_POINT_COMPUTE, kernel.layout, 0,
                                           UInt32(writes.count), &writes)
            }
        }
        if kernel.pushConstantBytes > 0 {
            var value = push
            withUnsafeBytes(of: &value) { raw in
                vkCmdPushConstants(commandBuffer, kernel.layout, VK_SHADER_STAGE_COMPUTE_BIT.rawValue, 0,
                                   UInt32(kernel.pushConstantBytes), raw.baseAddress)
            }
        }
    }

    private func finishDispatch(_ kernel: Kernel, label: String?) throws {
        commandCount += 1
        if profileDispatches { try mark(label ?? kernel.name) }
    }

    /// Copies `bytes` bytes between buffers.
    public func copy(from source: GPUBuffer, to destination: GPUBuffer, bytes: Int,
                     sourceOffset: Int = 0, destinationOffset: Int = 0) {
        guard bytes > 0 else { return }
        precondition(sourceOffset + bytes <= source.length && destinationOffset + bytes <= destination.length,
                     "copy of \(bytes) bytes overruns \(source) or \(destination)")
        try! begin()
        access(reads: [source], writes: [destination])
        var region = VkBufferCopy(srcOffset: VkDeviceSize(sourceOffset), dstOffset: VkDeviceSize(destinationOffset), size: VkDeviceSize(bytes))
        vkCmdCopyBuffer(commandBuffer, source.handle, destination.handle, 1, &region)
        commandCount += 1
    }

    /// Writes `value`'s bytes (a multiple of 4, at most 65536) into `buffer` at
    /// `offset`, in stream order: for small per-frame blocks such as a camera.
    public func update<Value>(_ buffer: GPUBuffer, with value: Value, offset: Int = 0) {
        update(buffer, with: [value], offset: offset)
    }

    /// Writes `values` (4-byte multiples, at most 64 KiB in all) into
    /// `buffer` at `offset`, in stream order.
    public func update<Value>(_ buffer: GPUBuffer, with values: [Value], offset: Int = 0) {
        let size = MemoryLayout<Value>.stride * values.count
        precondition(size > 0 && size % 4 == 0 && size <= 65536 && offset % 4 == 0 && offset + size <= buffer.length,
                     "update needs 4-byte multiples within the buffer and at most 64 KiB")
        try! begin()
        access(reads: [], writes: [buffer])
        values.withUnsafeBytes { raw in
            vkCmdUpdateBuffer(commandBuffer, buffer.handle, VkDeviceSize(offset), VkDeviceSize(size), raw.baseAddress)
        }
        commandCount += 1
    }

    /// Fills `bytes` bytes (a multiple of 4) at `offset` with a 32-bit pattern.
    public func fill(_ buffer: GPUBuffer, value: UInt32, offset: Int = 0, bytes: Int? = nil) {
        let size = bytes ?? (buffer.length - offset)
        guard size > 0 else { return }
        precondition(size % 4 == 0 && offset % 4 == 0, "fill needs 4-byte multiples")
        try! begin()
        access(reads: [], writes: [buffer])
        vkCmdFillBuffer(commandBuffer, buffer.handle, VkDeviceSize(offset), VkDeviceSize(size), value)
        commandCount += 1
    }

    /// Writes a GPU timestamp once all earlier work has finished; `timings()`
    /// reports the time between consecutive marks. Ignored where the queue
    /// has no timestamps.
    public func mark(_ label: String) throws {
        guard core.info.timestampsSupported else { return }
        try begin()
        let index = marks.count
        let poolIndex = index / Self.queriesPerPool
        if poolIndex == queryPools.count {
            var info = VkQueryPoolCreateInfo()
            info.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO
            info.queryType = VK_QUERY_TYPE_TIMESTAMP
            info.queryCount = UInt32(Self.queriesPerPool)
            var pool: VkQueryPool?
            try check(vkCreateQueryPool(core.handle, &info, nil, &pool), "vkCreateQueryPool")
            queryPools.append(pool!)
        }
        let pool = queryPools[poolIndex]
        let slot = UInt32(index % Self.queriesPerPool)
        if slot == 0 { vkCmdResetQueryPool(commandBuffer, pool, 0, UInt32(Self.queriesPerPool)) }
        vkCmdWriteTimestamp(commandBuffer, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, pool, slot)
        marks.append(label)
    }

    // MARK: Submission

    /// Ends recording (if needed) and submits to the queue.
    public func submit() throws {
        if state == .submitted { try wait() }
        if state == .idle { try begin() }
        if state == .recording {
            // Make every write visible to the host for downloads through mapped memory.
            var barrier = VkMemoryBarrier()
            barrier.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER
            barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT.rawValue | VK_ACCESS_TRANSFER_WRITE_BIT.rawValue
            barrier.dstAccessMask = VK_ACCESS_HOST_READ_BIT.rawValue
            vkCmdPipelineBarrier(commandBuffer,
                                 VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT.rawValue | VK_PIPELINE_STAGE_TRANSFER_BIT.rawValue,
                                 VK_PIPELINE_STAGE_HOST_BIT.rawValue, 0, 1, &barrier, 0, nil, 0, nil)
            try check(vkEndCommandBuffer(commandBuffer), "vkEndCommandBuffer")
            state = .ended
        }
        try check(vkResetFences(core.handle, 1, [fence]), "vkResetFences")
        var buffer: VkCommandBuffer? = commandBuffer
        var info = VkSubmitInfo()
        info.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO
        info.commandBufferCount = 1
        try withUnsafePointer(to: &buffer) { ptr in
            info.pCommandBuffers = ptr
            try check(vkQueueSubmit(core.queue, 1, &info, fence), "vkQueueSubmit")
        }
        state = .submitted
    }

    /// Waits for the submitted work. Device loss and time-outs are errors.
    public func wait(timeoutSeconds: Double = 600) throws {
        guard state == .submitted else { return }
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while true {
            let result = vkWaitForFences(core.handle, 1, [fence], VkBool32(VK_TRUE), 1_000_000_000)
            if result == VK_SUCCESS { break }
            if result != VK_TIMEOUT { throw Compute.error(for: result, call: "vkWaitForFences") }
            if Date() > deadline { throw ComputeError.timeout(seconds: timeoutSeconds) }
        }
        state = .ended
    }

    /// Submits and waits.
    public func run() throws {
        try submit()
        try wait()
    }

    /// Intervals between consecutive marks of the last completed submission.
    public func timings() throws -> [StreamTiming] {
        guard marks.count > 0 else { return [] }
        try wait()
        var ticks: [UInt64] = []
        for (p, pool) in queryPools.enumerated() {
            let count = min(Self.queriesPerPool, marks.count - p * Self.queriesPerPool)
            var values = [UInt64](repeating: 0, count: count)
            try check(vkGetQueryPoolResults(core.handle, pool, 0, UInt32(count), count * 8, &values, 8,
                                            VK_QUERY_RESULT_64_BIT.rawValue | VK_QUERY_RESULT_WAIT_BIT.rawValue),
                      "vkGetQueryPoolResults")
            ticks += values
        }
        let period = core.info.timestampPeriodNs
        var out: [StreamTiming] = []
        for i in 1..<max(ticks.count, 1) {
            let delta = ticks[i] >= ticks[i - 1] ? ticks[i] - ticks[i - 1] : 0
            out.append(StreamTiming(label: marks[i], milliseconds: Double(delta) * period / 1e6))
        }
        return out
    }

    /// Forgets everything recorded, so the stream can record again.
    public func reset() {
        if state == .submitted { try? wait() }
        _ = vkResetCommandPool(core.handle, commandPool, 0)
        retained.removeAll(keepingCapacity: true)
        writtenSinceBarrier.removeAll(keepingCapacity: true)
        readSinceBarrier.removeAll(keepingCapacity: true)
        marks.removeAll(keepingCapacity: true)
        commandCount = 0
        barrierCount = 0
        state = .idle
    }
}
