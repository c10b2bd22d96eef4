import CVulkan
import Foundation

/// The process's Vulkan instance. Entry points are process-global (see
/// CVulkan.h), so there is exactly one instance; it lives until exit.
public final class VulkanInstance {
    public let handle: VkInstance
    /// Whether VK_LAYER_KHRONOS_validation is active.
    public let validationEnabled: Bool
    /// Every message the validation layer printed (warnings and errors).
    public let validationLog = ValidationLog()
    private var messenger: VkDebugUtilsMessengerEXT?

    private static let lock = NSLock()
    private static var instance: VulkanInstance?
    private static var requestedValidation: Bool?
    private static var requestedExtensions: [String] = []

    /// Asks for validation layers in the instance created next (tests do this).
    /// `SPLAT_VALIDATION=1` asks for them too.
    public static func requestValidation(_ on: Bool) {
        lock.lock(); defer { lock.unlock() }
        requestedValidation = on
    }

    /// Asks for instance extensions in the instance created next (a window
    /// system's surface extensions, for the viewer). The compute core itself
    /// needs none; an extension the loader lacks fails `shared()` with a
    /// message naming it. Returns false when the instance already exists
    /// without one of them.
    @discardableResult
    public static func requestExtensions(_ names: [String]) -> Bool {
        lock.lock(); defer { lock.unlock() }
        for name in names where !requestedExtensions.contains(name) { requestedExtensions.append(name) }
        guard let instance else { return true }
        return names.allSatisfy { instance.enabledExtensions.contains($0) }
    }

    /// The instance extensions enabled at creation.
    public let enabledExtensions: [String]

    /// The process's instance, created on first use.
    public static func shared() throws -> VulkanInstance {
        lock.lock(); defer { lock.unlock() }
        if let instance { return instance }
        let env = ProcessInfo.processInfo.environment
        let validation = requestedValidation ?? (env["SPLAT_VALIDATION"].map { $0 != "0" && !$0.isEmpty } ?? false)
        let made = try VulkanInstance(validation: validation, loaderPath: env["SPLAT_VULKAN_LIBRARY"],
                                      extensions: requestedExtensions)
        instance = made
        return made
    }

    private init(validation: Bool, loaderPath: String?, extensions requested: [String]) throws {
        var message = [CChar](repeating: 0, count: 512)
        if splatVulkanLoad(loaderPath, &message, message.count) != 0 {
            throw ComputeError.loaderMissing(detail: String(cString: message))
        }
        var version: UInt32 = (1 << 22) | (2 << 12)
        if let enumerate = vkEnumerateInstanceVersion { _ = enumerate(&version) }
        let major = version >> 22, minor = (version >> 12) & 0x3ff
        if major == 1 && minor < 2 {
            throw ComputeError.noDevice(detail: "the Vulkan loader is version \(versionString(version)); splat needs Vulkan 1.2")
        }

        let layers = Self.instanceLayers()
        let extensions = Self.instanceExtensions()
        let useValidation = validation && layers.contains("VK_LAYER_KHRONOS_validation")
        if validation && !useValidation {
            FileHandle.standardError.write(Data("splat: validation requested but VK_LAYER_KHRONOS_validation is not installed (apt-get install vulkan-validationlayers)\n".utf8))
        }
        var enabledLayers: [String] = useValidation ? ["VK_LAYER_KHRONOS_validation"] : []
        var enabledExtensions: [String] = []
        if useValidation && extensions.contains("VK_EXT_debug_utils") { enabledExtensions.append("VK_EXT_debug_utils") }
        let missing = requested.filter { !extensions.contains($0) }
        if !missing.isEmpty {
            throw ComputeError.noDevice(detail: "the Vulkan loader lacks the instance extension(s) \(missing.joined(separator: ", "))")
        }
        enabledExtensions += requested.filter { !enabledExtensions.contains($0) }
        if !useValidation { enabledLayers.removeAll() }

        var app = VkApplicationInfo()
        app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO
        app.apiVersion = (1 << 22) | (3 << 12)
        if major == 1 && minor < 3 { app.apiVersion = (1 << 22) | (2 << 12) }

        var created: VkInstance?
        let result: VkResult = "splat".withCString { appName in
            app.pApplicationName = appName
            app.pEngineName = appName
            return withCStringArray(enabledLayers) { layerPtrs in
                withCStringArray(enabledExtensions) { extPtrs in
                    withUnsafePointer(to: &app) { appPtr in
                        var info = VkInstanceCreateInfo()
                        info.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO
                        info.pApplicationInfo = appPtr
                        info.enabledLayerCount = UInt32(enabledLayers.count)
                        info.ppEnabledLayerNames = layerPtrs
                        info.enabledExtensionCount = UInt32(enabledExtensions.count)
                        info.ppEnabledExtensionNames = extPtrs
                        return vkCreateInstance(&info, nil, &created)
                    }
                }
            }
        }
        if result == VK_ERROR_INCOMPATIBLE_DRIVER {
            throw ComputeError.noDevice(detail: "vkCreateInstance: no compatible driver")
        }
        try check(result, "vkCreateInstance")
        guard let created else { throw ComputeError.vulkan(call: "vkCreateInstance", result: result.rawValue) }
        handle = created
        self.enabledExtensions = enabledExtensions
        splatVulkanLoadInstance(created)
        validationEnabled = useValidation

        if useValidation, enabledExtensions.contains("VK_EXT_debug_utils"), let create = vkCreateDebugUtilsMessengerEXT {
            var info = VkDebugUtilsMessengerCreateInfoEXT()
            info.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT
            info.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT.rawValue
                | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT.rawValue
            info.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT.rawValue
                | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT.rawValue
                | VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT.rawValue
            info.pfnUserCallback = validationCallback
            info.pUserData = Unmanaged.passUnretained(validationLog).toOpaque()
            var m: VkDebugUtilsMessengerEXT?
            try check(create(created, &info, nil, &m), "vkCreateDebugUtilsMessengerEXT")
            messenger = m
        }
    }

    /// Physical devices in the loader's order.
    public func physicalDevices() throws -> [VkPhysicalDevice] {
        var count: UInt32 = 0
        try check(vkEnumeratePhysicalDevices(handle, &count, nil), "vkEnumeratePhysicalDevices")
        var devices = [VkPhysicalDevice?](repeating: nil, count: Int(count))
        try check(vkEnumeratePhysicalDevices(handle, &count, &devices), "vkEnumeratePhysicalDevices")
        return devices.prefix(Int(count)).compactMap { $0 }
    }

    /// Every device the loader reports, described.
    public func devices() throws -> [DeviceInfo] {
        try physicalDevices().enumerated().map { queryDeviceInfo($0.element, index: $0.offset) }
    }

    static func instanceLayers() -> Set<String> {
        guard let enumerate = vkEnumerateInstanceLayerProperties else { return [] }
        var count: UInt32 = 0
        _ = enumerate(&count, nil)
        var props = [VkLayerProperties](repeating: VkLayerProperties(), count: Int(count))
        _ = enumerate(&count, &props)
        return Set(props.prefix(Int(count)).map { string(fromTuple: $0.layerName) })
    }

    static func instanceExtensions() -> Set<String> {
        guard let enumerate = vkEnumerateInstanceExtensionProperties else { return [] }
        var count: UInt32 = 0
        _ = enumerate(nil, &count, nil)
        var props = [VkExtensionProperties](repeating: VkExtensionProperties(), count: Int(count))
        _ = enumerate(nil, &count, &props)
        return Set(props.prefix(Int(count)).map { string(fromTuple: $0.extensionName) })
    }
}

/// Messages from the validation layer. Tests fail when it is not empty.
public final class ValidationLog {
    private let lock = NSLock()
    private var entries: [String] = []

    public var messages: [String] { lock.lock(); defer { lock.unlock() }; return entries }

    /// Returns and forgets the messages gathered so far.
    public func drain() -> [String] {
        lock.lock(); defer { lock.unlock() }
        let out = entries
        entries.removeAll()
        return out
    }

    func append(_ message: String) {
        lock.lock(); entries.append(message); lock.unlock()
        FileHandle.standardError.write(Data("vulkan validation: \(message)\n".utf8))
    }
}

private let validationCallback: PFN_vkDebugUtilsMessengerCallbackEXT = { _, _, data, user in
    guard let user else { return VkBool32(VK_FALSE) }
    let log = Unmanaged<ValidationLog>.fromOpaque(user).takeUnretainedValue()
    let text = data?.pointee.pMessage.map { String(cString: $0) } ?? "(no message)"
    log.append(text)
    return VkBool32(VK_FALSE)
}

/// Calls `body` with a C array of C strings that lives for the call.
func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
    let duplicated = strings.map { strdup($0) }
    defer { duplicated.forEach { free($0) } }
    let pointers: [UnsafePointer<CChar>?] = duplicated.map { $0.map { UnsafePointer($0) } }
    return pointers.withUnsafeBufferPointer { body(strings.isEmpty ? nil : $0.baseAddress) }
}
