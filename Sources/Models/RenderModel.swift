import Datasets
import Fields
import Foundation
import Geometry
import Splatting

/// A model to render (Gaussians or a NeRF) and the rendering settings and
/// training cameras its folder records.
public struct RenderModel {
    public enum Content {
        case gaussians(GaussianModel)
        case nerf(NerfModelFile.Contents)
    }
    public var content: Content
    /// The file the model was read from.
    public var path: String
    /// The training output folder, when MODEL is one.
    public var folder: String?
    public var settings: RasterSettings
    /// cameras.json of the training run, when the folder has one.
    public var trainingCameras: [CameraEntry]?
    /// A language model's (kind "language") features file: the codebooks
    /// and per-Gaussian sparse weights beside the 3D Gaussians, read by
    /// the Language module (`splat query`, `view`, `info`, `bench`).
    public var languageFeatures: String?

    /// The config.json a training run wrote into `folder`, if there is one
    /// (a damaged one counts as none: it only supplies defaults such as the
    /// downscale factor a model was trained at).
    public static func recordedConfig(_ folder: String) -> [String: Any]? {
        guard let data = try? StrictJSON.readFile((folder as NSString).appendingPathComponent("config.json"), limit: 16 << 20) else { return nil }
        return try? StrictJSON.object(data, path: folder + "/config.json") as? [String: Any]
    }

    /// Whether the model has time (4D Gaussians, kind gaussians4d).
    public var hasTime: Bool {
        if case .gaussians(let g) = content { return g.hasTime }
        return false
    }

    /// "a 3D Gaussian model", "a 4D Gaussian model (gaussians4d)" or "a NeRF model", for messages.
    public var kindDescription: String {
        switch content {
        case .gaussians(let g):
            if languageFeatures != nil { return "a language model (3D Gaussians with language features)" }
            return g.hasTime ? "a 4D Gaussian model (gaussians4d)" : "a 3D Gaussian model"
        case .nerf(let n): return n.header.config.isSDF ? "a NeuS model" : "a NeRF model"
        }
    }

    /// The Gaussians, for the commands that only draw Gaussians.
    public func gaussians(for command: String) throws -> GaussianModel {
        guard case .gaussians(let g) = content else { throw DatasetError(path, "a NeRF model: \(command) needs a Gaussian model") }
        return g
    }

    /// Reads a training output folder (model.json optional; point_cloud.ply,
    /// 3DGS's point_cloud/iteration_N/point_cloud.ply, or the model.nerf that
    /// model.json names for kind "nerf") or a .ply / .splat / .nerf file.
    public static func load(_ path: String) throws -> RenderModel {
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
            let gaussians = try GaussianModelFile.read(path: path)
            if gaussians.isImage2D { throw Self.image2DError(path) }
            return RenderModel(content: .gaussians(gaussians), path: path, folder: nil,
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
        var languageFeatures: String?
        if FileManager.default.fileExists(atPath: modelJSON), let name = try languageFeaturesName(modelJSON) {
            let file = folder.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: file) else {
                throw DatasetError(file, "the language features file that model.json names is missing")
            }
            languageFeatures = file
        }
        if let nerfFile {
            guard FileManager.default.fileExists(atPath: nerfFile) else { throw DatasetError(nerfFile, "the NeRF model that model.json names is missing") }
            return RenderModel(content: .nerf(try NerfModelFile.read(path: nerfFile)), path: nerfFile, folder: path,
                               settings: settings, trainingCameras: training)
        }
        guard let file = modelFile(in: path) else {
            throw DatasetError(path, "no point_cloud.ply in the model folder (a model is a training output folder or a .ply / .splat / .nerf)")
        }
        let gaussians = try GaussianModelFile.read(path: file)
        if gaussians.isImage2D { throw Self.image2DError(file) }
        if languageFeatures != nil, gaussians.hasTime {
            throw DatasetError(file, "a 4D Gaussian model in a language model folder: language features need a 3D model")
        }
        return RenderModel(content: .gaussians(gaussians), path: file, folder: path,
                           settings: settings, trainingCameras: training, languageFeatures: languageFeatures)
    }

    /// 2D image Gaussians are drawn at a scale, not from cameras.
    static func image2DError(_ path: String) -> DatasetError {
        DatasetError(path, "a 2D image Gaussian model (image2d): it has no cameras to render from (2D rendering at a scale is not available yet)")
    }

    /// model.json's features file name for kind "language" (`features`,
    /// default language_features.bin), nil for other kinds.
    public static func languageFeaturesName(_ path: String) throws -> String? {
        let root = try StrictJSON.parse(try StrictJSON.readFile(path, limit: 16 << 20), path: path)
        guard case .string("language")? = root["kind"] else { return nil }
        switch root["features"] {
        case nil, .null?: return "language_features.bin"
        case .string(let name)? where !name.isEmpty && !name.contains("/") && name != ".." && name != ".":
            return name
        case let other?:
            throw DatasetError(path, "\"features\" must name a file in the model folder, found \(other.summary)")
        }
    }

    public static func modelFile(in folder: String) -> String? {
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
    public static func readSettings(_ path: String, into settings: inout RasterSettings) throws -> String? {
        // The parsed tree keeps JSON's types exactly (Foundation's objects turn `1` into a Bool on Linux).
        let root = try StrictJSON.parse(try StrictJSON.readFile(path, limit: 16 << 20), path: path)
        guard case .object = root else { throw DatasetError(path, "not a JSON object at the top") }
        func text(_ key: String, _ value: JSONValue?) throws -> String? {
            guard let value, value != .null else { return nil }
            guard case .string(let s) = value else { throw DatasetError(path, "\"\(key)\" must be a string, found \(value.summary)") }
            return s
        }
        let kind = try text("kind", root["kind"]) ?? "gaussians"
        guard ["gaussians", "gaussians4d", "language", "nerf", "neus"].contains(kind) else {
            throw DatasetError(path, "a \(StrictJSON.excerpt(kind)) model: splat draws Gaussian (3D, 4D, language), NeRF and NeuS models")
        }
        func value(_ key: String) -> JSONValue? { root[key] ?? root["settings"]?[key] }
        switch value("background") {
        case nil, .null?: break
        case .string("white")?: settings.background = SIMD3(1, 1, 1)
        case .string("black")?, .string("random")?: settings.background = .zero
        case .array(let rgb)? where rgb.count == 3 && rgb.allSatisfy({ if case .number(let v, _) = $0 { return (0...1).contains(v) }; return false }):
            let v = rgb.map { element -> Float in if case .number(let x, _) = element { return Float(x) }; return 0 }
            settings.background = SIMD3(v[0], v[1], v[2])
        case let other?:
            throw DatasetError(path, "background must be \"black\", \"white\", \"random\" or [r, g, b] with values in 0...1, found \(other.summary)")
        }
        switch value("antialias") ?? value("rasterize_mode") {
        case nil, .null?: break
        case .string("antialiased")?, .bool(true)?: settings.antialias = true
        case .string("classic")?, .bool(false)?: settings.antialias = false
        case let other?:
            throw DatasetError(path, "antialias must be true, false, \"antialiased\" or \"classic\", found \(other.summary)")
        }
        // A NeuS model is the fields engine's file with an SDF field.
        guard kind == "nerf" || kind == "neus" else { return nil }
        let model = try text("model", root["model"]) ?? "model.nerf"
        // The model file sits in the folder: a name, not a path elsewhere.
        guard !model.isEmpty, !model.contains("/"), model != "..", model != "." else {
            throw DatasetError(path, "\"model\" must name a file in the model folder, got '\(StrictJSON.excerpt(model))'")
        }
        return model
    }

    /// The centre of the box from the 1st to the 99th percentile of the
    /// positions on each axis (floaters far out do not move it), and that
    /// box's half-size; the origin and 1 for an empty model.
    public var robustBox: (center: Vector3, halfSize: Vector3) {
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
    public static func orbitIntrinsics(width: Int, height: Int) -> Intrinsics {
        let f = Double(width) / 2 / tan(25 * Double.pi / 180)
        return Intrinsics(width: width, height: height, fx: f, fy: f, cx: Double(width) / 2, cy: Double(height) / 2)
    }

    /// `count` cameras around the model's centre (see `Render`'s discussion).
    public static func orbit(count: Int, model: RenderModel, width: Int, height: Int) -> [RenderCamera] {
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
public enum RenderOutput {
    public static func byte(_ v: Float) -> UInt8 { UInt8((min(max(v, 0), 1) * 255).rounded()) }

    /// The colour composited over the background, RGB.
    public static func rgb(_ image: RasterImage) -> Image8 {
        Image8(width: image.width, height: image.height, channels: 3, pixels: image.color.map(byte))
    }

    /// Straight-alpha RGBA: colour (C - T * background) / alpha where alpha > 0, else 0.
    public static func rgba(_ image: RasterImage, background: SIMD3<Float>) -> Image8 {
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
    public static func depthImage(_ depth: [Float], alpha: [Float]) -> [UInt16] {
        var lo = Float.infinity, hi = -Float.infinity
        for i in depth.indices where alpha[i] > 0 { lo = min(lo, depth[i]); hi = max(hi, depth[i]) }
        let range = hi - lo
        return depth.indices.map { i -> UInt16 in
            guard alpha[i] > 0 else { return 0 }
            return range > 0 ? UInt16((max(0, min(1, (depth[i] - lo) / range)) * 65535).rounded()) : 65535
        }
    }
}

