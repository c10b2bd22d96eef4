import ArgumentParser
import Compute
import Datasets
import Foundation
import Geometry
import Language
import Models
import Splatting
import Viewer

struct View: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Look at a model (Gaussians or NeRF) in a window (GLFW + Vulkan swapchain).",
        discussion: """
        MODEL is a training output folder or a .ply / .splat / .nerf, as for
        `splat render`. The window shows the same renderer's frames (the
        Gaussian rasterizer, or the NeRF's ray marcher); on a slow device it
        renders at reduced resolution while the camera moves and refines when
        it stops (a NeRF on a CPU device takes seconds per full frame).

        \(ViewerSession.keyMap)

        Cameras: the training cameras of MODEL's cameras.json (or of --scene)
        are the ones 1-9 and [ ] step through. --camera TRANSFORMS[:INDEX]
        starts from camera INDEX (default 0) of a transforms.json or scene
        folder, with the window at that camera's size (at --downscale), so
        that the frame equals `splat render --cameras` of it. Check mode:
        --exit-after N renders N frames, writes --screenshot (PNG) and exits;
        --input-script FILE plays scripted input, one event per frame
        (orbit DX DY, pan DX DY, look DX DY, zoom STEPS, fly R U F, key NAME,
        wait N); --print-camera prints the final camera as JSON on stdout.

        4D models (gaussians4d) show one time at once: --time T (default:
        --camera's frame time, else 0); `,` and `.` step it by 0.01, Space
        plays it (once through [0, 1] in 5 s, looping) and pauses; the title
        shows it (keys in scripts: key , / key . / key SPACE).

        Language models (splat train --method language): L switches between
        the colour, the feature field (false colour: cosines with three
        principal directions of the middle level's codebook) and, with
        --text Q.npy --names Q.txt (and optionally --canonical C.npy
        --canonical-names C.txt, as for `splat query`), the relevancy of one
        query over the render; N steps to the next query. The title names
        the query and the level shown (keys in scripts: key L / key N).

        Needs a display (X11 or Wayland) and GLFW 3 (libglfw3), loaded at run
        time; without them, `splat render` writes frames headless.
        """)

    @Argument(help: "A training output folder or a .ply / .splat / .nerf file (with --model: a scene folder or transforms.json).")
    var model: String

    @Option(name: .customLong("model"), help: "The model to show, when the argument is a scene whose cameras 1-9 and [ ] step through.")
    var modelOption: String?

    @Option(help: "A scene folder or transforms.json whose cameras 1-9 and [ ] step through.")
    var scene: String?

    @Option(help: "Start from camera INDEX of this transforms.json or scene folder: TRANSFORMS[:INDEX].")
    var camera: String?

    @OptionGroup var imageScale: ImageScaleOptions
    var downscale: Int { imageScale.factor() }

    @Option(help: "Window width (without --camera).")
    var width = 1280

    @Option(help: "Window height (without --camera).")
    var height = 720

    @Option(help: "Present mode: on (FIFO, capped at the display rate) or off (immediate or mailbox when offered).")
    var vsync = "on"

    @Option(help: "Render this many frames, then write --screenshot and exit.")
    var exitAfter: Int?

    @Option(help: "PNG path for the screenshot (P, or the last frame with --exit-after).")
    var screenshot: String?

    @Option(help: "Play these input events, one per frame (see above).")
    var inputScript: String?

    @Flag(help: "Print the final camera (eye, target, pose) as JSON on stdout.")
    var printCamera = false

    @Option(help: "4D models: the time to start at, in [0, 1] (default: --camera's frame time, else 0); , and . step it, Space plays.")
    var time: Double?

    @Option(help: "Background colour: black or white (default: model.json's, else black); B toggles.")
    var background: String?

    @Option(help: ArgumentHelp("Language models: text embeddings [Q, D] for the relevancy overlay (N cycles them).", valueName: "Q.npy"))
    var text: String?
    @Option(help: ArgumentHelp("Language models: one name per --text row.", valueName: "Q.txt"))
    var names: String?
    @Option(help: ArgumentHelp("Language models: canonical phrase embeddings [C, D] (LERF relevancy).", valueName: "C.npy"))
    var canonical: String?
    @Option(name: .customLong("canonical-names"), help: ArgumentHelp("Language models: one name per --canonical row.", valueName: "C.txt"))
    var canonicalNames: String?

    func validate() throws {
        try OptionCheck.choice("--vsync", vsync, ["on", "off"])
        try OptionCheck.whole("--width", width, 1...16384)
        try OptionCheck.whole("--height", height, 1...16384)
        try OptionCheck.whole("--exit-after", exitAfter, 1...100_000_000)
        try OptionCheck.choice("--background", background, ["black", "white"])
        try OptionCheck.number("--time", time, 0...1)
        guard (text == nil) == (names == nil) else { throw ValidationError("give --text and --names together") }
        guard (canonical == nil) == (canonicalNames == nil) else { throw ValidationError("give --canonical and --canonical-names together") }
        if canonical != nil && text == nil { throw ValidationError("--canonical needs --text and --names") }
    }

    func run() throws {
        try runReportingErrors {
            // Everything that can be wrong with the input is reported before a window opens.
            // `splat view SCENE --model M` is `splat view M --scene SCENE`.
            let modelPath = modelOption ?? model
            let scene = modelOption == nil ? scene : (scene ?? model)
            let input = try RenderModel.load(modelPath)
            if time != nil && !input.hasTime {
                throw DatasetError(input.path, "\(input.kindDescription) has no time; --time is for 4D Gaussian models (gaussians4d)")
            }
            var settings = input.settings
            if let background { settings.background = background == "white" ? SIMD3(1, 1, 1) : .zero }
            var options = ViewerSession.Options()
            options.width = width
            options.height = height
            options.vsync = vsync == "on"
            options.exitAfter = exitAfter
            options.screenshot = screenshot
            options.title = "splat view \((modelPath as NSString).lastPathComponent)"
            let other: SIMD3<Float> = settings.background == .zero ? SIMD3(1, 1, 1) : .zero
            options.backgrounds = [settings.background, other]
            if let inputScript {
                guard let text = String(data: try RegularFile.read(inputScript, limit: 16 << 20), encoding: .utf8) else {
                    throw DatasetError(inputScript, "the input script is not UTF-8 text")
                }
                options.inputScript = try ViewerInput.parseScript(text, path: inputScript)
            }
            if let scene {
                options.cameras = try CameraPaths.cameras(of: try SceneLoader.load(scene), split: nil, downscale: downscale)
                    .map { ($0.name, $0.intrinsics, $0.pose) }
            } else if let entries = input.trainingCameras {
                options.cameras = entries.map { ($0.name, $0.intrinsics, $0.pose) }
            }
            if let camera {
                let (path, index) = try Self.parseCamera(camera)
                let cameras = try CameraPaths.cameras(of: try SceneLoader.load(path), split: nil, downscale: downscale)
                guard cameras.indices.contains(index) else {
                    throw DatasetError(path, "camera \(index) requested; the scene has \(cameras.count) (0...\(cameras.count - 1))")
                }
                options.cameras.insert((cameras[index].name, cameras[index].intrinsics, cameras[index].pose), at: 0)
                options.startCamera = 0
                if input.hasTime, time == nil { options.time = cameras[index].time }
            }
            if input.hasTime { options.time = time ?? options.time ?? 0 }
            let home = Self.homeCamera(input, cameras: options.cameras.map(\.pose))

            // A language model's query files are read before the window opens.
            var language: (field: LanguageFeatureField, queries: (rows: [Float], names: [String])?, canonical: [Float])?
            if let features = input.languageFeatures {
                let field = try LanguageFeatureFile.read(path: features).field
                let D = field.shape.dimension
                let queries = try text.map { try Query.embeddings($0, names: names!, dimension: D, what: "the text embeddings") }
                let canonicalRows = try canonical.map { try Query.embeddings($0, names: canonicalNames!, dimension: D, what: "the canonical embeddings").rows } ?? []
                if canonicalRows.count / D > LanguageRenderer.maxCanonical {
                    throw DatasetError(canonical!, "\(canonicalRows.count / D) canonical phrases; at most \(LanguageRenderer.maxCanonical) are supported")
                }
                language = (field, queries, canonicalRows)
            } else if let text {
                throw DatasetError(text, "--text is for language models; \(input.path) is \(input.kindDescription)")
            }

            let session = try ViewerSession(options: options, home: home)
            let source: ViewerFrameSource
            if let language {
                source = try LanguageFrameSource(device: session.device, geometry: try input.gaussians(for: "splat view"), field: language.field,
                                                 settings: settings, queries: language.queries, canonical: language.canonical)
            } else {
                source = try input.frameSource(device: session.device, settings: settings)
            }
            session.writeScreenshot = { rgb, w, h, path in
                try ImageIO.writePNG(Image8(width: w, height: h, channels: 3, pixels: rgb), to: path)
            }
            if printCamera {
                session.onExit = { c in
                    let json: [String: Any] = [
                        "eye": [c.eye.x, c.eye.y, c.eye.z], "target": [c.target.x, c.target.y, c.target.z],
                        "focus_distance": c.focusDistance,
                        "rotation": c.pose.rotation.rows.map { [$0.x, $0.y, $0.z] },
                    ]
                    if let data = try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .withoutEscapingSlashes]) {
                        FileHandle.standardOutput.write(data + Data("\n".utf8))
                    }
                }
            }
            try session.run(source: source)
        }
    }

    /// "TRANSFORMS[:INDEX]" (the last colon-separated part, when a whole number).
    static func parseCamera(_ value: String) throws -> (String, Int) {
        if let colon = value.lastIndex(of: ":"), let index = Int(value[value.index(after: colon)...]) {
            guard index >= 0 else { throw ValidationError("--camera index must be >= 0, got \(index)") }
            return (String(value[..<colon]), index)
        }
        return (value, 0)
    }

    /// Where R returns to: the first camera of `splat render --orbit`,
    /// looking at the model's centre; up is the mean up of `cameras` (the
    /// model's training cameras or --scene's), else +z.
    static func homeCamera(_ input: RenderModel, cameras: [Pose]) -> CameraController {
        let orbit = RenderModel.orbit(count: 1, model: input, width: 1280, height: 720)[0]
        let center = input.robustBox.center
        var up = Vector3(0, 0, 1)
        let sum = cameras.reduce(Vector3.zero) { $0 + $1.up }
        if sum.length > 1e-9 { up = sum.normalized }
        return CameraController(lookingAt: center, from: orbit.pose.position, worldUp: up, fovX: orbit.intrinsics.fovX)
    }
}

/// The Gaussian rasterizer as the viewer's frame source.
final class GaussianFrameSource: ViewerFrameSource {
    let rasterizer: GaussianRasterizer
    var settings: RasterSettings

    convenience init(device: ComputeDevice, model: GaussianModel, settings: RasterSettings) throws {
        let rasterizer = try GaussianRasterizer(device: device)
        try rasterizer.setModel(model)
        self.init(rasterizer: rasterizer, settings: settings)
    }

    init(rasterizer: GaussianRasterizer, settings: RasterSettings) {
        self.rasterizer = rasterizer
        self.settings = settings
    }

    func render(intrinsics: Intrinsics, pose: Pose, background: SIMD3<Float>) throws -> (color: BufferRange, depth: BufferRange) {
        var s = settings
        s.background = background
        try rasterizer.renderOnDevice(camera: RasterCamera(intrinsics: intrinsics, pose: pose), settings: s)
        return (rasterizer.colorBuffer!, rasterizer.depthBuffer!)
    }

    var summary: String { "\(rasterizer.gaussianCount) Gaussians" }

    var time: Double {
        get { Double(settings.time) }
        set { settings.time = Float(newValue) }
    }
}
