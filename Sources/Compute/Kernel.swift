import CVulkan
import Foundation

/// SPIR-V words embedded in the binary at build time (see Plugins/).
public struct SPIRVBinary {
    public let name: String
    public let words: [UInt32]

    public init(name: String, words: [UInt32]) {
        self.name = name
        self.words = words
    }

    /// Decodes the base64 text the build plugin embeds.
    public init(name: String, base64: String) {
        guard let data = Data(base64Encoded: base64), data.count % 4 == 0 else {
            preconditionFailure("embedded SPIR-V for \(name) is corrupt")
        }
        self.name = name
        words = data.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }
    }
}

/// How a kernel uses one of its storage-buffer bindings. The command stream
/// uses it to insert exactly the barriers that read/write hazards need.
public enum BufferAccess {
    case read, write, readWrite
    /// A uniform buffer (small, read-only, per-frame values such as a camera).
    case uniform
    var reads: Bool { self != .write }
    var writes: Bool { self == .write || self == .readWrite }
    var descriptorType: VkDescriptorType { self == .uniform ? VK_DESCRIPTOR_TYPE_UNIFORM_BUFFER : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER }
}

/// A compute pipeline: SPIR-V, one push-descriptor set of storage (or uniform) buffers at
/// bindings 0..<n (set 0), typed push constants, and specialisation constants
/// 0..<m (by convention: 0 workgroup size, 1 subgroup size; see
/// Shaders/common/layouts.h).
///
/// Kernels dispatched with a 1D group count must derive their group index with
/// `splatWorkgroupIndex()` (Shaders/common/dispatch.glsl) and bound-check it:
/// counts above the device's per-dimension limit are split into a 2D grid.
public final class Kernel {
    let core: DeviceCore
    public let name: String
    public let bindings: [BufferAccess]
    public let pushConstantBytes: Int
    public let specialization: [UInt32]
    let pipeline: VkPipeline
    let layout: VkPipelineLayout
    let setLayout: VkDescriptorSetLayout

    init(core: DeviceCore, spirv: SPIRVBinary, bindings: [BufferAccess], pushConstantBytes: Int,
         specialization: [UInt32], requireFullSubgroups: Bool) throws {
        self.core = core
        name = spirv.name
        self.bindings = bindings
        self.pushConstantBytes = pushConstantBytes
        self.specialization = specialization
        let device = core.handle
        if pushConstantBytes > core.info.maxPushConstantsBytes {
            throw ComputeError.limitExceeded(limit: "maxPushConstantsSize (kernel \(spirv.name))",
                                             requested: pushConstantBytes, maximum: core.info.maxPushConstantsBytes)
        }

        var layoutBindings = (0..<bindings.count).map { i -> VkDescriptorSetLayoutBinding in
            var b = VkDescriptorSetLayoutBinding()
            b.binding = UInt32(i)
            b.descriptorType = bindings[i].descriptorType
            b.descriptorCount = 1
            b.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT.rawValue
            return b
        }
        var setInfo = VkDescriptorSetLayoutCreateInfo()
        setInfo.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO
        setInfo.flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR.rawValue
        setInfo.bindingCount = UInt32(bindings.count)
        var setLayout: VkDescriptorSetLayout?
        try layoutBindings.withUnsafeMutableBufferPointer { ptr in
            setInfo.pBindings = UnsafePointer(ptr.baseAddress)
            try check(vkCreateDescriptorSetLayout(device, &setInfo, nil, &setLayout), "vkCreateDescriptorSetLayout(\(spirv.name))")
        }
        guard let setLayout else { throw ComputeError.vulkan(call: "vkCreateDescriptorSetLayout", result: 0) }

        var range = VkPushConstantRange()
        range.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT.rawValue
        range.offset = 0
        range.size = UInt32(pushConstantBytes)
        var layoutInfo = VkPipelineLayoutCreateInfo()
        layoutInfo.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO
        var pipelineLayout: VkPipelineLayout?
        var setLayoutOptional: VkDescriptorSetLayout? = setLayout
        let layoutResult = withUnsafePointer(to: &setLayoutOptional) { setPtr in
            withUnsafePointer(to: &range) { rangePtr in
                layoutInfo.setLayoutCount = 1
                layoutInfo.pSetLayouts = setPtr
                layoutInfo.pushConstantRangeCount = pushConstantBytes > 0 ? 1 : 0
                layoutInfo.pPushConstantRanges = pushConstantBytes > 0 ? rangePtr : nil
                return vkCreatePipelineLayout(device, &layoutInfo, nil, &pipelineLayout)
            }
        }
        guard layoutResult == VK_SUCCESS, let pipelineLayout else {
            vkDestroyDescriptorSetLayout(device, setLayout, nil)
            throw Compute.error(for: layoutResult, call: "vkCreatePipelineLayout(\(spirv.name))")
        }

        var moduleInfo = VkShaderModuleCreateInfo()
        moduleInfo.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO
        moduleInfo.codeSize = spirv.words.count * 4
        var module: VkShaderModule?
        let moduleResult = spirv.words.withUnsafeBufferPointer { words in
            moduleInfo.pCode = words.baseAddress
            return vkCreateShaderModule(device, &moduleInfo, nil, &module)
        }
        guard moduleResult == VK_SUCCESS, let module else {
            vkDestroyPipelineLayout(device, pipelineLayout, nil)
            vkDestroyDescriptorSetLayout(device, setLayout, nil)
            throw Compute.error(for: moduleResult, call: "vkCreateShaderModule(\(spirv.name))")
        }
        defer { vkDestroyShaderModule(device, module, nil) }

        var entries = specialization.indices.map { i -> VkSpecializationMapEntry in
            VkSpecializationMapEntry(constantID: UInt32(i), offset: UInt32(i * 4), size: 4)
        }
        var values = specialization
        var pipeline: VkPipeline?
        let pipelineResult: VkResult = entries.withUnsafeMutableBufferPointer { entryPtr in
            values.withUnsafeMutableBufferPointer { valuePtr in
                var spec = VkSpecializationInfo()
                spec.mapEntryCount = UInt32(specialization.count)
                spec.pMapEntries = UnsafePointer(entryPtr.baseAddress)
                spec.dataSize = specialization.count * 4
                spec.pData = UnsafeRawPointer(valuePtr.baseAddress)
                return withUnsafePointer(to: &spec) { specPtr in
                    "main".withCString { entry in
                        var stage = VkPipelineShaderStageCreateInfo()
                        stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO
                        stage.stage = VK_SHADER_STAGE_COMPUTE_BIT
                        stage.module = module
                        stage.pName = entry
                        stage.pSpecializationInfo = specialization.isEmpty ? nil : specPtr
                        if requireFullSubgroups {
                            stage.flags = VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT.rawValue
                        }
                        var info = VkComputePipelineCreateInfo()
                        info.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO
                        info.stage = stage
                        info.layout = pipelineLayout
                        return vkCreateComputePipelines(device, core.pipelineCache.handle, 1, &info, nil, &pipeline)
                    }
                }
            }
        }
        guard pipelineResult == VK_SUCCESS, let pipeline else {
            vkDestroyPipelineLayout(device, pipelineLayout, nil)
            vkDestroyDescriptorSetLayout(device, setLayout, nil)
            throw Compute.error(for: pipelineResult, call: "vkCreateComputePipelines(\(spirv.name))")
        }
        self.pipeline = pipeline
        self.layout = pipelineLayout
        self.setLayout = setLayout
    }

    deinit {
        vkDestroyPipeline(core.handle, pipeline, nil)
        vkDestroyPipelineLayout(core.handle, layout, nil)
        vkDestroyDescriptorSetLayout(core.handle, setLayout, nil)
    }
}

/// The on-disk Vulkan pipeline cache: shader compilation is slow on some
/// drivers (lavapipe's LLVM especially), and the cache makes second runs start fast.
/// Stored under `$XDG_CACHE_HOME/splat/pipelines/` (or `~/.cache/...`); the file
/// name carries the device and driver so a driver update starts a new cache.
/// `SPLAT_PIPELINE_CACHE=0` disables it.
final class PipelineCache {
    let device: VkDevice
    let handle: VkPipelineCache?
    let path: String?

    init(device: VkDevice, info: DeviceInfo) {
        self.device = device
        let env = ProcessInfo.processInfo.environment
        var path: String? = nil
        if env["SPLAT_PIPELINE_CACHE"] != "0" {
            let base = env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
                ?? (env["HOME"].map { $0 + "/.cache" } ?? NSTemporaryDirectory())
            let tag = "\(info.name)-\(info.driverName)-\(info.driverInfo)-\(String(info.vendorID, radix: 16))-\(String(info.deviceID, radix: 16))"
            let safe = String(tag.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" })
            path = "\(base)/splat/pipelines/\(safe).bin"
        }
        self.path = path
        let initial = path.flatMap { FileManager.default.contents(atPath: $0) } ?? Data()
        var info = VkPipelineCacheCreateInfo()
        info.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO
        var cache: VkPipelineCache?
        var result = initial.withUnsafeBytes { raw -> VkResult in
            info.initialDataSize = raw.count
            info.pInitialData = raw.baseAddress
            return vkCreatePipelineCache(device, &info, nil, &cache)
        }
        if result != VK_SUCCESS {
            // A corrupt or foreign cache file: start empty.
            info.initialDataSize = 0
            info.pInitialData = nil
            result = vkCreatePipelineCache(device, &info, nil, &cache)
        }
        handle = result == VK_SUCCESS ? cache : nil
    }

    /// Writes the cache to disk (temporary name, then rename).
    func save() {
        guard let handle, let path else { return }
        var size = 0
        guard vkGetPipelineCacheData(device, handle, &size, nil) == VK_SUCCESS, size > 0 else { return }
        var data = Data(count: size)
        let ok = data.withUnsafeMutableBytes { vkGetPipelineCacheData(device, handle, &size, $0.baseAddress) == VK_SUCCESS }
        guard ok else { return }
        let url = URL(fileURLWithPath: path)
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        do {
            try data.prefix(size).write(to: temporary)
            if rename(temporary.path, url.path) != 0 { try? FileManager.default.removeItem(at: temporary) }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
        }
    }

    func destroy() {
        if let handle { vkDestroyPipelineCache(device, handle, nil) }
    }
}
