import CVulkan
import Foundation

/// A Vulkan device and its compute queue: the root object of the compute core.
///
/// Choice: a discrete GPU, else an integrated one, else any other (lavapipe);
/// `SPLAT_DEVICE=<index or name substring>` overrides. Buffers, kernels and
/// streams keep their device alive, so it is released after the last of them.
public final class ComputeDevice {
    /// The Vulkan objects proper; buffers, kernels and streams hold this, not
    /// the device, so the caches below can hold buffers without a cycle.
    let core: DeviceCore
    public var instance: VulkanInstance { core.instance }
    public var info: DeviceInfo { core.info }
    public var handle: VkDevice { core.handle }
    /// Whether pipelines may require full subgroups (VK_EXT_subgroup_size_control).
    public var fullSubgroups: Bool { core.fullSubgroups }

    private var kernels: [KernelKey: Kernel] = [:]
    private var staging: GPUBuffer?
    /// Sends every transfer through the staging buffer, as on a discrete GPU,
    /// even where buffers are mapped; lets tests cover that path on lavapipe.
    var stagingOnlyForTesting = false
    private var transferStream: CommandStream?

    /// Opens the device the environment asks for (see type docs). With
    /// `validation`, the process's instance (if not created yet) enables the
    /// Khronos validation layer; tests use this and fail on any message.
    ///
    /// A caller that presents to a window (the viewer) passes the device
    /// `extensions` it needs and `queueFilter`, which accepts the queue
    /// families it can use (e.g. those that can present to its surface);
    /// devices without them are passed over, as unsupported ones are.
    public static func make(validation: Bool? = nil, extensions: [String] = [],
                            queueFilter: ((VkPhysicalDevice, UInt32) -> Bool)? = nil) throws -> ComputeDevice {
        if let validation { VulkanInstance.requestValidation(validation) }
        let instance = try VulkanInstance.shared()
        let devices = try instance.physicalDevices()
        if devices.isEmpty { throw ComputeError.noDevice(detail: "vkEnumeratePhysicalDevices returned none") }
        var infos = devices.enumerated().map { queryDeviceInfo($0.element, index: $0.offset) }
        for (i, physical) in devices.enumerated() where infos[i].unsupportedReason == nil {
            let available = deviceExtensions(physical)
            let missing = extensions.filter { !available.contains($0) }
            if !missing.isEmpty {
                infos[i].missingRequirement = "lacks \(missing.joined(separator: ", "))"
            } else if let queueFilter, DeviceCore.computeFamily(physical, accept: queueFilter) == nil {
                infos[i].missingRequirement = "has no compute queue that can serve this window"
            }
        }
        let index = try choose(infos, request: ProcessInfo.processInfo.environment["SPLAT_DEVICE"])
        return ComputeDevice(core: try DeviceCore(instance: instance, physical: devices[index], info: infos[index],
                                                  extraExtensions: extensions, queueFilter: queueFilter))
    }

    /// The physical device, queue and queue family the device runs on (for a
    /// caller that records its own Vulkan commands, such as presentation;
    /// submissions to `queue` must come from one thread at a time).
    public var physicalDevice: VkPhysicalDevice { core.physical }
    public var queue: VkQueue { core.queue }
    public var queueFamily: UInt32 { core.queueFamily }

    /// The index of the device to use among `infos`.
    public static func choose(_ infos: [DeviceInfo], request: String?) throws -> Int {
        if let request, !request.isEmpty {
            if let i = Int(request), infos.indices.contains(i) { return i }
            if let i = infos.firstIndex(where: { $0.name.lowercased().contains(request.lowercased()) }) { return i }
            throw ComputeError.deviceNotFound(request: request, available: infos.map(\.displayName))
        }
        let usable = infos.filter { $0.unsupportedReason == nil }
        if usable.isEmpty {
            let reasons = infos.map { "\($0.name): \($0.unsupportedReason ?? "")" }.joined(separator: "; ")
            throw ComputeError.noDevice(detail: "no device supports splat's compute core (\(reasons))")
        }
        let rank: [DeviceInfo.Kind: Int] = [.discrete: 0, .integrated: 1, .virtual: 2, .other: 3, .cpu: 4]
        let best = usable.min { (rank[$0.kind]!, $0.index) < (rank[$1.kind]!, $1.index) }!
        return best.index
    }

    init(core: DeviceCore) { self.core = core }

    deinit {
        _ = vkDeviceWaitIdle(core.handle)
        transferStream = nil
        staging = nil
        kernels.removeAll()
        // Every kernel this device made is in the cache now; keep it for next time.
        core.pipelineCache.save()
    }

    /// Validation messages produced since the last call (empty when validation is off).
    public func drainValidationMessages() -> [String] { instance.validationLog.drain() }

    /// Waits until the device has finished all submitted work.
    /// Bytes held by live buffers, and the number of device memory blocks
    /// they are carved from (sub-allocation keeps this small).
    public var memoryUsage: (bytes: Int, blocks: Int) { (core.memory.allocatedBytes, core.memory.blockCount) }

    public func waitIdle() throws {
        try check(vkDeviceWaitIdle(handle), "vkDeviceWaitIdle")
    }

    // MARK: Kernels

    /// A compute kernel, created once per (SPIR-V, specialisation) and reused.
    public func kernel(_ spirv: SPIRVBinary, bindings: [BufferAccess], pushConstantBytes: Int,
                       specialization: [UInt32] = [], requireFullSubgroups: Bool = false) throws -> Kernel {
        let key = KernelKey(name: spirv.name, specialization: specialization, full: requireFullSubgroups)
        if let existing = kernels[key] { return existing }
        let made = try Kernel(core: core, spirv: spirv, bindings: bindings, pushConstantBytes: pushConstantBytes,
                              specialization: specialization, requireFullSubgroups: requireFullSubgroups && fullSubgroups)
        kernels[key] = made
        return made
    }

    // MARK: Transfers

    /// Copies `bytes` into `buffer` at `offset`: a memcpy where the buffer is
    /// host-visible (zero-copy), else through a staging buffer and a copy command.
    public func upload(_ source: UnsafeRawBufferPointer, to buffer: GPUBuffer, offset: Int = 0) throws {
        guard source.count > 0 else { return }
        guard offset >= 0, offset + source.count <= buffer.length else {
            throw ComputeError.invalidArgument("upload of \(source.count) bytes at \(offset) overruns a buffer of \(buffer.length) bytes")
        }
        if let mapped = buffer.mapped, !stagingOnlyForTesting {
            (mapped + offset).copyMemory(from: source.baseAddress!, byteCount: source.count)
            return
        }
        let stage = try stagingBuffer(minimum: source.count)
        stage.mapped!.copyMemory(from: source.baseAddress!, byteCount: source.count)
        let stream = try transfer()
        stream.copy(from: stage, to: buffer, bytes: source.count, destinationOffset: offset)
        try stream.run()
    }

    /// Copies `destination.count` bytes from `buffer` at `offset`.
    public func download(_ buffer: GPUBuffer, offset: Int = 0, into destination: UnsafeMutableRawBufferPointer) throws {
        guard destination.count > 0 else { return }
        guard offset >= 0, offset + destination.count <= buffer.length else {
            throw ComputeError.invalidArgument("download of \(destination.count) bytes at \(offset) overruns a buffer of \(buffer.length) bytes")
        }
        if let mapped = buffer.mapped, !stagingOnlyForTesting {
            destination.baseAddress!.copyMemory(from: mapped + offset, byteCount: destination.count)
            return
        }
        let stage = try stagingBuffer(minimum: destination.count)
        let stream = try transfer()
        stream.copy(from: buffer, to: stage, bytes: destination.count, sourceOffset: offset)
        try stream.run()
        destination.baseAddress!.copyMemory(from: stage.mapped!, byteCount: destination.count)
    }

    private func stagingBuffer(minimum: Int) throws -> GPUBuffer {
        if let staging, staging.length >= minimum { return staging }
        staging = nil
        // Grown on need, to the next power of two so repeated growth is rare.
        var size = 1 << 20
        while size < minimum { size <<= 1 }
        let made = try GPUBuffer(device: self, length: size, placement: .hostReadback)
        staging = made
        return made
    }

    private func transfer() throws -> CommandStream {
        if let transferStream { transferStream.reset(); return transferStream }
        let made = try CommandStream(device: self)
        transferStream = made
        return made
    }
}

struct KernelKey: Hashable {
    var name: String
    var specialization: [UInt32]
    var full: Bool
}

/// The device's Vulkan objects, released when the last buffer, kernel or
/// stream that uses them is gone.
final class DeviceCore {
    let instance: VulkanInstance
    let info: DeviceInfo
    let physical: VkPhysicalDevice
    let handle: VkDevice
    let queue: VkQueue
    let queueFamily: UInt32
    let fullSubgroups: Bool
    let memory: MemoryAllocator
    let pipelineCache: PipelineCache

    /// The first queue family with compute that `accept` (when given) accepts.
    static func computeFamily(_ physical: VkPhysicalDevice, accept: ((VkPhysicalDevice, UInt32) -> Bool)?) -> Int? {
        var familyCount: UInt32 = 0
        vkGetPhysicalDeviceQueueFamilyProperties(physical, &familyCount, nil)
        var families = [VkQueueFamilyProperties](repeating: VkQueueFamilyProperties(), count: Int(familyCount))
        vkGetPhysicalDeviceQueueFamilyProperties(physical, &familyCount, &families)
        // Prefer a compute family that also does graphics: it is the "main" queue
        // with timestamps everywhere; dedicated compute queues are for overlap.
        let computeBit = VK_QUEUE_COMPUTE_BIT.rawValue
        return families.indices.first { families[$0].queueFlags & computeBit != 0 && (accept?(physical, UInt32($0)) ?? true) }
    }

    init(instance: VulkanInstance, physical: VkPhysicalDevice, info: DeviceInfo, extraExtensions: [String] = [],
         queueFilter: ((VkPhysicalDevice, UInt32) -> Bool)? = nil) throws {
        if let reason = info.unsupportedReason {
            throw ComputeError.noDevice(detail: "\(info.name) \(reason)")
        }
        self.instance = instance
        self.physical = physical
        self.info = info

        guard let family = Self.computeFamily(physical, accept: queueFilter) else {
            throw ComputeError.noDevice(detail: "\(info.name) has no compute queue" + (queueFilter == nil ? "" : " that can serve this window"))
        }
        queueFamily = UInt32(family)

        let available = deviceExtensions(physical)
        var extensions = ["VK_KHR_push_descriptor"] + extraExtensions
        let sizeControl = available.contains("VK_EXT_subgroup_size_control")
        if sizeControl { extensions.append("VK_EXT_subgroup_size_control") }
        if available.contains("VK_EXT_shader_atomic_float") { extensions.append("VK_EXT_shader_atomic_float") }
        if available.contains("VK_EXT_shader_atomic_float2") { extensions.append("VK_EXT_shader_atomic_float2") }

        // Features: query what exists and enable exactly that subset we use.
        var sizeFeatures = VkPhysicalDeviceSubgroupSizeControlFeatures()
        sizeFeatures.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES
        var atomicFeatures = VkPhysicalDeviceShaderAtomicFloatFeaturesEXT()
        atomicFeatures.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT
        var atomic2Features = VkPhysicalDeviceShaderAtomicFloat2FeaturesEXT()
        atomic2Features.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_2_FEATURES_EXT
        var v12 = VkPhysicalDeviceVulkan12Features()
        v12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES
        var storage16 = VkPhysicalDevice16BitStorageFeatures()
        storage16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES
        var features2 = VkPhysicalDeviceFeatures2()
        features2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2

        var device: VkDevice?
        var fullSubgroups = false
        let result: VkResult = withUnsafeMutablePointer(to: &sizeFeatures) { sf in
        withUnsafeMutablePointer(to: &atomicFeatures) { af in
        withUnsafeMutablePointer(to: &atomic2Features) { a2f in
        withUnsafeMutablePointer(to: &v12) { v12p in
        withUnsafeMutablePointer(to: &storage16) { s16 in
            v12p.pointee.pNext = UnsafeMutableRawPointer(s16)
            var head: UnsafeMutableRawPointer? = UnsafeMutableRawPointer(v12p)
            if sizeControl { sf.pointee.pNext = head; head = UnsafeMutableRawPointer(sf) }
            if extensions.contains("VK_EXT_shader_atomic_float") { af.pointee.pNext = head; head = UnsafeMutableRawPointer(af) }
            if extensions.contains("VK_EXT_shader_atomic_float2") { a2f.pointee.pNext = head; head = UnsafeMutableRawPointer(a2f) }
            features2.pNext = head
            vkGetPhysicalDeviceFeatures2(physical, &features2)
            fullSubgroups = sizeControl && sf.pointee.computeFullSubgroups != 0 && sf.pointee.subgroupSizeControl != 0

            // Keep only what splat uses; everything else off.
            var keep = VkPhysicalDeviceFeatures()
            keep.shaderInt64 = features2.features.shaderInt64
            features2.features = keep
            let v12Keep = (v12p.pointee.storageBuffer8BitAccess, v12p.pointee.shaderFloat16,
                           v12p.pointee.shaderInt8, v12p.pointee.hostQueryReset,
                           v12p.pointee.uniformAndStorageBuffer8BitAccess, v12p.pointee.scalarBlockLayout)
            let next = v12p.pointee.pNext
            v12p.pointee = VkPhysicalDeviceVulkan12Features()
            v12p.pointee.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES
            v12p.pointee.pNext = next
            (v12p.pointee.storageBuffer8BitAccess, v12p.pointee.shaderFloat16,
             v12p.pointee.shaderInt8, v12p.pointee.hostQueryReset,
             v12p.pointee.uniformAndStorageBuffer8BitAccess, v12p.pointee.scalarBlockLayout) = v12Keep
            // 16-bit storage (the MLPs' fp16 activations): only the storage-buffer access.
            let keep16 = s16.pointee.storageBuffer16BitAccess
            let next16 = s16.pointee.pNext
            s16.pointee = VkPhysicalDevice16BitStorageFeatures()
            s16.pointee.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES
            s16.pointee.pNext = next16
            s16.pointee.storageBuffer16BitAccess = keep16

            var priority: Float = 1
            var queueInfo = VkDeviceQueueCreateInfo()
            queueInfo.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO
            queueInfo.queueFamilyIndex = UInt32(family)
            queueInfo.queueCount = 1
            return withUnsafePointer(to: &priority) { pp in
                queueInfo.pQueuePriorities = pp
                return withUnsafePointer(to: &queueInfo) { qp in
                    withCStringArray(extensions) { extPtrs in
                        withUnsafePointer(to: &features2) { fp in
                            var info = VkDeviceCreateInfo()
                            info.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO
                            info.pNext = UnsafeRawPointer(fp)
                            info.queueCreateInfoCount = 1
                            info.pQueueCreateInfos = qp
                            info.enabledExtensionCount = UInt32(extensions.count)
                            info.ppEnabledExtensionNames = extPtrs
                            return vkCreateDevice(physical, &info, nil, &device)
                        }
                    }
                }
            }
        }}}}}
        try check(result, "vkCreateDevice(\(info.name))")
        guard let device else { throw ComputeError.vulkan(call: "vkCreateDevice", result: result.rawValue) }
        handle = device
        self.fullSubgroups = fullSubgroups

        var q: VkQueue?
        vkGetDeviceQueue(device, UInt32(family), 0, &q)
        guard let q else { throw ComputeError.vulkan(call: "vkGetDeviceQueue", result: 0) }
        queue = q
        memory = MemoryAllocator(device: device, physical: physical, info: info)
        pipelineCache = PipelineCache(device: device, info: info)
    }

    deinit {
        _ = vkDeviceWaitIdle(handle)
        pipelineCache.destroy()
        memory.destroyAll()
        vkDestroyDevice(handle, nil)
    }
}
