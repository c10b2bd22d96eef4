import Foundation
import Geometry

/// nerfstudio's `camera_path.json` (what its viewer's render panel exports
/// and `ns-render camera-path` reads): `render_width`, `render_height`,
/// `fps`, `seconds`, `camera_type` at the top level, and per frame in
/// `camera_path` a `camera_to_world` (16 numbers, a row-major 4x4 in OpenGL
/// axes: x right, y up, z backward), `fov` (vertical, degrees), `aspect`
/// and, for dynamic scenes, `render_time` in [0, 1].
///
/// nerfstudio's poses live in its dataparser's normalised frame;
/// `DataparserTransform` (its `dataparser_transforms.json`) maps them back
/// to the dataset's frame: normalised = scale * (transform * world).
public enum CameraPathJSON {
    /// nerfstudio's `dataparser_transforms.json`: `transform` (3x4, rows)
    /// and `scale`.
    public struct DataparserTransform: Equatable {
        public var rotation: Matrix3
        public var translation: Vector3
        public var scale: Double

        public static func read(_ path: String) throws -> DataparserTransform {
            let object = try StrictJSON.object(try RegularFile.read(path, limit: 1 << 20), path: path) as? [String: Any] ?? [:]
            guard let rows = object["transform"] as? [[Double]], rows.count >= 3, rows.prefix(3).allSatisfy({ $0.count == 4 }),
                  rows.joined().allSatisfy(\.isFinite) else {
                throw DatasetError(path, "\"transform\" must be a 3x4 (or 4x4) matrix of finite numbers")
            }
            guard let scale = object["scale"] as? Double, scale > 0, scale.isFinite else {
                throw DatasetError(path, "\"scale\" must be a positive number")
            }
            let r = Matrix3(rows: rows.prefix(3).map { Vector3($0[0], $0[1], $0[2]) })
            let det = r[0, 0] * (r[1, 1] * r[2, 2] - r[1, 2] * r[2, 1]) - r[0, 1] * (r[1, 0] * r[2, 2] - r[1, 2] * r[2, 0])
                + r[0, 2] * (r[1, 0] * r[2, 1] - r[1, 1] * r[2, 0])
            guard abs(det - 1) < 1e-3 else { throw DatasetError(path, "\"transform\"'s left 3x3 is not a rotation (determinant \(det))") }
            return DataparserTransform(rotation: r, translation: Vector3(rows[0][3], rows[1][3], rows[2][3]), scale: scale)
        }

        /// A camera-to-world rotation and position in the normalised frame -> the dataset's frame.
        func toWorld(rotation c2w: Matrix3, position p: Vector3) -> (Matrix3, Vector3) {
            let inverse = rotation.transposed
            return (inverse * c2w, inverse * (p / scale - translation))
        }

        /// The dataset's frame -> the normalised frame.
        func toNormalised(rotation c2w: Matrix3, position p: Vector3) -> (Matrix3, Vector3) {
            (rotation * c2w, (rotation * p + translation) * scale)
        }
    }

    /// The cameras of a camera path, in the dataset's frame when `dataparser` is given.
    public static func read(_ path: String, dataparser: DataparserTransform? = nil) throws -> [RenderCamera] {
        let object = try StrictJSON.object(try RegularFile.read(path, limit: 256 << 20), path: path) as? [String: Any] ?? [:]
        func positiveInt(_ key: String) throws -> Int {
            guard let v = object[key] as? Double, v >= 1, v <= 32768, v == v.rounded() else {
                throw DatasetError(path, "\"\(key)\" must be a whole number of pixels within 1...32768")
            }
            return Int(v)
        }
        let width = try positiveInt("render_width"), height = try positiveInt("render_height")
        if let type = object["camera_type"] as? String, type != "perspective" {
            throw DatasetError(path, "camera_type \"\(type)\": only perspective camera paths are rendered")
        }
        guard let frames = object["camera_path"] as? [[String: Any]], !frames.isEmpty else {
            throw DatasetError(path, "\"camera_path\" must be a non-empty list of frames")
        }
        return try frames.enumerated().map { k, frame in
            guard let m = frame["camera_to_world"] as? [Double], m.count == 16, m.allSatisfy(\.isFinite) else {
                throw DatasetError(path, "frame \(k): \"camera_to_world\" must be 16 finite numbers (a row-major 4x4)")
            }
            var rotation = Matrix3(rows: [Vector3(m[0], m[1], m[2]), Vector3(m[4], m[5], m[6]), Vector3(m[8], m[9], m[10])])
            var position = Vector3(m[3], m[7], m[11])
            // A rotation (possibly scaled uniformly, as nerfstudio's viewer never does): orthonormal columns.
            let columns = (0..<3).map { rotation.column($0) }
            let lengths = columns.map(\.length)
            guard lengths.allSatisfy({ $0 > 1e-9 }), abs(columns[0].normalized.dot(columns[1].normalized)) < 1e-3,
                  abs(columns[0].normalized.dot(columns[2].normalized)) < 1e-3, abs(columns[1].normalized.dot(columns[2].normalized)) < 1e-3
            else { throw DatasetError(path, "frame \(k): \"camera_to_world\" is not a rotation and a position") }
            rotation = Matrix3(columns: columns.map(\.normalized))
            guard let fov = frame["fov"] as? Double, fov > 0, fov < 180 else {
                throw DatasetError(path, "frame \(k): \"fov\" (vertical, degrees) must be within (0, 180), got \(String(describing: frame["fov"]))")
            }
            if let dataparser { (rotation, position) = dataparser.toWorld(rotation: rotation, position: position) }
            let aspect = (frame["aspect"] as? Double).flatMap { $0 > 0 && $0.isFinite ? $0 : nil } ?? Double(width) / Double(height)
            let fy = Double(height) / 2 / tan(fov * .pi / 360)
            // nerfstudio's intrinsics: fx = fy * (width / height) / aspect (square pixels when aspect = width / height).
            let fx = fy * (Double(width) / Double(height)) / aspect
            let time = (frame["render_time"] as? Double).map { min(max($0, 0), 1) }
            return RenderCamera(name: String(format: "path_%05d", k),
                                intrinsics: Intrinsics(width: width, height: height, fx: fx, fy: fy, cx: Double(width) / 2, cy: Double(height) / 2),
                                pose: Pose(cameraToWorldOpenGL: rotation, position: position), time: time)
        }
    }

    /// Writes `cameras` as a nerfstudio camera path (in the normalised
    /// frame when `dataparser` is given), `fps` frames per second.
    public static func write(_ cameras: [RenderCamera], to path: String, fps: Double = 30, dataparser: DataparserTransform? = nil) throws {
        guard let first = cameras.first else { throw DatasetError(path, "no cameras to write") }
        let frames: [[String: Any]] = cameras.map { c in
            // OpenCV camera-to-world -> OpenGL axes (columns 1 and 2 negated).
            let cv = c.pose.rotation.transposed
            var rotation = Matrix3(columns: [cv.column(0), -cv.column(1), -cv.column(2)]), position = c.pose.position
            if let dataparser { (rotation, position) = dataparser.toNormalised(rotation: rotation, position: position) }
            let m = [rotation[0, 0], rotation[0, 1], rotation[0, 2], position.x, rotation[1, 0], rotation[1, 1], rotation[1, 2], position.y,
                     rotation[2, 0], rotation[2, 1], rotation[2, 2], position.z, 0, 0, 0, 1]
            let k = c.intrinsics
            var frame: [String: Any] = ["camera_to_world": m, "fov": 2 * atan(Double(k.height) / 2 / k.fy) * 180 / .pi,
                                        "aspect": Double(k.width) / Double(k.height) * k.fy / k.fx]
            if let t = c.time { frame["render_time"] = t }
            return frame
        }
        let object: [String: Any] = ["camera_type": "perspective", "render_width": first.intrinsics.width, "render_height": first.intrinsics.height,
                                     "fps": fps, "seconds": Double(cameras.count) / fps, "camera_path": frames]
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]),
                             to: path)
    }
}
