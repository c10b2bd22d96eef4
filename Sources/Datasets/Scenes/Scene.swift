import Foundation
import Geometry

/// Which set an image belongs to (docs/conventions.md, "Splits and metrics").
public enum Split: String, Codable, CaseIterable {
    case train, test, val
}

/// One posed image of a scene, as the dataset describes it (before any
/// undistortion or downscaling).
public struct SceneFrame: Equatable {
    /// Path relative to the scene folder, used as the image's name everywhere.
    public var name: String
    /// Absolute path of the image file.
    public var imagePath: String
    public var intrinsics: Intrinsics
    public var distortion: Distortion
    /// World-to-camera, OpenCV axes, in the dataset's own world frame.
    public var pose: Pose
    /// Time stamp of dynamic scenes (transforms.json `time`), else nil.
    public var time: Double?
    public var split: Split
    /// Name of the camera model as the dataset gives it (e.g. "SIMPLE_RADIAL").
    public var cameraModel: String
    /// Absolute path of the image's foreground mask (NeuS/IDR `mask/`;
    /// 0 is background), nil when the scene has none. Read with
    /// `SceneImages.loadMask`.
    public var maskPath: String?
}

/// Points with colours: COLMAP's points3D, the initial Gaussians.
public struct PointCloud: Equatable {
    public var positions: [Float]  // [N, 3] f32
    public var colors: [UInt8]     // [N, 3] u8
    public var count: Int { positions.count / 3 }

    public init(positions: [Float], colors: [UInt8]) {
        self.positions = positions
        self.colors = colors
    }
}

/// Centre and size of a scene, the way 3DGS derives them: the centroid of
/// the camera centres and 1.1 x the largest camera distance from it.
public struct SceneNormalization: Equatable, Codable {
    public var center: Vector3
    public var extent: Double

    public static func fromCameras(_ positions: [Vector3]) -> SceneNormalization {
        guard !positions.isEmpty else { return SceneNormalization(center: .zero, extent: 1) }
        let center = positions.reduce(Vector3.zero, +) / Double(positions.count)
        let radius = positions.map { ($0 - center).length }.max() ?? 0
        return SceneNormalization(center: center, extent: radius > 0 ? radius * 1.1 : 1)
    }
}

/// An axis-aligned box.
public struct Box: Equatable, Codable {
    public var min: Vector3
    public var max: Vector3
    public var center: Vector3 { (min + max) / 2 }
    public var size: Vector3 { max - min }

    public init(min: Vector3, max: Vector3) {
        self.min = min
        self.max = max
    }

    public static func bounding(_ points: [Vector3]) -> Box? {
        guard let first = points.first else { return nil }
        var lo = first, hi = first
        for p in points { lo = pointwiseMin(lo, p); hi = pointwiseMax(hi, p) }
        return Box(min: lo, max: hi)
    }
}

/// instant-ngp's extras of a transforms.json, kept so the NeRF engine can map
/// the world frame into its unit grid (docs/conventions.md, "Cameras and the world frame").
public struct NGPTransform: Equatable, Codable {
    public var aabbScale: Double?
    public var scale: Double
    public var offset: Vector3
}

/// A sphere in world coordinates.
public struct Sphere: Equatable, Codable {
    public var center: Vector3
    public var radius: Double

    public init(center: Vector3, radius: Double) {
        self.center = center
        self.radius = radius
    }
}

/// A dataset: posed images, optional points, and what the engines need to
/// know about its frame. Images are read later (`SceneImages`).
public struct Scene {
    public enum Format: String, Codable {
        case transforms = "transforms.json", colmap = "COLMAP"
        /// NeuS/IDR: `image/`, `mask/` and `cameras_sphere.npz` (`NeuS`).
        case neus = "cameras_sphere.npz"
    }

    /// The scene folder.
    public var root: String
    public var format: Format
    /// All frames, train, test and val, sorted by name within each split file.
    public var frames: [SceneFrame]
    public var points: PointCloud?
    public var normalization: SceneNormalization
    public var ngp: NGPTransform?
    /// Where the split came from, for printing and recording.
    public var splitSource: String
    /// The sphere the dataset says holds the object (NeuS's `scale_mat`
    /// maps the unit sphere onto it), in the dataset's world frame; nil when
    /// the format has no such notion. Surface reconstruction normalises by it.
    public var regionOfInterest: Sphere?

    public var trainFrames: [SceneFrame] { frames.filter { $0.split == .train } }
    public var testFrames: [SceneFrame] { frames.filter { $0.split == .test } }

    /// Bounds of the points, else of the camera centres.
    public var bounds: Box? {
        if let points, points.count > 0 {
            let p = points.positions
            return Box.bounding(stride(from: 0, to: p.count, by: 3).map { Vector3(Double(p[$0]), Double(p[$0 + 1]), Double(p[$0 + 2])) })
        }
        return Box.bounding(frames.map(\.pose.position))
    }
}

/// How a scene is read.
public struct SceneOptions {
    /// Hold out every 8th training image (by sorted name) as test when the
    /// scene has no test split file of its own.
    public var eval: Bool
    /// A transforms.json none of whose images exist still gives its cameras
    /// (frames with `w` and `h`), for rendering a path: `splat render --cameras`.
    public var camerasWithoutImages: Bool

    public init(eval: Bool = false, camerasWithoutImages: Bool = false) {
        self.eval = eval
        self.camerasWithoutImages = camerasWithoutImages
    }
}

public enum SceneLoader {
    /// Reads the scene at `path`: a folder (COLMAP `sparse/0` or `sparse/`,
    /// transforms*.json, or NeuS's `cameras_sphere.npz`) or a transforms.json
    /// file. The format is detected.
    public static func load(_ path: String, options: SceneOptions = SceneOptions()) throws -> Scene {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw DatasetError(path, "no such file or folder")
        }
        var scene: Scene
        if !isFolder.boolValue {
            guard path.hasSuffix(".json") else {
                throw DatasetError(path, "not a scene: give a scene folder or a transforms.json file")
            }
            scene = try TransformsJSON.load(files: [(path, nil)], root: (path as NSString).deletingLastPathComponent,
                                            camerasWithoutImages: options.camerasWithoutImages)
        } else if let sparse = COLMAP.modelFolder(in: path) {
            scene = try COLMAP.load(root: path, model: sparse)
        } else if let files = TransformsJSON.files(in: path) {
            scene = try TransformsJSON.load(files: files, root: path, camerasWithoutImages: options.camerasWithoutImages)
        } else if FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent(NeuS.camerasFile)) {
            scene = try NeuS.load(root: path)
        } else {
            throw DatasetError(path, "no known scene format: expected sparse/0/ or sparse/ (COLMAP), transforms.json / transforms_train.json, or cameras_sphere.npz (NeuS)")
        }
        applyHoldout(&scene, eval: options.eval)
        if scene.frames.isEmpty { throw DatasetError(path, "the scene has no images") }
        scene.normalization = SceneNormalization.fromCameras(scene.trainFrames.map(\.pose.position))
        return scene
    }

    /// Without a test split file: with `eval`, training images sorted by name
    /// with index % 8 == 0 become test (docs/conventions.md).
    static func applyHoldout(_ scene: inout Scene, eval: Bool) {
        guard !scene.frames.contains(where: { $0.split == .test }) else { return }
        guard eval else {
            scene.splitSource = "all images train (no test split file; --eval holds out every 8th)"
            return
        }
        let order = scene.frames.indices.filter { scene.frames[$0].split == .train }
            .sorted { scene.frames[$0].name < scene.frames[$1].name }
        for (k, i) in order.enumerated() where k % 8 == 0 { scene.frames[i].split = .test }
        scene.splitSource = "--eval: every 8th image by name is test"
    }
}
