import ArgumentParser
import Compute
import Datasets
import Foundation
import Geometry
import Fields
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
        """)

    @Argument(help: "A training output folder (model.json with point_cloud.ply or model.nerf) or a .ply / .splat / .nerf file.")
    var model: String

    @Option(help: "Render the cameras of this scene folder or transforms.json.")
    var cameras: String?

    @Option(help: "With --cameras: train, test, val or all.")
    var split: String?

    @Option(help: "Render N frames on a circle around the model's centre.")
    var orbit: Int?

    @Option(help: "Orbit image width (default 1280).")
    var width: Int?

    @Option(help: "Orbit image height (default 720).")
    var height: Int?

    @Option(help: "The output folder.")
    var out: String

    @Flag(help: "Write RGBA PNGs with straight alpha.")
    var alpha = false

    @Flag(help: "Also write each frame's expected depth as .npy (float32) and a 16-bit grey .png.")
    var depth = false

    @Option(help: "Also encode the frames into this video with ffmpeg (30 frames/s).")
    var video: String?

    @Option(help: "With --cameras: downscale the cameras' images by this integer factor.")
    var downscale = 1

    @Option(help: "Background colour: black or white (default: model.json's, else black).")
    var background: String?

    @Flag(help: "gsplat's antialiased mode (default: model.json's, else classic).")
    var antialias = false

    func validate() throws {
        guard (cameras == nil) != (orbit == nil) else {
            throw ValidationError("give exactly one of --cameras SCENE and --orbit N")
        }
        if let orbit, orbit < 1 { throw ValidationError("--orbit must be at least 1") }
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
        guard downscale >= 1 else { throw ValidationError("--downscale must be an integer >= 1") }
        if let background, !["black", "white"].contains(background) {
            throw ValidationError("--background must be black or white")
        }
    }

    func run() throws {
        signal(SIGPIPE, SIG_IGN)  // a dying ffmpeg is an error message, not a silent exit
        try runReportingErrors {
            let input = try RenderModel.load(model)
            var settings = input.settings
            if let background { settings.background = background == "white" ? SIMD3(1, 1, 1) : .zero }
            if antialias { settings.antialias = true }

            let views: [(camera: RenderCamera, split: Split)]
            if let cameras {
                views = try sceneViews(cameras, input: input)
            } else {
                let w = width ?? 1280, h = height ?? 720
                views = RenderModel.orbit(count: orbit ?? 1, model: input, width: w, height: h).map { ($0, .test) }
            }

            // Everything a user can get wrong is checked before the first frame.
            try Self.prepareOutputFolder(out)
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
                    let image = try renderer.render(intrinsics: view.camera.intrinsics, pose: view.camera.pose, settings: settings)
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
            progress.finish(message: "splat render: wrote \(views.count) frames to \(out)\(video.map { " and \($0)" } ?? "")")
        }
    }

    /// The scene's cameras of the chosen split.
    func sceneViews(_ path: String, input: RenderModel) throws -> [(camera: RenderCamera, split: Split)] {
        var scene = try SceneLoader.load(path)
        // Without a test split file of its own, the training run's split (cameras.json) decides.
        if !scene.frames.contains(where: { $0.split == .test }), let recorded = input.trainingCameras {
            let byName = Dictionary(recorded.map { ($0.name, $0.split) }, uniquingKeysWith: { a, _ in a })
            var matched = 0
            for i in scene.frames.indices {
                if let s = byName[scene.frames[i].name] { scene.frames[i].split = s; matched += 1 }
            }
            if matched > 0, split != nil, split != "all" {
                log("splat render: the split of \(input.folder.map { ($0 as NSString).appendingPathComponent("cameras.json") } ?? "cameras.json") (\(matched) images matched by name)")
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

    /// Creates `folder` and checks that a file can be written there, so that
    /// a bad --out is one message before any rendering.
    static func prepareOutputFolder(_ folder: String) throws {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), !isFolder.boolValue {
            throw DatasetError(folder, "the output folder is a file")
        }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw DatasetError(folder, "cannot create the output folder: \(describe(error))")
        }
        let probe = (folder as NSString).appendingPathComponent(".splat-write-test-\(getpid())")
        guard FileManager.default.createFile(atPath: probe, contents: Data()) else {
            throw DatasetError(folder, "the output folder is not writable")
        }
        try? FileManager.default.removeItem(atPath: probe)
    }

    static func describe(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return ns.localizedDescription
    }
}

/// A model to render (Gaussians or a NeRF) and the rendering settings and
/// training cameras its folder records.
struct RenderModel {
    enum Content {
        case gaussians(GaussianModel)
        case nerf(NerfModelFile.Contents)
    }
    var content: Content
    /// The file the model was read from.
    var path: String
    /// The training output folder, when MODEL is one.
    var folder: String?
    var settings: RasterSettings
    /// cameras.json of the training run, when the folder has one.
    var trainingCameras: [CameraEntry]?

    /// The Gaussians, for the commands that only draw Gaussians.
    func gaussians(for command: String) throws -> GaussianModel {
        guard case .gaussians(let g) = content else { throw DatasetError(path, "a NeRF model: \(command) needs a Gaussian model") }
        return g
    }

    /// Reads a training output folder (model.json optional; point_cloud.ply,
    /// 3DGS's point_cloud/iteration_N/point_cloud.ply, or the model.nerf that
    /// model.json names for kind "nerf") or a .ply / .splat / .nerf file.
    static func load(_ path: String) throws -> RenderModel {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw DatasetError(path, "no such model file or folder")
        }
        guard isFolder.boolValue else {
            if path.hasSuffix(".nerf") {
                let nerf = try NerfModelFile.read(path: path)
                let bg = nerf.header.background
                return RenderModel(content: .nerf(nerf), path: path, folder: nil,
                                   settings: RasterSettings(background: SIMD3(bg[0], bg[1], bg[2])), trainingCameras: nil)
            }
            return RenderModel(content: .gaussians(try GaussianModelFile.read(path: path)), path: path, folder: nil,
                               settings: RasterSettings(), trainingCameras: nil)
        }
        let folder = path as NSString
        var settings = RasterSettings()
        var nerfFile: String?
        let modelJSON = folder.appendingPathComponent("model.json")
        if FileManager.default.fileExists(atPath: modelJSON) {
            nerfFile = try readSettings(modelJSON, into: &settings).map { folder.appendingPathComponent($0) }
        }
        let cameras = folder.appendingPathComponent("cameras.json")
        let training = FileManager.default.fileExists(atPath: cameras) ? try CamerasJSON.read(cameras) : nil
        if let nerfFile {
            guard FileManager.default.fileExists(atPath: nerfFile) else { throw DatasetError(nerfFile, "the NeRF model that model.json names is missing") }
            return RenderModel(content: .nerf(try NerfModelFile.read(path: nerfFile)), path: nerfFile, folder: path,
                               settings: settings, trainingCameras: training)
        }
        guard let file = modelFile(in: path) else {
            throw DatasetError(path, "no point_cloud.ply in the model folder (a model is a training output folder or a .ply / .splat / .nerf)")
        }
        return RenderModel(content: .gaussians(try GaussianModelFile.read(path: file)), path: file, folder: path,
                           settings: settings, trainingCameras: training)
    }

    static func modelFile(in folder: String) -> String? {
        let direct = (folder as NSString).appendingPathComponent("point_cloud.ply")
        if FileManager.default.fileExists(atPath: direct) { return direct }
        // 3DGS: point_cloud/iteration_<N>/point_cloud.ply, the highest N.
        let iterations = (folder as NSString).appendingPathComponent("point_cloud")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: iterations)) ?? []
        let best = names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("iteration_"), let n = Int(name.dropFirst("iteration_".count)) else { return nil }
            let file = "\(iterations)/\(name)/point_cloud.ply"
            return FileManager.default.fileExists(atPath: file) ? (n, file) : nil
        }.max { $0.0 < $1.0 }
        return best?.1
    }

    /// model.json's rendering settings: `background` ("black", "white",
    /// "random" (rendered black, as 3DGS evaluates) or [r, g, b] in 0...1)
    /// and `antialias` (true/false, or gsplat's "antialiased"/"classic"),
    /// at the top level or under `settings`. Absent keys keep the defaults.
    /// Returns the model file of a NeRF (`kind` "nerf": `model`, default
    /// model.nerf), nil for Gaussians.
    @discardableResult
    static func readSettings(_ path: String, into settings: inout RasterSettings) throws -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { throw DatasetError(path, "cannot read the file") }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw DatasetError(path, "not a JSON object")
        }
        let kind = object["kind"] as? String ?? "gaussians"
        guard ["gaussians", "nerf"].contains(kind) else {
            throw DatasetError(path, "a \(kind) model: splat draws Gaussian and NeRF models")
        }
        let nested = object["settings"] as? [String: Any] ?? [:]
        func value(_ key: String) -> Any? { object[key] ?? nested[key] }
        if let bg = value("background") {
            if let name = bg as? String {
                switch name {
                case "white": settings.background = SIMD3(1, 1, 1)
                case "black", "random": settings.background = .zero
                default: throw DatasetError(path, "background '\(name)' is not black, white or random")
                }
            } else if let rgb = bg as? [NSNumber], rgb.count == 3 {
                settings.background = SIMD3(rgb[0].floatValue, rgb[1].floatValue, rgb[2].floatValue)
            } else {
                throw DatasetError(path, "background must be \"black\", \"white\", \"random\" or [r, g, b]")
            }
        }
        if let aa = value("antialias") ?? value("rasterize_mode") {
            if let name = aa as? String {
                guard ["antialiased", "classic"].contains(name) else {
                    throw DatasetError(path, "antialias mode '\(name)' is not antialiased or classic")
                }
                settings.antialias = name == "antialiased"
            } else if let flag = aa as? Bool {
                settings.antialias = flag
            } else {
                throw DatasetError(path, "antialias must be true, false, \"antialiased\" or \"classic\"")
            }
        }
        return kind == "nerf" ? (object["model"] as? String ?? "model.nerf") : nil
    }

    /// The centre of the box from the 1st to the 99th percentile of the
    /// positions on each axis (floaters far out do not move it), and that
    /// box's half-size; the origin and 1 for an empty model.
    var robustBox: (center: Vector3, halfSize: Vector3) {
        let gaussians: GaussianModel
        switch content {
        case .gaussians(let g): gaussians = g
        case .nerf(let n):
            // The NeRF's scene box (cascade 0 of its occupancy grid).
            let c = n.header.boxCenter, h = n.header.boxSize / 2
            return (Vector3(c[0], c[1], c[2]), Vector3(h, h, h))
        }
        let n = gaussians.count
        guard n > 0 else { return (.zero, Vector3(1, 1, 1)) }
        let step = max(1, n / 100_000)  // a strided sample of at most ~100k positions
        var lo = Vector3.zero, hi = Vector3.zero
        for axis in 0..<3 {
            let values = stride(from: 0, to: n, by: step).map { gaussians.positions[$0 * 3 + axis] }.sorted()
            let last = Double(values.count - 1)
            lo[axis] = Double(values[Int((0.01 * last).rounded())])
            hi[axis] = Double(values[Int((0.99 * last).rounded())])
        }
        return ((lo + hi) / 2, (hi - lo) / 2)
    }

    /// fx = fy for a 50 degree horizontal field of view, centred principal point.
    static func orbitIntrinsics(width: Int, height: Int) -> Intrinsics {
        let f = Double(width) / 2 / tan(25 * Double.pi / 180)
        return Intrinsics(width: width, height: height, fx: f, fy: f, cx: Double(width) / 2, cy: Double(height) / 2)
    }

    /// `count` cameras around the model's centre (see `Render`'s discussion).
    static func orbit(count: Int, model: RenderModel, width: Int, height: Int) -> [RenderCamera] {
        let intrinsics = orbitIntrinsics(width: width, height: height)
        let box = model.robustBox
        if let entries = model.trainingCameras, !entries.isEmpty {
            let train = entries.filter { $0.split == .train }
            return CameraPaths.orbit(count: count, around: (train.isEmpty ? entries : train).map(\.pose),
                                     center: box.center, intrinsics: intrinsics)
        }
        let sphere = max(box.halfSize.length, 1e-3)
        let halfFov = min(intrinsics.fovX, intrinsics.fovY) / 2
        let distance = sphere / sin(halfFov)
        let elevation = 20 * Double.pi / 180
        return CameraPaths.orbit(count: count, center: box.center, up: Vector3(0, 0, 1),
                                 radius: distance * cos(elevation), height: distance * sin(elevation), intrinsics: intrinsics)
    }
}

/// Rendered frames as 8-bit images.
enum RenderOutput {
    static func byte(_ v: Float) -> UInt8 { UInt8((min(max(v, 0), 1) * 255).rounded()) }

    /// The colour composited over the background, RGB.
    static func rgb(_ image: RasterImage) -> Image8 {
        Image8(width: image.width, height: image.height, channels: 3, pixels: image.color.map(byte))
    }

    /// Straight-alpha RGBA: colour (C - T * background) / alpha where alpha > 0, else 0.
    static func rgba(_ image: RasterImage, background: SIMD3<Float>) -> Image8 {
        let n = image.width * image.height
        var pixels = [UInt8](repeating: 0, count: n * 4)
        for i in 0..<n {
            let a = image.alpha[i]
            pixels[4 * i + 3] = byte(a)
            guard a > 0 else { continue }
            let t = image.transmittance[i]
            for c in 0..<3 {
                pixels[4 * i + c] = byte((image.color[3 * i + c] - t * background[c]) / a)
            }
        }
        return Image8(width: image.width, height: image.height, channels: 4, pixels: pixels)
    }

    /// 16-bit grey: the covered pixels' depth range mapped to 0...65535, uncovered 0.
    static func depthImage(_ depth: [Float], alpha: [Float]) -> [UInt16] {
        var lo = Float.infinity, hi = -Float.infinity
        for i in depth.indices where alpha[i] > 0 { lo = min(lo, depth[i]); hi = max(hi, depth[i]) }
        let range = hi - lo
        return depth.indices.map { i -> UInt16 in
            guard alpha[i] > 0 else { return 0 }
            return range > 0 ? UInt16((max(0, min(1, (depth[i] - lo) / range)) * 65535).rounded()) : 65535
        }
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
/// line every few seconds (CONVENTIONS.md, "Output streams").
struct RenderProgress {
    let total: Int
    let label: String, unit: String
    let terminal = isatty(2) != 0
    let start = Date()
    var lastLine = Date()
    var drawn = false

    init(total: Int, label: String = "render", unit: String = "frames") {
        self.total = total
        self.label = label
        self.unit = unit
    }

    mutating func update(done: Int) {
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
        log("\(message) in \(String(format: "%.1f", elapsed)) s (\(pace(done: total, elapsed: elapsed)))")
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
            throw DatasetError(folder.path, "cannot create the video's folder: \(Render.describe(error))")
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
