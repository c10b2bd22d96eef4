import Foundation
import Geometry

/// COLMAP sparse models (binary and text): cameras, registered images and the
/// 3D points, in COLMAP's world frame, as stored.
///
/// Every value is checked where it is read, and every problem is a
/// `DatasetError` naming the file, the record (line number, camera id, image
/// id and name, point id) and what is allowed. The `decode...` functions take
/// a file's bytes and touch no file system (fuzzing entry points); the loader
/// reads each file and calls them.
public enum COLMAP {
    /// COLMAP's camera models, indexed by model id; splat reads the first six.
    static let modelNames = ["SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV", "OPENCV_FISHEYE",
                             "FULL_OPENCV", "FOV", "SIMPLE_RADIAL_FISHEYE", "RADIAL_FISHEYE", "THIN_PRISM_FISHEYE"]
    static let parameterCounts = [3, 4, 4, 5, 8, 8, 12, 5, 4, 5, 12]
    /// Models with one focal length f (parameter 0); the others have fx, fy (parameters 0 and 1).
    static let singleFocalModels: Set = ["SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL", "SIMPLE_RADIAL_FISHEYE", "RADIAL_FISHEYE"]

    /// The largest image side a camera may have, in pixels.
    public static let maximumSide = 65536
    /// The largest |component| of an image's translation. COLMAP models are
    /// in arbitrary units, but a camera a million units out is a corrupt file
    /// (and would break the float32 maths downstream), not a scene.
    public static let maximumTranslation = 1e6

    /// One camera (cameras.txt / cameras.bin).
    public struct Camera: Equatable {
        public var id: Int
        public var model: String
        public var width: Int
        public var height: Int
        public var params: [Double]
    }

    /// One registered image (images.txt / images.bin): world-to-camera
    /// rotation (w, x, y, z) and translation, its camera and file name.
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
        let camerasPath = "\(model)/cameras.\(ext)", imagesPath = "\(model)/images.\(ext)"
        let cameras = binary ? try decodeCamerasBinary(try RegularFile.read(camerasPath), path: camerasPath)
                             : try decodeCamerasText(try RegularFile.read(camerasPath), path: camerasPath)
        let images = binary ? try decodeImagesBinary(try RegularFile.read(imagesPath), path: imagesPath)
                            : try decodeImagesText(try RegularFile.read(imagesPath), path: imagesPath)
        let pointsPath = "\(model)/points3D.\(ext)"
        var points: PointCloud?
        if fm.fileExists(atPath: pointsPath) {
            let data = try RegularFile.read(pointsPath)
            points = binary ? try decodePointsBinary(data, path: pointsPath) : try decodePointsText(data, path: pointsPath)
        } else {
            Diagnostics.warn("\(pointsPath): missing; the scene has no initial points")
        }
        // Duplicate ids were refused by the decoders.
        let byID = Dictionary(cameras.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let imageFolder = (root as NSString).appendingPathComponent("images")
        var frames: [SceneFrame] = []
        var missing = 0
        for image in images.sorted(by: { $0.name < $1.name }) {
            guard let camera = byID[image.cameraID] else {
                throw DatasetError(imagesPath, "image \(image.id) (\(image.name)) refers to camera \(image.cameraID), which cameras.\(ext) does not define")
            }
            let (intrinsics, distortion) = try cameraModel(camera, path: camerasPath)
            let path = (imageFolder as NSString).appendingPathComponent(image.name)
            guard fm.fileExists(atPath: path) else { missing += 1; continue }
            frames.append(SceneFrame(
                name: "images/\(image.name)", imagePath: path, intrinsics: intrinsics, distortion: distortion,
                pose: Pose(rotation: image.rotation.matrix, translation: image.translation),
                time: nil, split: .train, cameraModel: camera.model, maskPath: nil))
        }
        if missing > 0 { Diagnostics.warn("\(imageFolder): \(missing) of \(images.count) registered images are missing and were skipped") }
        return Scene(root: root, format: .colmap, frames: frames, points: points,
                     normalization: SceneNormalization(center: .zero, extent: 1), ngp: nil, splitSource: "")
    }

    /// Pinhole intrinsics and distortion of a COLMAP camera (one that
    /// `checkCamera` accepted).
    static func cameraModel(_ c: Camera, path: String) throws -> (Intrinsics, Distortion) {
        let p = c.params
        func pinhole(_ fx: Double, _ fy: Double, _ cx: Double, _ cy: Double) -> Intrinsics {
            Intrinsics(width: c.width, height: c.height, fx: fx, fy: fy, cx: cx, cy: cy)
        }
        guard let index = modelNames.firstIndex(of: c.model), p.count == parameterCounts[index] else {
            throw DatasetError(path, "camera \(c.id): \(c.model) with \(p.count) parameters is not a COLMAP camera model")
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

    // MARK: Validation

    /// Checks a camera's size and parameters; `record` says where it is
    /// ("camera 1 (line 3)").
    static func checkCamera(_ c: Camera, record: String, path: String) throws {
        guard (1...maximumSide).contains(c.width), (1...maximumSide).contains(c.height) else {
            throw DatasetError(path, "\(record): size \(c.width)x\(c.height) is invalid; width and height must be 1...\(maximumSide)")
        }
        let (pixels, overflow) = c.width.multipliedReportingOverflow(by: c.height)
        guard !overflow, pixels <= ImageIO.maximumPixels else {
            throw DatasetError(path, "\(record): size \(c.width)x\(c.height) has more than \(ImageIO.maximumPixels) pixels")
        }
        let focalNames = singleFocalModels.contains(c.model) ? ["f"] : ["fx", "fy"]
        for (k, name) in focalNames.enumerated() where k < c.params.count {
            let f = c.params[k]
            guard f.isFinite else { throw DatasetError(path, "\(record): focal length \(name) must be a finite number, got \(f)") }
            guard f > 0 else { throw DatasetError(path, "\(record): focal length must be > 0, got \(number(f)) (\(name))") }
        }
        for (k, value) in c.params.enumerated() where !value.isFinite {
            let what = k == focalNames.count || k == focalNames.count + 1 ? "principal point" : "distortion coefficient"
            throw DatasetError(path, "\(record): \(what) (parameter \(k + 1) of \(c.model)) must be a finite number, got \(value)")
        }
    }

    /// Checks an image's pose and name; `record` says where it is.
    static func checkImage(_ image: Image, record: String, path: String) throws {
        let q = image.rotation
        guard [q.w, q.x, q.y, q.z].allSatisfy(\.isFinite) else {
            throw DatasetError(path, "\(record): rotation quaternion must be finite, got (\(q.w), \(q.x), \(q.y), \(q.z))")
        }
        // A zero (or underflowing) norm has no rotation; an overflowing one cannot be normalised.
        guard q.norm > 0, q.norm.isFinite else {
            throw DatasetError(path, "\(record): rotation quaternion must be non-zero with a finite norm, got (\(q.w), \(q.x), \(q.y), \(q.z))")
        }
        let t = image.translation
        guard [t.x, t.y, t.z].allSatisfy({ $0.isFinite && abs($0) <= maximumTranslation }) else {
            throw DatasetError(path, "\(record): translation must be finite with each component within ±\(number(maximumTranslation)), got (\(t.x), \(t.y), \(t.z))")
        }
        guard !image.name.isEmpty else { throw DatasetError(path, "\(record): the image name is empty") }
        guard !image.name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw DatasetError(path, "\(record): the image name '\(TextLines.excerpt(image.name, limit: 80))' contains control characters")
        }
    }

    /// "0" rather than "0.0" for whole numbers in messages.
    static func number(_ value: Double) -> String {
        value.isFinite && value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// The label of a camera or image in messages: "camera 3 (line 5)".
    static func label(_ what: String, _ id: Int, _ place: String) -> String { "\(what) \(id) (\(place))" }

    // MARK: Binary

    /// Decodes cameras.bin; `path` names it in errors.
    public static func decodeCamerasBinary(_ data: Data, path: String) throws -> [Camera] {
        var r = BinaryReader(data: data, path: path)
        // id (4), model (4), width (8), height (8) and at least 3 parameters (24).
        let count = try r.readCount("cameras", minimumSize: 48)
        var cameras: [Camera] = []
        cameras.reserveCapacity(count)
        var seen: Set<Int> = []
        for k in 0..<count {
            let place = "record \(k + 1)"
            let id = Int(try r.read(UInt32.self, "camera \(k + 1)"))
            let record = label("camera", id, place)
            let modelID = try r.read(Int32.self, record)
            let width = try r.read(UInt64.self, record)
            let height = try r.read(UInt64.self, record)
            guard modelID >= 0, Int(modelID) < modelNames.count else {
                throw DatasetError(path, "\(record): unknown camera model id \(modelID) (COLMAP's are 0...\(modelNames.count - 1))")
            }
            guard (1...UInt64(maximumSide)).contains(width), (1...UInt64(maximumSide)).contains(height) else {
                throw DatasetError(path, "\(record): size \(width)x\(height) is invalid; width and height must be 1...\(maximumSide)")
            }
            var params: [Double] = []
            for _ in 0..<parameterCounts[Int(modelID)] { params.append(try r.readDouble("the parameters of \(record)")) }
            let camera = Camera(id: id, model: modelNames[Int(modelID)], width: Int(width), height: Int(height), params: params)
            try checkCamera(camera, record: record, path: path)
            guard seen.insert(id).inserted else { throw DatasetError(path, "\(record): camera \(id) is defined twice") }
            cameras.append(camera)
        }
        if r.remaining != 0 { throw DatasetError(path, "\(r.remaining) bytes follow the \(count) cameras the file declares") }
        return cameras
    }

    /// Decodes images.bin; `path` names it in errors.
    public static func decodeImagesBinary(_ data: Data, path: String) throws -> [Image] {
        var r = BinaryReader(data: data, path: path)
        // id (4), pose (56), camera id (4), name (at least its NUL) and 2D point count (8).
        let count = try r.readCount("images", minimumSize: 73)
        var images: [Image] = []
        images.reserveCapacity(count)
        var seen: Set<Int> = []
        for k in 0..<count {
            let id = Int(try r.read(UInt32.self, "image \(k + 1)"))
            var pose = [Double]()
            for _ in 0..<7 { pose.append(try r.readDouble("the pose of image \(id)")) }
            let cameraID = Int(try r.read(UInt32.self, "the camera id of image \(id)"))
            let name = try r.readCString("the name of image \(id)")
            let record = "image \(id) (\(TextLines.excerpt(name, limit: 80)), record \(k + 1))"
            let points2D = try r.read(UInt64.self, "the 2D point count of \(record)")
            // x (8), y (8) and point id (8) each.
            guard points2D <= UInt64(r.remaining / 24) else {
                throw r.truncated("the \(points2D) 2D points of \(record)")
            }
            try r.skip(Int(points2D) * 24, "the 2D points of \(record)")
            let image = Image(id: id, rotation: Quaternion(w: pose[0], x: pose[1], y: pose[2], z: pose[3]),
                              translation: Vector3(pose[4], pose[5], pose[6]), cameraID: cameraID, name: name)
            try checkImage(image, record: record, path: path)
            guard seen.insert(id).inserted else { throw DatasetError(path, "\(record): image id \(id) appears twice") }
            images.append(image)
        }
        if r.remaining != 0 { throw DatasetError(path, "\(r.remaining) bytes follow the \(count) images the file declares") }
        return images
    }

    /// Decodes points3D.bin; `path` names it in errors.
    public static func decodePointsBinary(_ data: Data, path: String) throws -> PointCloud {
        var r = BinaryReader(data: data, path: path)
        // id (8), xyz (24), rgb (3), error (8), track length (8).
        let count = try r.readCount("points", minimumSize: 51)
        var positions: [Float] = [], colors: [UInt8] = []
        positions.reserveCapacity(count * 3)
        colors.reserveCapacity(count * 3)
        for k in 0..<count {
            let id = try r.read(UInt64.self, "point \(k + 1)")
            let record = "point \(id) (record \(k + 1))"
            let xyz = [try r.readDouble(record), try r.readDouble(record), try r.readDouble(record)]
            try appendPosition(xyz, to: &positions, record: record, path: path)
            for _ in 0..<3 { colors.append(try r.read(UInt8.self, record)) }
            _ = try r.readDouble(record)  // reprojection error, unused
            let track = try r.read(UInt64.self, "the track length of \(record)")
            // image id (4) and 2D point index (4) each.
            guard track <= UInt64(r.remaining / 8) else { throw r.truncated("the \(track) track entries of \(record)") }
            try r.skip(Int(track) * 8, "the track of \(record)")
        }
        if r.remaining != 0 { throw DatasetError(path, "\(r.remaining) bytes follow the \(count) points the file declares") }
        return PointCloud(positions: positions, colors: colors)
    }

    /// Appends a point's coordinates as float32, refusing ones that are not
    /// finite there (NaN, infinity, or beyond float32's range).
    static func appendPosition(_ xyz: [Double], to positions: inout [Float], record: String, path: String) throws {
        let single = xyz.map { Float($0) }
        guard single.allSatisfy(\.isFinite) else {
            throw DatasetError(path, "\(record): coordinates must be finite numbers within float32's range (±3.4e38), got (\(xyz[0]), \(xyz[1]), \(xyz[2]))")
        }
        positions += single
    }

    // MARK: Text

    /// Fields of the non-comment, non-empty lines with their 1-based line numbers.
    static func records(_ data: Data) -> [(line: Int, fields: [Substring])] {
        TextLines.split(data).compactMap { line in
            let fields = line.text.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = fields.first, !first.hasPrefix("#") else { return nil }
            return (line.number, fields)
        }
    }

    /// A field parsed as `T`, or an error naming the line, the field and what was expected.
    static func field<T: LosslessStringConvertible>(_ text: Substring, _ name: String, _ expected: String,
                                                    _ path: String, line: Int) throws -> T {
        guard let value = T(String(text)) else {
            throw DatasetError(path, "line \(line): \(name) '\(TextLines.excerpt(text))' is not \(expected)")
        }
        return value
    }

    /// An id: an integer in 0...UInt32.max, as COLMAP's camera and image ids are.
    static func identifier(_ text: Substring, _ name: String, _ path: String, line: Int) throws -> Int {
        let value: UInt32 = try field(text, name, "an integer in 0...\(UInt32.max)", path, line: line)
        return Int(value)
    }

    /// Decodes cameras.txt (`CAMERA_ID MODEL WIDTH HEIGHT PARAMS[]` per line);
    /// `path` names it in errors.
    public static func decodeCamerasText(_ data: Data, path: String) throws -> [Camera] {
        var seen: [Int: Int] = [:]  // camera id: line
        return try records(data).map { line, f in
            guard f.count >= 4 else {
                throw DatasetError(path, "line \(line): expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS[], found \(f.count) field\(f.count == 1 ? "" : "s")")
            }
            let id = try identifier(f[0], "camera id", path, line: line)
            let record = label("camera", id, "line \(line)")
            let model = String(f[1])
            guard let index = modelNames.firstIndex(of: model) else {
                throw DatasetError(path, "\(record): unknown camera model '\(TextLines.excerpt(model))' (COLMAP's are \(modelNames.joined(separator: ", ")))")
            }
            guard f.count == 4 + parameterCounts[index] else {
                throw DatasetError(path, "\(record): \(model) takes \(parameterCounts[index]) parameters, found \(f.count - 4)")
            }
            let sizeRange = "an integer in 1...\(maximumSide)"
            let width: Int = try field(f[2], "width", sizeRange, path, line: line)
            let height: Int = try field(f[3], "height", sizeRange, path, line: line)
            let params: [Double] = try f[4...].map { try field($0, "parameter", "a number", path, line: line) }
            let camera = Camera(id: id, model: model, width: width, height: height, params: params)
            try checkCamera(camera, record: record, path: path)
            if let first = seen.updateValue(line, forKey: id) {
                throw DatasetError(path, "\(record): camera \(id) is defined twice (lines \(first) and \(line))")
            }
            return camera
        }
    }

    /// Decodes images.txt (two lines per image: `IMAGE_ID QW QX QY QZ TX TY TZ
    /// CAMERA_ID NAME`, then its 2D points, which are skipped); `path` names it in errors.
    public static func decodeImagesText(_ data: Data, path: String) throws -> [Image] {
        // The second line of an image (its 2D points) may be empty, so comments
        // are dropped but empty lines are kept here.
        let body = TextLines.split(data).filter { !$0.text.drop(while: { $0 == " " || $0 == "\t" }).hasPrefix("#") }
        var images: [Image] = []
        var seen: [Int: Int] = [:]  // image id: line
        var i = 0
        while i < body.count {
            let line = body[i].number
            let f = body[i].text.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if f.isEmpty { i += 1; continue }
            guard f.count >= 10 else {
                throw DatasetError(path, "line \(line): expected IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME, found \(f.count) field\(f.count == 1 ? "" : "s")")
            }
            let id = try identifier(f[0], "image id", path, line: line)
            let names = ["QW", "QX", "QY", "QZ", "TX", "TY", "TZ"]
            let v: [Double] = try (1...7).map { try field(f[$0], names[$0 - 1], "a number", path, line: line) }
            let cameraID = try identifier(f[8], "camera id", path, line: line)
            let name = f[9...].joined(separator: " ")
            let image = Image(id: id, rotation: Quaternion(w: v[0], x: v[1], y: v[2], z: v[3]),
                              translation: Vector3(v[4], v[5], v[6]), cameraID: cameraID, name: name)
            let record = "image \(id) (\(TextLines.excerpt(name, limit: 80)), line \(line))"
            try checkImage(image, record: record, path: path)
            if let first = seen.updateValue(line, forKey: id) {
                throw DatasetError(path, "\(record): image id \(id) appears twice (lines \(first) and \(line))")
            }
            images.append(image)
            i += 2  // skip the 2D points line
        }
        return images
    }

    /// Decodes points3D.txt (`POINT3D_ID X Y Z R G B ERROR TRACK[]` per line);
    /// `path` names it in errors.
    public static func decodePointsText(_ data: Data, path: String) throws -> PointCloud {
        var positions: [Float] = [], colors: [UInt8] = []
        for (line, f) in records(data) {
            guard f.count >= 8 else {
                throw DatasetError(path, "line \(line): expected POINT3D_ID X Y Z R G B ERROR TRACK[], found \(f.count) field\(f.count == 1 ? "" : "s")")
            }
            let id: UInt64 = try field(f[0], "point id", "an integer in 0...\(UInt64.max)", path, line: line)
            let record = "point \(id) (line \(line))"
            let xyz: [Double] = try (1...3).map { try field(f[$0], ["X", "Y", "Z"][$0 - 1], "a number", path, line: line) }
            try appendPosition(xyz, to: &positions, record: record, path: path)
            for k in 4...6 {
                colors.append(try field(f[k], ["R", "G", "B"][k - 4], "an integer in 0...255", path, line: line))
            }
        }
        return PointCloud(positions: positions, colors: colors)
    }
}
