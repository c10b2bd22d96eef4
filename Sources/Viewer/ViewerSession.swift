import CGLFW
import CVulkan
import Compute
import Foundation
import Geometry

/// What the viewer shows: anything that renders a frame on the viewer's
/// device into colour ([H, W, 4] f32, sRGB-encoded, over `background`) and
/// expected depth ([H, W] f32, sum T alpha z) buffers.
public protocol ViewerFrameSource: AnyObject {
    /// Renders `intrinsics`/`pose`; the buffers stay valid until the next call.
    func render(intrinsics: Intrinsics, pose: Pose, background: SIMD3<Float>) throws -> (color: BufferRange, depth: BufferRange)
    /// Shown in the title bar and stats ("123456 Gaussians").
    var summary: String { get }
    /// The time the next frames show (models with time; others ignore it).
    var time: Double { get set }
    /// A key the viewer itself does not use (see `keyMap`'s model keys);
    /// returns whether the source took it (the frame is then redrawn).
    func press(_ key: String) -> Bool
    /// What the source shows, for the title bar (nil: nothing to add).
    var status: String? { get }
}

extension ViewerFrameSource {
    public var time: Double {
        get { 0 }
        set {}
    }
    public func press(_ key: String) -> Bool { false }
    public var status: String? { nil }
}

/// A viewer input event, from the mouse and keyboard or from a script
/// (`--input-script`, one per frame, for tests and demos).
public enum ViewerInput: Equatable {
    case orbit(dx: Double, dy: Double)
    case pan(dx: Double, dy: Double)
    case look(dx: Double, dy: Double)
    case zoom(steps: Double)
    case fly(right: Double, up: Double, forward: Double)
    case key(String)
    case wait(frames: Int)

    /// Parses a script: one event per line, `#` comments.
    ///   orbit DX DY | pan DX DY | look DX DY   (pixels of mouse drag)
    ///   zoom STEPS                              (scroll steps; + is in)
    ///   fly RIGHT UP FORWARD                    (world units)
    ///   key NAME                                (R, F, P, H, B, M, TAB, 1-9, [, ])
    ///   wait N                                  (N frames without input)
    public static func parseScript(_ text: String, path: String) throws -> [ViewerInput] {
        var events: [ViewerInput] = []
        // Character.isNewline holds for "\n", "\r" and "\r\n" (one Character in Swift), so CRLF scripts read as LF ones.
        for (n, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let head = words.first else { continue }
            let numbers = words.dropFirst().map { Double($0) }
            func fail(_ why: String) -> Error { ViewerError("\(path):\(n + 1): \(why): \(line.trimmingCharacters(in: .whitespaces))") }
            func values(_ count: Int) throws -> [Double] {
                // Finite and bounded: a camera moved by 1e300 pixels of drag is no camera at all.
                guard numbers.count == count, numbers.allSatisfy({ $0.map { $0.isFinite && abs($0) <= 1e6 } == true }) else {
                    throw fail("\(head) takes \(count) number\(count == 1 ? "" : "s") within -1000000...1000000")
                }
                return numbers.map { $0! }
            }
            switch head.lowercased() {
            case "orbit": let v = try values(2); events.append(.orbit(dx: v[0], dy: v[1]))
            case "pan": let v = try values(2); events.append(.pan(dx: v[0], dy: v[1]))
            case "look": let v = try values(2); events.append(.look(dx: v[0], dy: v[1]))
            case "zoom": let v = try values(1); events.append(.zoom(steps: v[0]))
            case "fly": let v = try values(3); events.append(.fly(right: v[0], up: v[1], forward: v[2]))
            case "wait":
                let v = try values(1)
                guard (0...1_000_000).contains(v[0]), v[0] == v[0].rounded() else {
                    throw fail("wait takes a whole number of frames from 0 to 1000000")
                }
                events.append(.wait(frames: Int(v[0])))
            case "key":
                guard words.count == 2 else { throw fail("key takes one key name") }
                events.append(.key(words[1].uppercased()))
            default: throw fail("unknown event \(head) (orbit, pan, look, zoom, fly, key, wait)")
            }
        }
        return events
    }
}

public struct ViewerError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// The interactive viewer: a window, its swapchain, input, and the render loop.
public final class ViewerSession {
    public struct Options {
        public var width = 1280
        public var height = 720
        public var vsync = true
        public var title = "splat"
        /// Training (or scene) cameras: 1-9 and [ ] step through them.
        public var cameras: [(name: String, intrinsics: Intrinsics, pose: Pose)] = []
        /// The camera to start from, and whether the window takes its size
        /// and field of view (check mode: the screenshot equals `splat render`).
        public var startCamera: Int?
        public var backgrounds: [SIMD3<Float>] = [SIMD3(0, 0, 0), SIMD3(1, 1, 1)]
        /// Render N frames, save the screenshot (when set) and exit.
        public var exitAfter: Int?
        public var screenshot: String?
        public var inputScript: [ViewerInput] = []
        /// Models with time (4D Gaussians): the time to start at, in [0, 1];
        /// nil for models without time. `,` / `.` step it by `timeStep`,
        /// Space plays (once through [0, 1] in `playSeconds`, looping) and
        /// pauses, and the title shows it.
        public var time: Double?
        public var timeStep = 0.01
        public var playSeconds = 5.0
        /// Frame time (s) above which the viewer renders at reduced
        /// resolution while the camera moves, and refines when it stops.
        public var interactiveFrameBudget = 1.0 / 20
        public init() {}
    }

    /// Called with the final camera (for tests and `--print-camera`) when the loop ends.
    public var onExit: ((CameraController) -> Void)?
    /// Writes a screenshot: RGB bytes [H, W, 3], width, height, path.
    public var writeScreenshot: (([UInt8], Int, Int, String) throws -> Void)?
    /// The source of the frames, for keys only it knows.
    weak var source: ViewerFrameSource?
    /// Extra text for the title bar (live training: iteration and PSNR).
    public var status: (() -> String)?

    let options: Options
    let glfw: GLFW
    let window: Window
    public let device: ComputeDevice
    let presenter: Presenter
    let pack: DisplayPack
    let stream: CommandStream
    var pixels: GPUBuffer?
    public private(set) var controller: CameraController
    let home: CameraController
    var mode = DisplayMode.rgb
    var backgroundIndex = 0
    var cameraIndex: Int?
    var showStats = true
    var flyLook = false
    var frame = 0
    var previousKeys = Set<Int32>()
    var previousCursor = SIMD2<Double>(0, 0)
    var fpsClock = Date()
    var fpsFrames = 0
    var fps = 0.0
    var lastFrameSeconds = 0.0
    var fullFrameSeconds = 0.0
    var reducedShown = false
    var dirty = true
    /// The shown time (models with time), and whether it plays.
    public private(set) var time: Double?
    var playing = false
    var lastPlayClock = Date()

    /// Opens the window and the device (which must serve both compute and
    /// presentation). `home` is the camera `R` returns to.
    public init(options: Options, home: CameraController) throws {
        self.options = options
        glfw = try GLFW()
        let required = glfw.instanceExtensions()
        guard VulkanInstance.requestExtensions(required) else {
            throw ViewerError("the Vulkan instance was created before the viewer could ask for \(required.joined(separator: ", "))")
        }
        var start = home
        var size = (options.width, options.height)
        if let i = options.startCamera, options.cameras.indices.contains(i) {
            let c = options.cameras[i]
            size = (c.intrinsics.width, c.intrinsics.height)
            start = CameraController(pose: c.pose, focusDistance: home.focusDistance, worldUp: home.worldUp, fovX: c.intrinsics.fovX)
            cameraIndex = i
        }
        window = try Window(glfw: glfw, width: size.0, height: size.1, title: options.title)
        let instance = try VulkanInstance.shared()
        let surface = try window.createSurface(instance: instance.handle)
        device = try ComputeDevice.make(extensions: ["VK_KHR_swapchain"]) { physical, family in
            var supported: VkBool32 = 0
            return vkGetPhysicalDeviceSurfaceSupportKHR(physical, family, surface, &supported) == VK_SUCCESS && supported != 0
        }
        presenter = try Presenter(device: device, instance: instance.handle, surface: surface, vsync: options.vsync)
        pack = try DisplayPack(device: device)
        stream = try CommandStream(device: device)
        controller = start
        self.home = home
        time = options.time.map { min(1, max(0, $0)) }
    }

    public static let keyMap = """
        mouse: left drag orbit (Tab: look around instead), right or middle
               drag pan, scroll zoom
        keys:  W/A/S/D fly forward/left/back/right, Q/E down/up (Shift: 4x)
               R reset the camera, 1-9 training camera N, [ ] previous/next
               M colour/depth/alpha, B background, F frame rate in the title
               4D models: , . step the time, Space play/pause
               language models: L colour / feature field (PCA) / relevancy,
               N next query; NeuS models: N colour / normal shading
               P screenshot PNG, H this help, Esc quit
        """

    /// The frame size rendered for a window of w x h: full, or halved (until
    /// the frame fits the budget) while the camera moves on a slow device.
    func renderSize(width: Int, height: Int, moving: Bool) -> (Int, Int) {
        // Judged by the last full-resolution frame (a preview's own time says nothing about it).
        guard moving, fullFrameSeconds > options.interactiveFrameBudget else { return (width, height) }
        var factor = 2
        while factor < 8 && fullFrameSeconds / Double(factor * factor) > options.interactiveFrameBudget { factor *= 2 }
        return (max(1, width / factor), max(1, height / factor))
    }

    /// Runs until the window closes, Esc, or `exitAfter` frames.
    public func run(source: ViewerFrameSource) throws {
        begin(source: source)
        while try step(source: source, live: false) {}
        try finish()
    }

    /// Announces the viewer (call once before the first `step`).
    public func begin(source: ViewerFrameSource) {
        self.source = source
        FileHandle.standardError.write(Data("splat view: \(source.summary) on \(device.info.displayName); press H for the keys\n".utf8))
        previousCursor = window.cursor
        script = options.inputScript[...]
    }

    /// After the last `step`: waits for the device, reports frame rates and
    /// any validation message, and calls `onExit`.
    public func finish() throws {
        try device.waitIdle()
        for line in frameReport() { FileHandle.standardError.write(Data("splat view: \(line)\n".utf8)) }
        // With SPLAT_VALIDATION=1, every message of the layer is shown (tests fail on any).
        for message in device.drainValidationMessages() {
            FileHandle.standardError.write(Data("splat view: Vulkan validation: \(message)\n".utf8))
        }
        onExit?(controller)
    }

    /// The frames shown so far, at full and at reduced resolution, with their mean time.
    public func frameReport() -> [String] {
        [("full resolution", fullStats), ("reduced resolution (while moving; live training)", previewStats)]
            .filter { $0.1.frames > 0 }
            .map { name, s in
                String(format: "%d frames at %@, %.1f ms per frame (%.1f fps)", s.frames, name as NSString,
                       1000 * s.seconds / Double(s.frames), Double(s.frames) / max(s.seconds, 1e-9))
            }
    }

    var script: ArraySlice<ViewerInput> = []
    var waitFrames = 0
    var fullStats = (frames: 0, seconds: 0.0)
    var previewStats = (frames: 0, seconds: 0.0)
    /// Live training: how much the viewer may slow training down (each live
    /// turn, events and a frame, is followed by at least its duration /
    /// `liveSlowdown` of training: 0.15 keeps the slowdown under the ~20%
    /// asked for, polling the window system included), and the divisor of the
    /// window's resolution for live frames.
    public var liveSlowdown = 0.15
    public var liveDivisor = 2
    var nextLiveTurn = Date.distantPast

    /// One turn of the loop: events, input, and a frame when something
    /// changed. With `live` (training between calls) it never blocks: each
    /// turn renders at 1/`liveDivisor` resolution, and turns are spaced so
    /// that they slow training by at most `liveSlowdown`. Returns false when
    /// the viewer is done.
    public func step(source: ViewerFrameSource, live: Bool) throws -> Bool {
        if window.shouldClose { return false }
        // Polling the window system costs round trips too: a live turn
        // (events, input and a frame) comes only when training has had its
        // share since the last one.
        let turn = Date()
        if live && turn < nextLiveTurn { return true }
        defer {
            if live {
                let spent = Date().timeIntervalSince(turn)
                nextLiveTurn = Date().addingTimeInterval(max(spent / liveSlowdown, 1.0 / 60))
            }
        }
        window.pollEvents()
        if window.isMinimized {
            if !live { window.waitEvents(timeout: 0.1) }
            return true
        }
        var moving = false
        if waitFrames > 0 {
            waitFrames -= 1
        } else if let event = script.popFirst() {
            if case let .wait(n) = event { waitFrames = n } else { moving = try apply(event) || moving }
        }
        moving = try handleInput() || moving
        if playing, let t = time {
            let now = Date()
            time = (t + now.timeIntervalSince(lastPlayClock) / max(options.playSeconds, 1e-3)).truncatingRemainder(dividingBy: 1)
            lastPlayClock = now
            dirty = true
        }
        let (fw, fh) = window.framebufferSize
        if fw != presenter.width || fh != presenter.height {
            guard try presenter.configure(width: fw, height: fh) else {
                if !live { window.waitEvents(timeout: 0.1) }
                return true
            }
            dirty = true
        }
        if !live {
            let refine = reducedShown && !moving
            if !(dirty || moving || refine || options.exitAfter != nil || !script.isEmpty || waitFrames > 0) {
                window.waitEvents(timeout: 0.05)
                return true
            }
        }
        let started = Date()
        let (w, h) = (presenter.width, presenter.height)
        var (rw, rh) = renderSize(width: w, height: h, moving: moving)
        if live { (rw, rh) = (max(1, w / liveDivisor), max(1, h / liveDivisor)) }
        let intrinsics = cameraIntrinsics?.scaled(toWidth: rw, height: rh) ?? controller.intrinsics(width: rw, height: rh)
        if let t = time { source.time = t }
        let buffers = try source.render(intrinsics: intrinsics, pose: controller.pose, background: options.backgrounds[backgroundIndex])
        let out = try pixelBuffer(bytes: w * h * 4)
        stream.reset()
        try pack.record(stream, color: buffers.color, depth: buffers.depth, pixels: out,
                        layout: DisplayPack.Layout(width: w, height: h, sourceWidth: rw, sourceHeight: rh, mode: mode,
                                                   bgra: presenter.bgra, depthFar: Float(max(controller.focusDistance * 3, 1e-3))))
        try stream.run()
        let outcome = try presenter.present(pixels: out)
        if outcome == .outOfDate { try presenter.configure(width: fw, height: fh); dirty = true; return true }
        if outcome == .skipped { return true }
        lastFrameSeconds = Date().timeIntervalSince(started)
        reducedShown = (rw, rh) != (w, h)
        if reducedShown { previewStats.frames += 1; previewStats.seconds += lastFrameSeconds }
        else { fullStats.frames += 1; fullStats.seconds += lastFrameSeconds; fullFrameSeconds = lastFrameSeconds }
        dirty = false
        frame += 1
        fpsFrames += 1
        let elapsed = Date().timeIntervalSince(fpsClock)
        if elapsed >= 0.5 {
            fps = Double(fpsFrames) / elapsed
            fpsFrames = 0
            fpsClock = Date()
        }
        updateTitle(source: source, reduced: reducedShown)
        if let limit = options.exitAfter, frame >= limit {
            if let path = options.screenshot { try saveScreenshot(to: path) }
            return false
        }
        return true
    }

    /// The selected training camera's intrinsics while the view is exactly its pose.
    var cameraIntrinsics: Intrinsics? {
        guard let i = cameraIndex, options.cameras.indices.contains(i) else { return nil }
        return options.cameras[i].intrinsics
    }

    func pixelBuffer(bytes: Int) throws -> GPUBuffer {
        if let pixels, pixels.length >= bytes { return pixels }
        pixels = nil
        let made = try GPUBuffer(device: device, length: bytes, label: "viewer pixels")
        pixels = made
        return made
    }

    func updateTitle(source: ViewerFrameSource, reduced: Bool) {
        var parts = [options.title]
        if let status { parts.append(status()) }
        if let time { parts.append(String(format: "t = %.3f%@", time, playing ? " (playing)" : "")) }
        if let shown = source.status { parts.append(shown) }
        if showStats {
            parts.append(source.summary)
            parts.append(String(format: "%.1f fps", fps))
            if reduced { parts.append("preview") }
            if mode != .rgb { parts.append(mode.rawValue) }
        }
        window.setTitle(parts.joined(separator: " | "))
    }

    /// Reads the last presented frame back as RGB and hands it to `writeScreenshot`.
    func saveScreenshot(to path: String) throws {
        guard let pixels, let write = writeScreenshot else { return }
        let (w, h) = (presenter.width, presenter.height)
        let packed = try pixels.read(UInt32.self, count: w * h, device: device)
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        for (i, p) in packed.enumerated() {
            let b0 = UInt8(p & 0xff), b1 = UInt8((p >> 8) & 0xff), b2 = UInt8((p >> 16) & 0xff)
            (rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]) = presenter.bgra ? (b2, b1, b0) : (b0, b1, b2)
        }
        try write(rgb, w, h, path)
        FileHandle.standardError.write(Data("splat view: saved \(path) (\(w)x\(h))\n".utf8))
    }

    /// Applies one event; returns whether the camera moved.
    func apply(_ event: ViewerInput) throws -> Bool {
        let before = controller
        switch event {
        case let .orbit(dx, dy): controller.orbit(dx: dx, dy: dy)
        case let .pan(dx, dy): controller.pan(dx: dx, dy: dy, windowWidth: drawableWidth)
        case let .look(dx, dy): controller.look(dx: dx, dy: dy)
        case let .zoom(steps): controller.zoom(steps: steps)
        case let .fly(r, u, f): controller.fly(right: r, up: u, forward: f)
        case let .key(name): try press(name)
        case .wait: break
        }
        let moved = controller != before
        if moved {
            dirty = true
            // Moving leaves the training camera (keys set or clear it themselves).
            if case .key = event {} else { cameraIndex = nil }
        }
        return moved
    }

    /// A key press by name (edge-triggered from the keyboard, or scripted).
    func press(_ name: String) throws {
        switch name {
        case "R": controller = home; cameraIndex = nil
        case "F": showStats.toggle()
        case "H": FileHandle.standardError.write(Data((Self.keyMap + "\n").utf8))
        case "M": mode = DisplayMode.allCases[(DisplayMode.allCases.firstIndex(of: mode)! + 1) % DisplayMode.allCases.count]
        case "B": backgroundIndex = (backgroundIndex + 1) % options.backgrounds.count
        case "TAB": flyLook.toggle()
        case ",", ".":
            guard let t = time else { break }
            time = min(1, max(0, t + (name == "." ? options.timeStep : -options.timeStep)))
        case "SPACE":
            guard time != nil else { break }
            playing.toggle()
            lastPlayClock = Date()
        case "P":
            let path = options.screenshot ?? String(format: "splat-screenshot-%04d.png", frame)
            try saveScreenshot(to: path)
        case "[", "]":
            guard !options.cameras.isEmpty else { break }
            let n = options.cameras.count
            let next = cameraIndex.map { ($0 + (name == "]" ? 1 : n - 1)) % n } ?? 0
            jump(to: next)
        case let digit where digit.count == 1 && ("1"..."9").contains(digit):
            let i = Int(digit)! - 1
            if options.cameras.indices.contains(i) { jump(to: i) }
        default: _ = source?.press(name)
        }
        dirty = true
    }

    func jump(to index: Int) {
        let c = options.cameras[index]
        controller = CameraController(pose: c.pose, focusDistance: controller.focusDistance, worldUp: controller.worldUp,
                                      fovX: c.intrinsics.fovX)
        cameraIndex = index
        FileHandle.standardError.write(Data("splat view: camera \(index + 1)/\(options.cameras.count) \(c.name)\n".utf8))
    }

    static let keyNames: [(Int32, String)] = [
        (GLFW_KEY_R, "R"), (GLFW_KEY_F, "F"), (GLFW_KEY_H, "H"), (GLFW_KEY_M, "M"), (GLFW_KEY_B, "B"), (GLFW_KEY_P, "P"),
        (GLFW_KEY_TAB, "TAB"), (GLFW_KEY_LEFT_BRACKET, "["), (GLFW_KEY_RIGHT_BRACKET, "]"),
        (GLFW_KEY_COMMA, ","), (GLFW_KEY_PERIOD, "."), (GLFW_KEY_SPACE, "SPACE"), (GLFW_KEY_L, "L"), (GLFW_KEY_N, "N"),
    ] + (1...9).map { (GLFW_KEY_0 + Int32($0), String($0)) }

    /// The drawable's width in pixels: the swapchain's, or before the first
    /// frame the window's framebuffer.
    var drawableWidth: Int { presenter.width > 0 ? presenter.width : window.framebufferSize.width }

    /// Polls the mouse and keyboard; returns whether the camera moved.
    func handleInput() throws -> Bool {
        var events: [ViewerInput] = []
        let cursor = window.cursor
        let delta = cursor - previousCursor
        previousCursor = cursor
        if delta != .zero {
            // Cursor positions are in window coordinates; drags are applied in
            // framebuffer pixels (HiDPI). Asked only on a move: each query is a
            // round trip to the window system.
            let d = delta * (Double(drawableWidth) / Double(max(window.windowSize.width, 1)))
            if window.isDown(button: GLFW_MOUSE_BUTTON_LEFT) {
                events.append(flyLook ? .look(dx: d.x, dy: d.y) : .orbit(dx: d.x, dy: d.y))
            } else if window.isDown(button: GLFW_MOUSE_BUTTON_RIGHT) || window.isDown(button: GLFW_MOUSE_BUTTON_MIDDLE) {
                events.append(.pan(dx: d.x, dy: d.y))
            }
        }
        let scroll = window.takeScroll()
        if scroll != 0 { events.append(.zoom(steps: scroll)) }
        // Fly: a step per frame, scaled by the distance to the target so it suits any scene size.
        let fast = window.isDown(key: GLFW_KEY_LEFT_SHIFT) || window.isDown(key: GLFW_KEY_RIGHT_SHIFT) ? 4.0 : 1.0
        let step = 0.02 * controller.focusDistance * fast
        func axis(_ plus: Int32, _ minus: Int32) -> Double {
            (window.isDown(key: plus) ? 1 : 0) - (window.isDown(key: minus) ? 1 : 0)
        }
        let f = axis(GLFW_KEY_W, GLFW_KEY_S), r = axis(GLFW_KEY_D, GLFW_KEY_A), u = axis(GLFW_KEY_E, GLFW_KEY_Q)
        if f != 0 || r != 0 || u != 0 { events.append(.fly(right: r * step, up: u * step, forward: f * step)) }
        var down = Set<Int32>()
        for (code, name) in Self.keyNames where window.isDown(key: code) {
            down.insert(code)
            if !previousKeys.contains(code) { events.append(.key(name)) }
        }
        previousKeys = down
        if window.isDown(key: GLFW_KEY_ESCAPE) { window.shouldClose = true }
        var moved = false
        for e in events { moved = try apply(e) || moved }
        return moved
    }
}
