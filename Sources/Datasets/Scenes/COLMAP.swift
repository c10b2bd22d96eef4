import Foundation
import Geometry

/// COLMAP sparse models (binary and text): cameras, registered images and the
/// 3D points, in COLMAP's world frame, as stored.
public enum COLMAP {
    /// COLMAP's camera models; splat reads the first five (and OPENCV_FISHEYE).
    static let modelNames = ["SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV", "OPENCV_FISHEYE",
                             "FULL_OPENCV", "FOV", "SIMPLE_RADIAL_FISHEYE", "RADIAL_FISHEYE", "THIN_PRISM_FISHEYE"]
    static let parameterCounts = [3, 4, 4, 5, 8, 8, 12, 5, 4, 5, 12]

    public struct Camera: Equatable {
        public var id: Int
        public var model: String
        public var width: Int
        public var height: Int
        public var params: [Double]
    }

    public struct Image: Equatable {
        public var id: Int
        public var rotation: Quaternion
        public var translation: Vector3
        public var cameraID: Int
        public var name: String
    }

    /// `sparse/0` or `sparse` inside `root`, when it holds a model.
    static func modelFolder(in root: String) -> String? {
        for candidate in ["sparse/0", "sparse"] {
            let folder = (root as NSString).appendingPathComponent(candidate)
            for ext in ["bin", "txt"] where FileManager.default.fileExists(atPath: "\(folder)/cameras.\(ext)") {
                return folder
            }
        }
        return nil
    }

    static func load(root: String, model: String) throws -> Scene {
        let fm = FileManager.default
        let binary = fm.fileExists(atPath: "\(model)/cameras.bin")
        let ext = binary ? "bin" : "txt"
        for file in ["cameras", "images"] where !fm.fileExists(atPath: "\(model)/\(file).\(ext)") {
            throw DatasetError("\(model)/\(file).\(ext)", "missing: a COLMAP model needs cameras, images and points3D")
        }
        let cameras = binary ? try readCamerasBinary("\(model)/cameras.bin") : try readCamerasText("\(model)/cameras.txt")
        let images = binary ? try readImagesBinary("\(model)/images.bin") : try readImagesText("\(model)/images.txt")
        let pointsPath = "\(model)/points3D.\(ext)"
        var points: PointCloud?
        if fm.fileExists(atPath: pointsPath) {
            points = binary ? try readPointsBinary(pointsPath) : try readPointsText(pointsPath)
        } else {
            Diagnostics.warn("\(pointsPath): missing; the scene has no initial points")
        }
        let byID = Dictionary(cameras.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let imageFolder = (root as NSString).appendingPathComponent("images")
        let imagesPath = "\(model)/images.\(ext)"
        var frames: [SceneFrame] = []
        var missing = 0
        for image in images.sorted(by: { $0.name < $1.name }) {
            guard let camera = byID[image.cameraID] else {
                throw DatasetError(imagesPath, "image \(image.id) (\(image.name)) refers to camera \(image.cameraID), which cameras.\(ext) does not define")
            }
            let (intrinsics, distortion) = try cameraModel(camera, path: "\(model)/cameras.\(ext)")
            let path = (imageFolder as NSString).appendingPathComponent(image.name)
            guard fm.fileExists(atPath: path) else { missing += 1; continue }
            frames.append(SceneFrame(
                name: "images/\(image.name)", imagePath: path, intrinsics: intrinsics, distortion: distortion,
                pose: Pose(rotation: image.rotation.matrix, translation: image.translation),
                time: nil, split: .train, cameraModel: camera.model))
        }
        if missing > 0 { Diagnostics.warn("\(imageFolder): \(missing) of \(images.count) registered images are missing and were skipped") }
        return Scene(root: root, format: .colmap, frames: frames, points: points,
                     normalization: SceneNormalization(center: .zero, extent: 1), ngp: nil, splitSource: "")
    }

    /// Pinhole intrinsics and distortion of a COLMAP camera.
    static func cameraModel(_ c: Camera, path: String) throws -> (Intrinsics, Distortion) {
        let p = c.params
        func pinhole(_ fx: Double, _ fy: Double, _ cx: Double, _ cy: Double) -> Intrinsics {
            Intrinsics(width: c.width, height: c.height, fx: fx, fy: fy, cx: cx, cy: cy)
        }
        switch c.model {
        case "SIMPLE_PINHOLE": return (pinhole(p[0], p[0], p[1], p[2]), .none)
        case "PINHOLE": return (pinhole(p[0], p[1], p[2], p[3]), .none)
        case "SIMPLE_RADIAL": return (pinhole(p[0], p[0], p[1], p[2]), .opencv(k1: p[3], k2: 0, k3: 0, p1: 0, p2: 0))
        case "RADIAL": return (pinhole(p[0], p[0], p[1], p[2]), .opencv(k1: p[3], k2: p[4], k3: 0, p1: 0, p2: 0))
        case "OPENCV": return (pinhole(p[0], p[1], p[2], p[3]), .opencv(k1: p[4], k2: p[5], k3: 0, p1: p[6], p2: p[7]))
        case "OPENCV_FISHEYE": return (pinhole(p[0], p[1], p[2], p[3]), .fisheye(k1: p[4], k2: p[5], k3: p[6], k4: p[7]))
        default:
            throw DatasetError(path, "camera \(c.id) uses the camera model \(c.model), which splat does not support (SIMPLE_PINHOLE, PINHOLE, SIMPLE_RADIAL, RADIAL, OPENCV, OPENCV_FISHEYE)")
        }
    }

    static func checkCamera(_ c: Camera, path: String) throws {
        guard c.width > 0, c.height > 0, c.width < 1 << 20, c.height < 1 << 20 else {
            throw DatasetError(path, "camera \(c.id) has an invalid size \(c.width)x\(c.height)")
        }
        guard c.params.allSatisfy(\.isFinite) else { throw DatasetError(path, "camera \(c.id) has non-finite parameters") }
    }

    // MARK: Binary

    static func readCamerasBinary(_ path: String) throws -> [Camera] {
        var r = try BinaryReader(path: path)
        let count = try r.read(UInt64.self, "the camera count")
        // Each camera takes at least 24 bytes + 3 doubles: a count the file cannot hold is an error before any allocation.
        guard count <= UInt64(r.remaining / 48 + 1) else {
            throw DatasetError(path, "claims \(count) cameras but holds \(r.bytes.count) bytes")
        }
        var cameras: [Camera] = []
        for k in 0..<Int(count) {
            let id = Int(try r.read(Int32.self, "camera \(k)"))
            let modelID = Int(try r.read(Int32.self, "camera \(k)"))
            let width = try r.read(UInt64.self, "camera \(k)")
            let height = try r.read(UInt64.self, "camera \(k)")
            guard modelID >= 0, modelID < modelNames.count else {
                throw DatasetError(path, "camera \(id) has an unknown model id \(modelID)")
            }
            var params: [Double] = []
            for _ in 0..<parameterCounts[modelID] { params.append(try r.readDouble("the parameters of camera \(id)")) }
            let camera = Camera(id: id, model: modelNames[modelID], width: Int(clamping: width), height: Int(clamping: height), params: params)
            try checkCamera(camera, path: path)
            cameras.append(camera)
        }
        if r.remaining != 0 { throw DatasetError(path, "\(r.remaining) bytes follow the \(count) cameras the file declares") }
        return cameras
    }

    static func readImagesBinary(_ path: String) throws -> [Image] {
        var r = try BinaryReader(path: path)
        let count = try r.read(UInt64.self, "the image count")
        guard count <= UInt64(r.remaining / 64 + 1) else {
            throw DatasetError(path, "claims \(count) images but holds \(r.bytes.count) bytes")
        }
        var images: [Image] = []
        for k in 0..<Int(count) {
            let id = Int(try r.read(Int32.self, "image \(k)"))
            var q = [Double]()
            for _ in 0..<7 { q.append(try r.readDouble("the pose of image \(id)")) }
            let cameraID = Int(try r.read(Int32.self, "image \(id)"))
            let name = try r.readCString("the name of image \(id)")
            let points2D = try r.read(UInt64.self, "the 2D point count of image \(id)")
            guard points2D <= UInt64(r.remaining / 24) else {
                throw r.truncated("the \(points2D) 2D points of image \(id)")
            }
            try r.skip(Int(points2D) * 24, "the 2D points of image \(id)")
            guard q.allSatisfy(\.isFinite) else { throw DatasetError(path, "image \(id) has a non-finite pose") }
            images.append(Image(id: id, rotation: Quaternion(w: q[0], x: q[1], y: q[2], z: q[3]),
                                translation: Vector3(q[4], q[5], q[6]), cameraID: cameraID, name: name))
        }
        if r.remaining != 0 { throw DatasetError(path, "\(r.remaining) bytes follow the \(count) images the file declares") }
        return images
    }

    static func readPointsBinary(_ path: String) throws -> PointCloud {
        var r = try BinaryReader(path: path)
        let count = try r.read(UInt64.self, "the point count")
        // 43 bytes per point without its track.
        guard count <= UInt64(r.remaining / 43) else {
            throw DatasetError(path, "claims \(count) points but holds \(r.bytes.count) bytes")
        }
        var positions: [Float] = [], colors: [UInt8] = []
        positions.reserveCapacity(Int(count) * 3)
        colors.reserveCapacity(Int(count) * 3)
        for k in 0..<Int(count) {
            _ = try r.read(UInt64.self, "point \(k)")
            for _ in 0..<3 { positions.append(Float(try r.readDouble("point \(k)"))) }
            for _ in 0..<3 { colors.append(try r.read(UInt8.self, "point \(k)")) }
            _ = try r.readDouble("point \(k)")
            let track = try r.read(UInt64.self, "the track of point \(k)")
            guard track <= UInt64(r.remaining / 8) else { throw r.truncated("the track of point \(k)") }
            try r.skip(Int(track) * 8, "the track of point \(k)")
        }
        if r.remaining != 0 { throw DatasetError(path, "\(r.remaining) bytes follow the \(count) points the file declares") }
        guard positions.allSatisfy(\.isFinite) else { throw DatasetError(path, "a point has non-finite coordinates") }
        return PointCloud(positions: positions, colors: colors)
    }

    // MARK: Text

    /// Non-comment, non-empty lines with their 1-based line numbers.
    static func lines(_ path: String) throws -> [(Int, [Substring])] {
        guard let data = FileManager.default.contents(atPath: path) else { throw DatasetError(path, "cannot read the file") }
        let text = String(decoding: data, as: UTF8.self)
        var out: [(Int, [Substring])] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            out.append((i + 1, line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })))
        }
        return out
    }

    static func number<T: LosslessStringConvertible>(_ s: Substring, _ path: String, line: Int) throws -> T {
        guard let v = T(String(s)) else { throw DatasetError(path, "line \(line): '\(s)' is not a number") }
        return v
    }

    static func readCamerasText(_ path: String) throws -> [Camera] {
        try lines(path).map { line, f in
            guard f.count >= 4 else { throw DatasetError(path, "line \(line): expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS") }
            let model = String(f[1])
            guard let index = modelNames.firstIndex(of: model) else {
                throw DatasetError(path, "line \(line): unknown camera model \(model)")
            }
            guard f.count == 4 + parameterCounts[index] else {
                throw DatasetError(path, "line \(line): \(model) takes \(parameterCounts[index]) parameters, found \(f.count - 4)")
            }
            let camera = Camera(id: try number(f[0], path, line: line), model: model,
                                width: try number(f[2], path, line: line), height: try number(f[3], path, line: line),
                                params: try f[4...].map { try number($0, path, line: line) })
            try checkCamera(camera, path: path)
            return camera
        }
    }

    static func readImagesText(_ path: String) throws -> [Image] {
        guard let data = FileManager.default.contents(atPath: path) else { throw DatasetError(path, "cannot read the file") }
        // Two lines per image; the second (2D points) may be empty, so comments
        // are dropped but empty lines are kept here.
        let all = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        let body = all.enumerated().filter { !$0.element.trimmingCharacters(in: .whitespaces).hasPrefix("#") }
        var images: [Image] = []
        var i = 0
        while i < body.count {
            let (index, text) = body[i]
            let f = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if f.isEmpty { i += 1; continue }
            let line = index + 1
            guard f.count >= 10 else { throw DatasetError(path, "line \(line): expected IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME") }
            let v: [Double] = try f[1...7].map { try number($0, path, line: line) }
            images.append(Image(id: try number(f[0], path, line: line),
                                rotation: Quaternion(w: v[0], x: v[1], y: v[2], z: v[3]),
                                translation: Vector3(v[4], v[5], v[6]),
                                cameraID: try number(f[8], path, line: line),
                                name: f[9...].joined(separator: " ")))
            i += 2  // skip the 2D points line
        }
        return images
    }

    static func readPointsText(_ path: String) throws -> PointCloud {
        var positions: [Float] = [], colors: [UInt8] = []
        for (line, f) in try lines(path) {
            guard f.count >= 8 else { throw DatasetError(path, "line \(line): expected POINT3D_ID X Y Z R G B ERROR TRACK") }
            for k in 1...3 { positions.append(try number(f[k], path, line: line)) }
            for k in 4...6 { colors.append(try number(f[k], path, line: line)) }
        }
        guard positions.allSatisfy(\.isFinite) else { throw DatasetError(path, "a point has non-finite coordinates") }
        return PointCloud(positions: positions, colors: colors)
    }
}
