import Foundation
import CVulkan

/// An error from the Vulkan compute core. Every failing Vulkan call becomes one
/// of these, naming the call, so that a user sees what failed rather than a crash.
public enum ComputeError: Error, CustomStringConvertible, Equatable {
    /// The Vulkan loader (libvulkan.so.1) could not be opened.
    case loaderMissing(detail: String)
    /// The loader works but reports no usable device.
    case noDevice(detail: String)
    /// `SPLAT_DEVICE` (or a requested device) names no device.
    case deviceNotFound(request: String, available: [String])
    /// A Vulkan call failed.
    case vulkan(call: String, result: Int32)
    /// The device was lost (driver reset, hang, crash); its results are gone.
    case deviceLost(call: String)
    /// Device or host memory ran out.
    case outOfMemory(call: String, bytes: Int?, device: Bool)
    /// A request exceeds a limit the device reports.
    case limitExceeded(limit: String, requested: Int, maximum: Int)
    /// A request that can never be valid (sizes, types).
    case invalidArgument(String)
    /// Submitted work did not finish in time.
    case timeout(seconds: Double)

    public var description: String {
        switch self {
        case let .loaderMissing(detail):
            return "the Vulkan loader could not be opened (\(detail)). Install it with: apt-get install libvulkan1 mesa-vulkan-drivers (Mesa's CPU driver lavapipe works on any machine)"
        case let .noDevice(detail):
            return "no Vulkan device is available (\(detail)). Install a driver, e.g. apt-get install mesa-vulkan-drivers for the CPU driver lavapipe"
        case let .deviceNotFound(request, available):
            let list = available.enumerated().map { "  \($0.offset): \($0.element)" }.joined(separator: "\n")
            return "SPLAT_DEVICE=\(request) names no Vulkan device. Devices:\n\(list)"
        case let .vulkan(call, result):
            return "\(call) failed: \(vulkanResultName(result))"
        case let .deviceLost(call):
            return "the Vulkan device was lost during \(call) (driver reset or GPU fault); results are unavailable"
        case let .outOfMemory(call, bytes, device):
            let size = bytes.map { " allocating \(formatBytes($0))" } ?? ""
            return "out of \(device ? "device" : "host") memory in \(call)\(size)"
        case let .limitExceeded(limit, requested, maximum):
            return "request of \(requested) exceeds the device limit \(limit) = \(maximum)"
        case let .invalidArgument(message):
            return message
        case let .timeout(seconds):
            return "GPU work did not finish within \(seconds) s"
        }
    }
}

/// Throws a `ComputeError` naming `call` when `result` is not VK_SUCCESS.
@inline(__always)
func check(_ result: VkResult, _ call: @autoclosure () -> String, bytes: Int? = nil) throws {
    if result == VK_SUCCESS { return }
    throw error(for: result, call: call(), bytes: bytes)
}

func error(for result: VkResult, call: String, bytes: Int? = nil) -> ComputeError {
    switch result {
    case VK_ERROR_DEVICE_LOST: return .deviceLost(call: call)
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return .outOfMemory(call: call, bytes: bytes, device: true)
    case VK_ERROR_OUT_OF_HOST_MEMORY: return .outOfMemory(call: call, bytes: bytes, device: false)
    case VK_TIMEOUT: return .timeout(seconds: 0)
    default: return .vulkan(call: call, result: result.rawValue)
    }
}

func vulkanResultName(_ raw: Int32) -> String {
    switch VkResult(rawValue: raw) {
    case VK_NOT_READY: return "VK_NOT_READY"
    case VK_TIMEOUT: return "VK_TIMEOUT"
    case VK_INCOMPLETE: return "VK_INCOMPLETE"
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY"
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY"
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED"
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST"
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED"
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT"
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT"
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT"
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER"
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS"
    case VK_ERROR_FORMAT_NOT_SUPPORTED: return "VK_ERROR_FORMAT_NOT_SUPPORTED"
    case VK_ERROR_FRAGMENTED_POOL: return "VK_ERROR_FRAGMENTED_POOL"
    case VK_ERROR_OUT_OF_POOL_MEMORY: return "VK_ERROR_OUT_OF_POOL_MEMORY"
    default: return "VkResult \(raw)"
    }
}

/// "1.5 GiB", "64.0 MiB", "512 B".
public func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(bytes) B" : "\(String(format: "%.1f", value)) \(units[unit])"
}
