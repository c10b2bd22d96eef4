import CVulkan
import Foundation

/// What a Vulkan physical device is and what it can do: everything splat's
/// kernels size themselves by (subgroup size, shared memory, workgroup limits)
/// is queried here, never hard-coded.
public struct DeviceInfo: Codable, Equatable {
    public enum Kind: String, Codable { case discrete, integrated, virtual, cpu, other }

    public var index: Int
    public var name: String
    public var kind: Kind
    public var vendorID: UInt32
    public var deviceID: UInt32
    public var apiVersion: String
    public var driverName: String
    public var driverInfo: String
    /// Default subgroup size, and the range a pipeline may request.
    public var subgroupSize: Int
    public var minSubgroupSize: Int
    public var maxSubgroupSize: Int
    /// Subgroup operations in compute shaders: arithmetic and ballot are required.
    public var subgroupArithmetic: Bool
    public var subgroupBallot: Bool
    public var subgroupShuffle: Bool
    public var maxSharedMemoryBytes: Int
    public var maxWorkgroupInvocations: Int
    public var maxWorkgroupSize: [Int]
    public var maxWorkgroupCount: [Int]
    public var maxPushConstantsBytes: Int
    public var maxStorageBufferRange: Int
    public var maxMemoryAllocationSize: Int
    public var minStorageBufferOffsetAlignment: Int
    public var timestampPeriodNs: Double
    public var timestampsSupported: Bool
    public var float32AtomicAdd: Bool
    public var float32SharedAtomicAdd: Bool
    public var float32AtomicMinMax: Bool
    public var shaderInt64: Bool
    /// 16-bit loads and stores in storage buffers (storageBuffer16BitAccess): fp16 storage.
    public var storage16Bit: Bool = false
    public var pushDescriptors: Bool
    public var heaps: [Heap]
    /// What a caller's extra requirement (a device extension, a queue that
    /// can present) found missing; nil when there is none or all are met.
    public var missingRequirement: String? = nil

    public struct Heap: Codable, Equatable {
        public var bytes: Int
        public var deviceLocal: Bool
    }

    /// "llvmpipe (LLVM 15.0.6, 256 bits) [llvmpipe, Mesa 25.0.7]"
    public var displayName: String { "\(name) [\(driverName)\(driverInfo.isEmpty ? "" : ", " + driverInfo)]" }

    /// Whether the compute core can run on this device.
    public var unsupportedReason: String? {
        if let missingRequirement { return missingRequirement }
        if !pushDescriptors { return "lacks VK_KHR_push_descriptor" }
        if !subgroupArithmetic || !subgroupBallot || !subgroupShuffle {
            return "lacks subgroup arithmetic, ballot or shuffle in compute shaders"
        }
        return nil
    }
}

func string<T>(fromTuple tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in
        let bytes = raw.prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }
}

func versionString(_ v: UInt32) -> String {
    "\(v >> 22).\((v >> 12) & 0x3ff).\(v & 0xfff)"
}

func deviceExtensions(_ physical: VkPhysicalDevice) -> Set<String> {
    var count: UInt32 = 0
    _ = vkEnumerateDeviceExtensionProperties(physical, nil, &count, nil)
    var props = [VkExtensionProperties](repeating: VkExtensionProperties(), count: Int(count))
    _ = vkEnumerateDeviceExtensionProperties(physical, nil, &count, &props)
    return Set(props.prefix(Int(count)).map { string(fromTuple: $0.extensionName) })
}

func queryDeviceInfo(_ physical: VkPhysicalDevice, index: Int) -> DeviceInfo {
    let extensions = deviceExtensions(physical)

    var driver = VkPhysicalDeviceDriverProperties()
    driver.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES
    var subgroup = VkPhysicalDeviceSubgroupProperties()
    subgroup.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES
    var sizeControl = VkPhysicalDeviceSubgroupSizeControlProperties()
    sizeControl.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES
    var maintenance3 = VkPhysicalDeviceMaintenance3Properties()
    maintenance3.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES
    var props2 = VkPhysicalDeviceProperties2()
    props2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2

    let hasSizeControl = extensions.contains("VK_EXT_subgroup_size_control")
    withUnsafeMutablePointer(to: &driver) { driverPtr in
    withUnsafeMutablePointer(to: &subgroup) { subgroupPtr in
    withUnsafeMutablePointer(to: &sizeControl) { sizePtr in
    withUnsafeMutablePointer(to: &maintenance3) { m3Ptr in
        subgroupPtr.pointee.pNext = UnsafeMutableRawPointer(driverPtr)
        m3Ptr.pointee.pNext = UnsafeMutableRawPointer(subgroupPtr)
        if hasSizeControl {
            sizePtr.pointee.pNext = UnsafeMutableRawPointer(m3Ptr)
            props2.pNext = UnsafeMutableRawPointer(sizePtr)
        } else {
            props2.pNext = UnsafeMutableRawPointer(m3Ptr)
        }
        vkGetPhysicalDeviceProperties2(physical, &props2)
    }}}}
    let p = props2.properties
    let limits = p.limits

    var atomics = VkPhysicalDeviceShaderAtomicFloatFeaturesEXT()
    atomics.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT
    var atomics2 = VkPhysicalDeviceShaderAtomicFloat2FeaturesEXT()
    atomics2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_2_FEATURES_EXT
    var storage16 = VkPhysicalDevice16BitStorageFeatures()
    storage16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES
    var features2 = VkPhysicalDeviceFeatures2()
    features2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2
    let hasAtomicFloat = extensions.contains("VK_EXT_shader_atomic_float")
    let hasAtomicFloat2 = extensions.contains("VK_EXT_shader_atomic_float2")
    withUnsafeMutablePointer(to: &atomics) { a in
    withUnsafeMutablePointer(to: &atomics2) { a2 in
    withUnsafeMutablePointer(to: &storage16) { s16 in
        var head: UnsafeMutableRawPointer? = UnsafeMutableRawPointer(s16)
        if hasAtomicFloat2 { a2.pointee.pNext = head; head = UnsafeMutableRawPointer(a2) }
        if hasAtomicFloat { a.pointee.pNext = head; head = UnsafeMutableRawPointer(a) }
        features2.pNext = head
        vkGetPhysicalDeviceFeatures2(physical, &features2)
    }}}

    var memory = VkPhysicalDeviceMemoryProperties()
    vkGetPhysicalDeviceMemoryProperties(physical, &memory)
    let heaps: [DeviceInfo.Heap] = withUnsafeBytes(of: memory.memoryHeaps) { raw in
        let all = raw.bindMemory(to: VkMemoryHeap.self)
        return (0..<Int(memory.memoryHeapCount)).map {
            DeviceInfo.Heap(bytes: Int(all[$0].size),
                            deviceLocal: all[$0].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT.rawValue != 0)
        }
    }

    var queueCount: UInt32 = 0
    vkGetPhysicalDeviceQueueFamilyProperties(physical, &queueCount, nil)
    var families = [VkQueueFamilyProperties](repeating: VkQueueFamilyProperties(), count: Int(queueCount))
    vkGetPhysicalDeviceQueueFamilyProperties(physical, &queueCount, &families)
    let computeFamily = families.first { $0.queueFlags & VK_QUEUE_COMPUTE_BIT.rawValue != 0 }

    let kind: DeviceInfo.Kind
    switch p.deviceType {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: kind = .discrete
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: kind = .integrated
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: kind = .virtual
    case VK_PHYSICAL_DEVICE_TYPE_CPU: kind = .cpu
    default: kind = .other
    }
    let ops = subgroup.supportedOperations
    let computeStage = subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT.rawValue != 0
    let wgSize = [Int(limits.maxComputeWorkGroupSize.0), Int(limits.maxComputeWorkGroupSize.1), Int(limits.maxComputeWorkGroupSize.2)]
    let wgCount = [Int(limits.maxComputeWorkGroupCount.0), Int(limits.maxComputeWorkGroupCount.1), Int(limits.maxComputeWorkGroupCount.2)]

    return DeviceInfo(
        index: index,
        name: string(fromTuple: p.deviceName),
        kind: kind,
        vendorID: p.vendorID,
        deviceID: p.deviceID,
        apiVersion: versionString(p.apiVersion),
        driverName: string(fromTuple: driver.driverName),
        driverInfo: string(fromTuple: driver.driverInfo),
        subgroupSize: Int(subgroup.subgroupSize),
        minSubgroupSize: hasSizeControl ? Int(sizeControl.minSubgroupSize) : Int(subgroup.subgroupSize),
        maxSubgroupSize: hasSizeControl ? Int(sizeControl.maxSubgroupSize) : Int(subgroup.subgroupSize),
        subgroupArithmetic: computeStage && ops & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT.rawValue != 0,
        subgroupBallot: computeStage && ops & VK_SUBGROUP_FEATURE_BALLOT_BIT.rawValue != 0,
        subgroupShuffle: computeStage && ops & VK_SUBGROUP_FEATURE_SHUFFLE_BIT.rawValue != 0,
        maxSharedMemoryBytes: Int(limits.maxComputeSharedMemorySize),
        maxWorkgroupInvocations: Int(limits.maxComputeWorkGroupInvocations),
        maxWorkgroupSize: wgSize,
        maxWorkgroupCount: wgCount,
        maxPushConstantsBytes: Int(limits.maxPushConstantsSize),
        maxStorageBufferRange: Int(limits.maxStorageBufferRange),
        maxMemoryAllocationSize: Int(maintenance3.maxMemoryAllocationSize),
        minStorageBufferOffsetAlignment: Int(limits.minStorageBufferOffsetAlignment),
        timestampPeriodNs: Double(limits.timestampPeriod),
        timestampsSupported: (computeFamily?.timestampValidBits ?? 0) > 0,
        float32AtomicAdd: hasAtomicFloat && atomics.shaderBufferFloat32AtomicAdd != 0,
        float32SharedAtomicAdd: hasAtomicFloat && atomics.shaderSharedFloat32AtomicAdd != 0,
        float32AtomicMinMax: hasAtomicFloat2 && atomics2.shaderBufferFloat32AtomicMinMax != 0,
        shaderInt64: features2.features.shaderInt64 != 0,
        storage16Bit: storage16.storageBuffer16BitAccess != 0,
        pushDescriptors: extensions.contains("VK_KHR_push_descriptor"),
        heaps: heaps)
}
