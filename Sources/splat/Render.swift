import ArgumentParser
import Compute
import Datasets
import Fields
import Foundation
import Geometry
import Models
import Splatting

struct Render: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render a model (Gaussians or NeRF) from a scene's cameras or an orbit, to numbered PNGs (and a video).",
        discussion: """
        MODEL is a training output folder (model.json, point_cloud.ply or,
        for `--method nerf`, model.nerf, and cameras.json when it has one) or
        a bare .ply / .splat / .nerf. model.json's `background` and
        `antialias` are used when present; --background and --antialias
        override them (default: black, classic; antialias applies to
        Gaussians). A NeRF's orbit circles its scene box; its depth is the
        expected camera-space z along each ray, as for Gaussians.

        Cameras: --cameras SCENE (a scene folder or a transforms.json) renders
        the scene's cameras of --split (default all) with the undistorted
        pinhole intrinsics of their images at --downscale. When the scene has
        no test split file of its own, the split recorded in the model's
        cameras.json (by image name) is used. --orbit N renders N frames on a
        circle around the model's centre (the centre of the box holding the
        1st to 99th percentile of the Gaussians' positions on each axis),
        --width x --height (default 1280x720), fx = fy for a 50 degree
        horizontal field of view, principal point at the image centre. With a
        cameras.json in the model folder, the circle's radius, height and up
        are the training cameras' (mean distance from the centre in the plane
        normal to their mean up, mean height above it); without one, up is +z
        and the camera looks at the centre from 20 degrees above the
        horizontal plane, at the distance that fits the box's bounding sphere
        in the view.

        Output (DIR is created; it must be writable before anything renders):
        00000.png, 00001.png, ... (RGB composited over the background; with
        --alpha RGBA with straight alpha, colour = (C - T * background) / alpha
        where alpha > 0, else 0), with --depth also 00000_depth.npy (float32
        NPY, shape (H, W), alpha-normalised expected depth, 0 where nothing was
        blended) and 00000_depth.png (16-bit grey, the frame's min..max depth
        over the covered pixels mapped to 0..65535, uncovered pixels 0; for
        looking at: the .npy holds the values), and cameras.json of the rendered cameras. --video FILE.mp4
        pipes the frames to ffmpeg (H.264, yuv420p, 30 frames/s); every frame
        must have the same size, and ffmpeg must be on PATH. Every file is
        written to a temporary name and renamed when complete.

        4D models (kind gaussians4d): --cameras renders each camera at its
        frame's time; --time T renders every frame at T (in [0, 1]);
        --times N renders N frames at times 0, 1/(N-1), ..., 1, frame k from
        camera k mod M of --orbit M (--orbit 1 --times 60: one camera, the
        scene in motion; --orbit 60 --times 60: once around while time runs).
        An orbit without either is rendered at time 0. cameras.json records
        each frame's time.
        """)

    @Argument(help: "A training output folder (model.json with point_cloud.ply or model.nerf) or a .ply / .splat / .nerf file.")
    var model: String

    @Option(help: "Render the cameras of this scene folder or transforms.json.")
    var cameras: String?

    @Option(help: "With --cameras: train, test, val or all.")
    var split: String?

    @Option(help: "Render N frames on a circle around the model's centre.")
    var orbit: Int?

    @Option(help: "Render the frames of a nerfstudio camera_path.json (its size, fov and, for 4D models, render_time).")
    var cameraPath: String?

    @Option(help: "With --camera-path: nerfstudio's dataparser_transforms.json, mapping the path's normalised frame back to the dataset's (as ns-render does).")
    var dataparserTransforms: String?

    @Option(help: "Render N frames along a smooth path through the model's training cameras (cameras.json in the model folder), in name order: Catmull-Rom through the centres, interpolated rotations.")
    var smoothPath: Int?

    @Option(help: "Also write the cameras rendered as a nerfstudio camera_path.json (in the normalised frame with --dataparser-transforms).")
    var exportPath: String?

    @Option(help: "Orbit image width (default 1280); 2D image models: the output width.")
    var width: Int?

    @Option(help: "Orbit image height (default 720); 2D image models: the output height.")
    var height: Int?

    @Option(help: "2D image models (splat fit): render at this scale of the fitted image's size (any real >= 0.01).")
    var scale: Double?

    @Option(name: [.short, .long], help: "The output folder.")
    var out: String

    @Flag(help: "Write RGBA PNGs with straight alpha.")
    var alpha = false

    @Flag(help: "Also write each frame's expected depth as .npy (float32) and a 16-bit grey .png.")
    var depth = false

    @Flag(help: "NeuS models: draw the surface's normals instead of its colours (camera axes as normal maps show them: (1 + (x, -y, -z)) / 2 of OpenCV's camera axes; facing the camera is blue).")
    var normals = false

    @Option(help: "Also encode the frames into this video with ffmpeg (30 frames/s).")
    var video: String?

    @Option(help: "4D models: render every frame at this time, in [0, 1].")
    var time: Double?

    @Option(help: "4D models, with --orbit M: N frames at times evenly spaced over [0, 1], frame k from orbit camera k mod M.")
    var times: Int?

    @OptionGroup var imageScale: ImageScaleOptions
    var downscale: Int { imageScale.factor() }

    @Option(help: "Background colour: black or white (default: model.json's, else black).")
    var background: String?

    @Flag(help: "gsplat's antialiased mode (default: model.json's, else classic).")
    var antialias = false

    /// 2D image models take --scale or --width and --height instead of cameras.
    var imageOptions: Bool { scale != nil || (cameras == nil && orbit == nil && width != nil && height != nil) }

    func validate() throws {
        if let scale {
            guard scale.isFinite, scale >= 0.01, scale <= 1000 else { throw ValidationError("--scale must be a finite number in 0.01...1000, got \(scale)") }
            guard cameras == nil, orbit == nil else { throw ValidationError("--scale is for 2D image models, which have no cameras: leave out --cameras and --orbit") }
            guard width == nil, height == nil else { throw ValidationError("give --scale or --width and --height, not both") }
        }
        guard [cameras != nil, orbit != nil, cameraPath != nil, smoothPath != nil].filter({ $0 }).count == 1
                || (imageOptions && cameraPath == nil && smoothPath == nil) else {
            throw ValidationError("give exactly one of --cameras SCENE, --orbit N, --camera-path FILE and --smooth-path N (2D image models: --scale S or --width W --height H)")
        }
        try OptionCheck.whole("--smooth-path", smoothPath, 2...1_000_000)
        if dataparserTransforms != nil && cameraPath == nil && exportPath == nil {
            throw ValidationError("--dataparser-transforms applies to --camera-path and --export-path")
        }
        if cameraPath != nil, width != nil || height != nil {
            throw ValidationError("--width and --height apply to --orbit; a camera path gives its own render_width and render_height")
        }
        try OptionCheck.whole("--orbit", orbit, 1...1_000_000)
        if cameras != nil, width != nil || height != nil {
            throw ValidationError("--width and --height apply to --orbit; --cameras renders at the cameras' size (see --downscale)")
        }
        for (name, value) in [("--width", width), ("--height", height)] {
            if let value, !(1...16384).contains(value) { throw ValidationError("\(name) must be within 1...16384") }
        }
        if let split {
            guard cameras != nil else { throw ValidationError("--split applies to --cameras") }
            guard ["train", "test", "val", "all"].contains(split) else {
                throw ValidationError("--split must be train, test, val or all")
            }
        }
        if let background, !["black", "white"].contains(background) {
            throw ValidationError("--background must be black or white")
        }
        try OptionCheck.number("--time", time, 0...1)
        try OptionCheck.whole("--times", times, 1...1_000_000)
        if times != nil {
            guard orbit != nil else { throw ValidationError("--times applies to --orbit (scene cameras render at their own times; --time T sets one)") }
            guard time == nil else { throw ValidationError("give one of --time and --times") }
        }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)  // a dying ffmpeg is an error message, not a silent exit
        try runReportingErrors {
            if let image = try ImageModel.load(model) {
                try renderImage(image)
                return
            }
            if imageOptions {
                throw DatasetError(model, "--scale and --width/--height without --orbit are for 2D image models (splat fit); give --cameras SCENE or --orbit N")
            }
            let input = try RenderModel.load(model)
            var settings = input.settings
            if let background { settings.background = background == "white" ? SIMD3(1, 1, 1) : .zero }
            if antialias { settings.antialias = true }

            var views: [(camera: RenderCamera, split: Split)]
            let dataparser = try dataparserTransforms.map { try CameraPathJSON.DataparserTransform.read($0) }
            if let cameraPath {
                views = try CameraPathJSON.read(cameraPath, dataparser: dataparser).map { ($0, .test) }
            } else if let smoothPath {
                let training = (input.trainingCameras ?? []).filter { $0.split == .train }.sorted { $0.name < $1.name }
                guard training.count >= 2 else {
                    throw DatasetError(model, "--smooth-path needs the model's training cameras (a cameras.json with at least 2 of them beside the model)")
                }
                let through = training.map { RenderCamera(name: $0.name, intrinsics: $0.intrinsics, pose: $0.pose, time: $0.time) }
                let dense = CameraPaths.smooth(through: through, perSegment: (smoothPath + through.count - 2) / (through.count - 1))
                // Exactly N frames, evenly spaced along the dense path.
                views = (0..<smoothPath).map { k in
                    var c = dense[k * (dense.count - 1) / (smoothPath - 1)]
                    c.name = String(format: "path_%05d", k)
                    return (c, .test)
                }
            } else if let cameras {
                views = try sceneViews(cameras, input: input)
            } else {
                let w = width ?? 1280, h = height ?? 720
                views = RenderModel.orbit(count: orbit ?? 1, model: input, width: w, height: h).map { ($0, .test) }
            }
            let hasTime = input.hasTime
            if !hasTime && (time != nil || times != nil) {
                throw DatasetError(input.path, "\(input.kindDescription) has no time; --time and --times are for 4D Gaussian models (gaussians4d)")
            }
            if hasTime {
                if let times {
                    let ring = views
                    views = (0..<times).map { k in
                        var view = ring[k % ring.count]
                        view.camera.time = times == 1 ? 0 : Double(k) / Double(times - 1)
                        view.camera.name = String(format: "t%.4f", view.camera.time!)
                        return view
                    }
                } else {
                    let untimed = views.filter { $0.camera.time == nil }.count
                    if time == nil && untimed > 0 {
                        log("splat render: \(untimed) camera\(untimed == 1 ? " has" : "s have") no time; rendering \(untimed == 1 ? "it" : "them") at time 0 (--time T sets one)")
                    }
                    for k in views.indices where time != nil || views[k].camera.time == nil { views[k].camera.time = time ?? 0 }
                }
            }

            // Everything a user can get wrong is checked before the first frame.
            try OutputFolder.prepare(out)
            var encoder: VideoEncoder?
            if let video {
                let sizes = Set(views.map { "\($0.camera.intrinsics.width)x\($0.camera.intrinsics.height)" })
                guard sizes.count == 1 else {
                    throw DatasetError(video, "the cameras have \(sizes.count) image sizes (\(sizes.sorted().prefix(4).joined(separator: ", "))); a video needs one size")
                }
                guard let ffmpeg = VideoEncoder.findExecutable("ffmpeg") else {
                    throw DatasetError(video, "--video needs ffmpeg, which is not on PATH (install it: apt-get install ffmpeg)")
                }
                let i = views[0].camera.intrinsics
                encoder = try VideoEncoder(ffmpeg: ffmpeg, path: video, width: i.width, height: i.height)
            }

            let device = try ComputeDevice.make()
            let renderer = try input.renderer(device: device)
            if normals {
                guard let nerf = renderer as? NerfModelRenderer, nerf.canShowNormals else {
                    throw DatasetError(input.path, "\(input.kindDescription): --normals needs a NeuS model (splat train --method neus)")
                }
                nerf.showsNormals = true
            }
            if case .gaussians(let g) = input.content {
                let nonFinite = RasterizerReference.nonFiniteCount(g)
                if nonFinite > 0 { Diagnostics.warn("\(input.path): \(nonFinite) Gaussians with NaN/Inf parameters are skipped") }
            }
            log("splat render: \(renderer.summary) from \(input.path), \(views.count) frames to \(out) on \(device.info.displayName)")

            let writer = FrameWriter()
            var progress = RenderProgress(total: views.count)
            let (alpha, depth, out) = (alpha, depth, out)
            do {
                for (index, view) in views.enumerated() {
                    let image: RasterImage
                    do {
                        var frameSettings = settings
                        frameSettings.time = Float(view.camera.time ?? 0)
                        image = try renderer.render(intrinsics: view.camera.intrinsics, pose: view.camera.pose, settings: frameSettings)
                    } catch ComputeError.invalidArgument(let problem) {
                        throw DatasetError(cameras ?? model, "camera \(view.camera.name): \(problem)")  // name the camera
                    }
                    let background = settings.background
                    let videoSink = encoder
                    try writer.submit {
                        let stem = (out as NSString).appendingPathComponent(String(format: "%05d", index))
                        let rgb = RenderOutput.rgb(image)
                        try ImageIO.writePNG(alpha ? RenderOutput.rgba(image, background: background) : rgb, to: stem + ".png")
                        if depth {
                            let expected = image.expectedDepth
                            try NPY.write(expected, shape: [image.height, image.width], to: stem + "_depth.npy")
                            try ImageIO.writePNG16(gray: RenderOutput.depthImage(expected, alpha: image.alpha),
                                                   width: image.width, height: image.height, to: stem + "_depth.png")
                        }
                        try videoSink?.write(rgb.pixels)
                    }
                    progress.update(done: index + 1)
                }
                try writer.finish()
                try encoder?.finish()
            } catch {
                encoder?.cancel()
                progress.abandon()
                throw error
            }
            let entries = views.enumerated().map { i, v in
                CameraEntry(id: i, name: v.camera.name, intrinsics: v.camera.intrinsics, pose: v.camera.pose, split: v.split, time: v.camera.time)
            }
            try CamerasJSON.write(entries, to: (out as NSString).appendingPathComponent("cameras.json"))
            if let exportPath { try CameraPathJSON.write(views.map(\.camera), to: exportPath, dataparser: dataparser) }
            progress.finish(message: "splat render: wrote \(views.count) frames to \(out)\(video.map { " and \($0)" } ?? "")")
        }
    }

    /// The scene's cameras of the chosen split.
    func sceneViews(_ path: String, input: RenderModel) throws -> [(camera: RenderCamera, split: Split)] {
        try Self.sceneViews(path, input: input, split: split, downscale: downscale)
    }

    /// The cameras of `split` (nil or "all": every camera) of the scene at
    /// `path` at `downscale`; without a test split file of its own, the
    /// split the model's cameras.json records decides.
    static func sceneViews(_ path: String, input: RenderModel, split: String?, downscale: Int,
                           command: String = "splat render") throws -> [(camera: RenderCamera, split: Split)] {
        var scene = try SceneLoader.load(path, options: SceneOptions(camerasWithoutImages: true))
        // Without a test split file of its own, the training run's split (cameras.json) decides.
        if !scene.frames.contains(where: { $0.split == .test }), let recorded = input.trainingCameras {
            let byName = Dictionary(recorded.map { ($0.name, $0.split) }, uniquingKeysWith: { a, _ in a })
            var matched = 0
            for i in scene.frames.indices {
                if let s = byName[scene.frames[i].name] { scene.frames[i].split = s; matched += 1 }
            }
            if matched > 0, split != nil, split != "all" {
                log("\(command): the split of \(input.folder.map { ($0 as NSString).appendingPathComponent("cameras.json") } ?? "cameras.json") (\(matched) images matched by name)")
            }
        }
        let wanted: Split? = (split ?? "all") == "all" ? nil : Split(rawValue: split!)
        let frames = scene.frames.filter { wanted == nil || $0.split == wanted }
        guard !frames.isEmpty else {
            throw DatasetError(path, "no \(split!) cameras (the scene has \(scene.frames.count): \(Split.allCases.map { s in "\(s.rawValue) \(scene.frames.filter { $0.split == s }.count)" }.joined(separator: ", ")))")
        }
        let cameras = try CameraPaths.cameras(of: scene, split: wanted, downscale: downscale)
        return zip(cameras, frames).map { ($0, $1.split) }
    }
}

/// Writes frames on one background queue, in order, at most a few frames
/// behind the renderer; the first error is rethrown.
final class FrameWriter {
    private let queue = DispatchQueue(label: "splat.render.writer")
    private let slots = DispatchSemaphore(value: 3)
    private let lock = NSLock()
    private var failure: Error?

    private var error: Error? { lock.lock(); defer { lock.unlock() }; return failure }

    func submit(_ work: @escaping () throws -> Void) throws {
        if let error { throw error }
        slots.wait()
        queue.async {
            defer { self.slots.signal() }
            guard self.error == nil else { return }
            do { try work() } catch {
                self.lock.lock(); if self.failure == nil { self.failure = error }; self.lock.unlock()
            }
        }
    }

    func finish() throws {
        queue.sync {}
        if let error { throw error }
    }
}

/// Progress on stderr: a bar redrawn in place on a terminal, else one plain
/// line every few seconds (docs/conventions.md, "Exit codes and output streams").
struct RenderProgress {
    let total: Int
    let label: String, unit: String
    let terminal = isatty(2) != 0
    let start = Date()
    var lastLine = Date()
    var drawn = false
    /// The items done at the last update (work stopped early reports its own pace).
    var done: Int?

    init(total: Int, label: String = "render", unit: String = "frames") {
        self.total = total
        self.label = label
        self.unit = unit
    }

    mutating func update(done: Int) {
        self.done = done
        let elapsed = Date().timeIntervalSince(start)
        if terminal {
            guard done == total || Date().timeIntervalSince(lastLine) >= 0.1 else { return }
            lastLine = Date()
            let width = 30, filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            FileHandle.standardError.write(Data("\r\(label) [\(bar)] \(done)/\(total) \(unit), \(pace(done: done, elapsed: elapsed))\u{1b}[K".utf8))
            drawn = true
        } else if Date().timeIntervalSince(lastLine) >= 5, done < total {
            lastLine = Date()
            log("\(label): \(done)/\(total) \(unit), \(pace(done: done, elapsed: elapsed))")
        }
    }

    /// "12.5 frames/s", or for slow work (a NeRF view on a CPU) "95.0 s per image",
    /// with the time left once one item is done.
    func pace(done: Int, elapsed: Double) -> String {
        guard done > 0, elapsed > 0 else { return "starting" }
        let perItem = elapsed / Double(done)
        let rate = perItem < 1 ? String(format: "%.1f %@/s", 1 / perItem, unit)
                               : String(format: "%.1f s per %@", perItem, unit.hasSuffix("s") ? String(unit.dropLast()) : unit)
        return done < total ? rate + ", ETA " + formatDuration(perItem * Double(total - done)) : rate
    }

    func abandon() {
        if drawn { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    func finish(message: String) {
        abandon()
        let elapsed = Date().timeIntervalSince(start)
        log("\(message) in \(String(format: "%.1f", elapsed)) s (\(pace(done: done ?? total, elapsed: elapsed)))")
    }
}

/// Raw RGB frames piped into ffmpeg, which writes the video to a temporary
/// name in the target's folder; renamed when ffmpeg succeeds.
final class VideoEncoder {
    let path: String
    let temporary: String
    let process = Process()
    let input = Pipe()

    static func findExecutable(_ name: String) -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":")
        for folder in paths where !folder.isEmpty {
            let candidate = "\(folder)/\(name)"
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isFolder), !isFolder.boolValue,
               access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    init(ffmpeg: String, path: String, width: Int, height: Int) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw DatasetError(folder.path, "cannot create the video's folder: \(OutputFolder.describe(error))")
        }
        let ext = url.pathExtension.isEmpty ? "mp4" : url.pathExtension
        temporary = folder.appendingPathComponent(".\(url.deletingPathExtension().lastPathComponent).\(getpid()).tmp.\(ext)").path
        guard FileManager.default.createFile(atPath: temporary, contents: Data()) else {
            throw DatasetError(path, "cannot write the video: its folder is not writable")
        }
        var arguments = ["-hide_banner", "-loglevel", "error", "-y",
                         "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "\(width)x\(height)", "-r", "30", "-i", "-"]
        if width % 2 == 1 || height % 2 == 1 {
            arguments += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]  // yuv420p needs even sizes
        }
        arguments += ["-pix_fmt", "yuv420p", temporary]
        process.executableURL = URL(fileURLWithPath: ffmpeg)
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice  // stdout is never anything but splat's own
        do {
            try process.run()
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw DatasetError(ffmpeg, "cannot start ffmpeg: \(error.localizedDescription)")
        }
    }

    func write(_ rgb: [UInt8]) throws {
        do {
            try input.fileHandleForWriting.write(contentsOf: Data(rgb))
        } catch {
            throw DatasetError(path, "ffmpeg stopped reading frames (its messages are above)")
        }
    }

    func finish() throws {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw DatasetError(path, "ffmpeg failed with status \(process.terminationStatus) (its messages are above)")
        }
        if rename(temporary, path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw DatasetError(path, "cannot write: \(reason)")
        }
    }

    /// Stops ffmpeg and removes the partial video.
    func cancel() {
        try? input.fileHandleForWriting.close()
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: temporary)
    }
}
