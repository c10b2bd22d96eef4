import CGLFW
import CVulkan
import Foundation

/// GLFW 3, opened at run time (dlopen) so that `splat` starts on machines
/// without X11 or GLFW (docs/conventions.md); only `splat view` and
/// `splat train --view` load it. Types and constants come from CGLFW's
/// header; every function is resolved here by name.
public final class GLFW {
    public enum Failure: Error, CustomStringConvertible {
        case libraryMissing(String)
        case noDisplay
        case initFailed(String)
        case noVulkan
        case window(String)

        public var description: String {
            switch self {
            case let .libraryMissing(detail):
                return "splat view needs GLFW 3 (Debian/Ubuntu: apt-get install libglfw3): \(detail). Without a window, use `splat render`."
            case .noDisplay:
                return "no display: DISPLAY and WAYLAND_DISPLAY are unset. `splat view` needs a window; use `splat render` to write frames headless (or run under xvfb-run)."
            case let .initFailed(detail):
                return "GLFW could not start (\(detail)). Without a usable display, use `splat render`."
            case .noVulkan:
                return "GLFW reports no Vulkan support for windows on this display; use `splat render`."
            case let .window(detail):
                return "could not open a window: \(detail)"
            }
        }
    }

    typealias InitFn = @convention(c) () -> Int32
    typealias VoidFn = @convention(c) () -> Void
    typealias HintFn = @convention(c) (Int32, Int32) -> Void
    typealias CreateWindowFn = @convention(c) (Int32, Int32, UnsafePointer<CChar>?, OpaquePointer?, OpaquePointer?) -> OpaquePointer?
    typealias WindowFn = @convention(c) (OpaquePointer?) -> Void
    typealias WindowIntFn = @convention(c) (OpaquePointer?) -> Int32
    typealias WindowSetIntFn = @convention(c) (OpaquePointer?, Int32) -> Void
    typealias WindowSizeFn = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int32>?) -> Void
    typealias CursorFn = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Double>?, UnsafeMutablePointer<Double>?) -> Void
    typealias TitleFn = @convention(c) (OpaquePointer?, UnsafePointer<CChar>?) -> Void
    typealias ExtensionsFn = @convention(c) (UnsafeMutablePointer<UInt32>?) -> UnsafeMutablePointer<UnsafePointer<CChar>?>?
    typealias SurfaceFn = @convention(c) (VkInstance?, OpaquePointer?, UnsafeRawPointer?, UnsafeMutablePointer<VkSurfaceKHR?>?) -> VkResult
    typealias ButtonFn = @convention(c) (OpaquePointer?, Int32) -> Int32
    public typealias ScrollCallback = @convention(c) (OpaquePointer?, Double, Double) -> Void
    typealias SetScrollFn = @convention(c) (OpaquePointer?, ScrollCallback?) -> ScrollCallback?
    typealias ErrorFn = @convention(c) (UnsafeMutablePointer<UnsafePointer<CChar>?>?) -> Int32
    typealias WaitTimeoutFn = @convention(c) (Double) -> Void
    typealias AttribFn = @convention(c) (OpaquePointer?, Int32) -> Int32
    typealias ScaleFn = @convention(c) (OpaquePointer?, UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?) -> Void

    let handle: UnsafeMutableRawPointer
    let initialize: InitFn
    let terminate: VoidFn
    let windowHint: HintFn
    let createWindow: CreateWindowFn
    let destroyWindow: WindowFn
    let windowShouldClose: WindowIntFn
    let setWindowShouldClose: WindowSetIntFn
    let pollEvents: VoidFn
    let waitEventsTimeout: WaitTimeoutFn
    let framebufferSize: WindowSizeFn
    let windowSize: WindowSizeFn
    let cursorPos: CursorFn
    let setTitle: TitleFn
    let requiredExtensions: ExtensionsFn
    let createSurface: SurfaceFn
    let mouseButton: ButtonFn
    let key: ButtonFn
    let setScrollCallback: SetScrollFn
    let lastError: ErrorFn
    let vulkanSupported: InitFn
    let windowAttrib: AttribFn
    let contentScale: ScaleFn

    /// Loads libglfw.so.3 (or `SPLAT_GLFW_LIBRARY`) and initialises it. Fails
    /// with a message when there is no display, no library or no Vulkan
    /// support, before any window opens.
    public init() throws {
        let env = ProcessInfo.processInfo.environment
        if (env["DISPLAY"] ?? "").isEmpty && (env["WAYLAND_DISPLAY"] ?? "").isEmpty { throw Failure.noDisplay }
        let names = env["SPLAT_GLFW_LIBRARY"].map { [$0] } ?? ["libglfw.so.3", "libglfw.so"]
        var opened: UnsafeMutableRawPointer?
        var detail = ""
        for name in names {
            opened = dlopen(name, RTLD_NOW | RTLD_LOCAL)
            if opened != nil { break }
            detail = dlerror().map { String(cString: $0) } ?? "cannot open \(name)"
        }
        guard let opened else { throw Failure.libraryMissing(detail) }
        handle = opened
        func symbol<T>(_ name: String, _: T.Type) throws -> T {
            guard let s = dlsym(opened, name) else { throw Failure.libraryMissing("\(name) is missing (GLFW older than 3.3?)") }
            return unsafeBitCast(s, to: T.self)
        }
        initialize = try symbol("glfwInit", InitFn.self)
        terminate = try symbol("glfwTerminate", VoidFn.self)
        windowHint = try symbol("glfwWindowHint", HintFn.self)
        createWindow = try symbol("glfwCreateWindow", CreateWindowFn.self)
        destroyWindow = try symbol("glfwDestroyWindow", WindowFn.self)
        windowShouldClose = try symbol("glfwWindowShouldClose", WindowIntFn.self)
        setWindowShouldClose = try symbol("glfwSetWindowShouldClose", WindowSetIntFn.self)
        pollEvents = try symbol("glfwPollEvents", VoidFn.self)
        waitEventsTimeout = try symbol("glfwWaitEventsTimeout", WaitTimeoutFn.self)
        framebufferSize = try symbol("glfwGetFramebufferSize", WindowSizeFn.self)
        windowSize = try symbol("glfwGetWindowSize", WindowSizeFn.self)
        cursorPos = try symbol("glfwGetCursorPos", CursorFn.self)
        setTitle = try symbol("glfwSetWindowTitle", TitleFn.self)
        requiredExtensions = try symbol("glfwGetRequiredInstanceExtensions", ExtensionsFn.self)
        createSurface = try symbol("glfwCreateWindowSurface", SurfaceFn.self)
        mouseButton = try symbol("glfwGetMouseButton", ButtonFn.self)
        key = try symbol("glfwGetKey", ButtonFn.self)
        setScrollCallback = try symbol("glfwSetScrollCallback", SetScrollFn.self)
        lastError = try symbol("glfwGetError", ErrorFn.self)
        vulkanSupported = try symbol("glfwVulkanSupported", InitFn.self)
        windowAttrib = try symbol("glfwGetWindowAttrib", AttribFn.self)
        contentScale = try symbol("glfwGetWindowContentScale", ScaleFn.self)
        guard initialize() == GLFW_TRUE else { throw Failure.initFailed(errorText()) }
        guard vulkanSupported() == GLFW_TRUE else { terminate(); throw Failure.noVulkan }
    }

    deinit { terminate() }

    /// GLFW's description of its last error.
    func errorText() -> String {
        var text: UnsafePointer<CChar>?
        let code = lastError(&text)
        return text.map { String(cString: $0) } ?? "GLFW error \(code)"
    }

    /// The Vulkan instance extensions windows need (VK_KHR_surface and the platform's).
    public func instanceExtensions() -> [String] {
        var count: UInt32 = 0
        guard let names = requiredExtensions(&count) else { return [] }
        return (0..<Int(count)).compactMap { names[$0].map { String(cString: $0) } }
    }
}

/// One GLFW window with a Vulkan surface; input is polled once per frame.
public final class Window {
    let glfw: GLFW
    public let handle: OpaquePointer
    /// Scroll offsets since the last `takeScroll()` (GLFW reports scrolling
    /// only through a callback; one window per process, so a static).
    nonisolated(unsafe) static var scrollY = 0.0

    public init(glfw: GLFW, width: Int, height: Int, title: String) throws {
        self.glfw = glfw
        glfw.windowHint(GLFW_CLIENT_API, GLFW_NO_API)
        glfw.windowHint(GLFW_RESIZABLE, GLFW_TRUE)
        guard let w = title.withCString({ glfw.createWindow(Int32(width), Int32(height), $0, nil, nil) }) else {
            throw GLFW.Failure.window(glfw.errorText())
        }
        handle = w
        _ = glfw.setScrollCallback(w) { _, _, dy in Window.scrollY += dy }
    }

    deinit { glfw.destroyWindow(handle) }

    public var shouldClose: Bool {
        get { glfw.windowShouldClose(handle) != 0 }
        set { glfw.setWindowShouldClose(handle, newValue ? 1 : 0) }
    }
    public var isMinimized: Bool { glfw.windowAttrib(handle, GLFW_ICONIFIED) != 0 }

    /// The drawable size in pixels (HiDPI: larger than the window size).
    public var framebufferSize: (width: Int, height: Int) {
        var w: Int32 = 0, h: Int32 = 0
        glfw.framebufferSize(handle, &w, &h)
        return (Int(w), Int(h))
    }
    /// The window size in screen coordinates (cursor positions use these).
    public var windowSize: (width: Int, height: Int) {
        var w: Int32 = 0, h: Int32 = 0
        glfw.windowSize(handle, &w, &h)
        return (Int(w), Int(h))
    }
    public var cursor: SIMD2<Double> {
        var x = 0.0, y = 0.0
        glfw.cursorPos(handle, &x, &y)
        return SIMD2(x, y)
    }
    public func isDown(key: Int32) -> Bool { glfw.key(handle, key) == GLFW_PRESS }
    public func isDown(button: Int32) -> Bool { glfw.mouseButton(handle, button) == GLFW_PRESS }
    public func takeScroll() -> Double { defer { Window.scrollY = 0 }; return Window.scrollY }
    public func setTitle(_ title: String) { title.withCString { glfw.setTitle(handle, $0) } }
    public func pollEvents() { glfw.pollEvents() }
    public func waitEvents(timeout: Double) { glfw.waitEventsTimeout(timeout) }

    /// A Vulkan surface for this window on `instance`.
    public func createSurface(instance: VkInstance) throws -> VkSurfaceKHR {
        var surface: VkSurfaceKHR?
        let result = glfw.createSurface(instance, handle, nil, &surface)
        guard result == VK_SUCCESS, let surface else {
            throw GLFW.Failure.window("glfwCreateWindowSurface failed (VkResult \(result.rawValue)): \(glfw.errorText())")
        }
        return surface
    }
}
