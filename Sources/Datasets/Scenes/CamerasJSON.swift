import Foundation
import Geometry

/// One entry of `cameras.json` (docs/conventions.md, "Training output folder").
///
/// The file uses the original 3DGS layout, so 3DGS tools read it: `id`,
/// `img_name`, `width`, `height`, `position` (camera centre in world
/// coordinates), `rotation` (camera-to-world, three rows, OpenCV camera
/// axes), `fx`, `fy`; plus splat's `cx`, `cy`, `split` and, for dynamic
/// scenes, `time`. A 3DGS file lacks the additions: `cx`/`cy` default to the
/// image centre and `split` to train.
///
/// Files splat wrote before this layout name the image `name` and hold the
/// world-to-camera rotation (rows) under `rotation`; an entry without
/// `img_name` is read that way, so old output folders keep working. In
/// memory `rotation` is always camera-to-world rows.
public struct CameraEntry: Codable, Equatable {
    public var id: Int
    /// The image's name (`img_name` in the file).
    public var name: String
    public var width: Int
    public var height: Int
    public var fx: Double
    public var fy: Double
    public var cx: Double
    public var cy: Double
    /// Camera-to-world rotation, rows (OpenCV camera axes).
    public var rotation: [[Double]]
    /// Camera centre in world coordinates.
    public var position: [Double]
    public var split: Split
    public var time: Double?

    public init(id: Int, name: String, intrinsics: Intrinsics, pose: Pose, split: Split, time: Double? = nil) {
        self.id = id
        self.name = name
        width = intrinsics.width
        height = intrinsics.height
        fx = intrinsics.fx
        fy = intrinsics.fy
        cx = intrinsics.cx
        cy = intrinsics.cy
        rotation = pose.rotation.transposed.rows.map { [$0.x, $0.y, $0.z] }
        let p = pose.position
        position = [p.x, p.y, p.z]
        self.split = split
        self.time = time
    }

    public var intrinsics: Intrinsics { Intrinsics(width: width, height: height, fx: fx, fy: fy, cx: cx, cy: cy) }

    /// World-to-camera pose (OpenCV axes). The entry must be validated (3x3
    /// rotation, 3-vector position; `CamerasJSON.decode` does): a malformed
    /// one gives the identity pose at the origin rather than trapping.
    public var pose: Pose {
        guard rotation.count == 3, rotation.allSatisfy({ $0.count == 3 }), position.count == 3 else {
            return Pose(rotation: .identity, translation: .zero)
        }
        let cameraToWorld = Matrix3(rows: rotation.map { Vector3($0[0], $0[1], $0[2]) })
        return Pose(position: Vector3(position[0], position[1], position[2]), cameraToWorld: cameraToWorld)
    }

    enum CodingKeys: String, CodingKey {
        case id, imageName = "img_name", name, width, height, fx, fy, cx, cy, rotation, position, split, time
    }

    public init(from decoder: Decoder) throws {
        let keys = try decoder.container(keyedBy: CodingKeys.self)
        id = try keys.decode(Int.self, forKey: .id)
        width = try keys.decode(Int.self, forKey: .width)
        height = try keys.decode(Int.self, forKey: .height)
        fx = try keys.decode(Double.self, forKey: .fx)
        fy = try keys.decode(Double.self, forKey: .fy)
        cx = try keys.decodeIfPresent(Double.self, forKey: .cx) ?? Double(width) / 2
        cy = try keys.decodeIfPresent(Double.self, forKey: .cy) ?? Double(height) / 2
        position = try keys.decode([Double].self, forKey: .position)
        split = try keys.decodeIfPresent(Split.self, forKey: .split) ?? .train
        time = try keys.decodeIfPresent(Double.self, forKey: .time)
        let rows = try keys.decode([[Double]].self, forKey: .rotation)
        if keys.contains(.imageName) || !keys.contains(.name) {
            name = try keys.decode(String.self, forKey: .imageName)
            rotation = rows
        } else {
            // Older splat layout: `name`, and world-to-camera rows.
            name = try keys.decode(String.self, forKey: .name)
            let square = rows.count == 3 && rows.allSatisfy { $0.count == 3 }
            rotation = square ? (0..<3).map { column in rows.map { $0[column] } } : rows
        }
    }

    public func encode(to encoder: Encoder) throws {
        var keys = encoder.container(keyedBy: CodingKeys.self)
        try keys.encode(id, forKey: .id)
        try keys.encode(name, forKey: .imageName)
        try keys.encode(width, forKey: .width)
        try keys.encode(height, forKey: .height)
        try keys.encode(position, forKey: .position)
        try keys.encode(rotation, forKey: .rotation)
        try keys.encode(fx, forKey: .fx)
        try keys.encode(fy, forKey: .fy)
        try keys.encode(cx, forKey: .cx)
        try keys.encode(cy, forKey: .cy)
        try keys.encode(split, forKey: .split)
        try keys.encodeIfPresent(time, forKey: .time)
    }

    /// Throws unless every number is usable: finite, `width`/`height` in
    /// 1...65536, `fx`/`fy` above 0 and `cx`/`cy`/`position` within 1e6
    /// (the bounds of `TransformsJSON`), `rotation` a rotation (3x3,
    /// orthonormal within 0.01, determinant positive), `time` in [0, 1].
    /// `index` and `path` name the entry and the file in the message.
    public func validate(index: Int, path: String) throws {
        let label = "camera \(index) (\(StrictJSON.quoted(name)))"
        func refuse(_ key: String, _ rule: String, _ found: String) -> DatasetError {
            DatasetError(path, "\(label): \"\(key)\" must be \(rule), got \(found)")
        }
        let bound = TransformsJSON.maximumMagnitude, limit = TransformsJSON.maximumSize
        for (key, value) in [("width", width), ("height", height)] where !(1...limit).contains(value) {
            throw refuse(key, "a whole number from 1 to \(limit)", "\(value)")
        }
        for (key, value) in [("fx", fx), ("fy", fy)] where !(value.isFinite && value > 0 && value <= bound) {
            throw refuse(key, "a number above 0 up to \(TransformsJSON.boundText)", "\(value)")
        }
        let bounded = "a number from -\(TransformsJSON.boundText) to \(TransformsJSON.boundText)"
        for (key, value) in [("cx", cx), ("cy", cy)] where !(value.isFinite && abs(value) <= bound) {
            throw refuse(key, bounded, "\(value)")
        }
        guard position.count == 3 else { throw refuse("position", "a list of 3 numbers", "\(position.count) numbers") }
        for (k, value) in position.enumerated() where !(value.isFinite && abs(value) <= bound) {
            throw DatasetError(path, "\(label): \"position\"[\(k)] must be \(bounded), got \(value)")
        }
        if let time, !(time.isFinite && time >= 0 && time <= 1) { throw refuse("time", "a number from 0 to 1", "\(time)") }
        guard rotation.count == 3, rotation.allSatisfy({ $0.count == 3 }) else {
            throw refuse("rotation", "3 rows of 3 numbers", "\(rotation.count) rows of \(rotation.map { "\($0.count)" }.joined(separator: ", ")) numbers")
        }
        let matrix = Matrix3(rows: rotation.map { Vector3($0[0], $0[1], $0[2]) })
        let product = matrix.transposed * matrix
        var deviation = 0.0
        for i in 0..<3 { for j in 0..<3 { deviation = max(deviation, abs(product[i, j] - (i == j ? 1 : 0))) } }
        let determinant = matrix.rows[0].dot(matrix.rows[1].cross(matrix.rows[2]))
        guard deviation.isFinite, deviation <= TransformsJSON.rotationTolerance, determinant > 0 else {
            throw DatasetError(path, "\(label): \"rotation\" must be a rotation (orthonormal within \(TransformsJSON.rotationTolerance), "
                               + "determinant +1), but RᵀR differs from the identity by \(String(format: "%.3g", deviation)) "
                               + "and the determinant is \(String(format: "%.3g", determinant))")
        }
    }
}

/// Reading and writing `cameras.json`.
public enum CamerasJSON {
    public static func write(_ entries: [CameraEntry], to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try AtomicFile.write(try encoder.encode(entries), to: path)
    }

    /// Reads and validates a cameras.json (either layout; see `CameraEntry`).
    public static func read(_ path: String) throws -> [CameraEntry] {
        try decode(StrictJSON.readFile(path), path: path)
    }

    /// Parses and validates a cameras.json held in memory; `path` names it in errors.
    public static func decode(_ data: Data, path: String) throws -> [CameraEntry] {
        let entries = try StrictJSON.decode([CameraEntry].self, from: data, path: path)
        for (index, entry) in entries.enumerated() { try entry.validate(index: index, path: path) }
        return entries
    }

    /// The entries of loaded frames (after undistortion and downscaling).
    public static func entries(_ frames: [LoadedFrame]) -> [CameraEntry] {
        frames.enumerated().map { i, f in
            CameraEntry(id: i, name: f.frame.name, intrinsics: f.intrinsics, pose: f.frame.pose, split: f.frame.split, time: f.frame.time)
        }
    }
}

/// A camera to render from: intrinsics and pose (and a time for dynamic scenes).
public struct RenderCamera: Equatable {
    public var name: String
    public var intrinsics: Intrinsics
    public var pose: Pose
    public var time: Double?

    public init(name: String, intrinsics: Intrinsics, pose: Pose, time: Double? = nil) {
        self.name = name
        self.intrinsics = intrinsics
        self.pose = pose
        self.time = time
    }
}

/// Camera paths for render and view.
public enum CameraPaths {
    /// The cameras of a scene (any transforms.json variant or COLMAP) for one
    /// split, with their undistorted pinhole intrinsics at `downscale`.
    public static func cameras(of scene: Scene, split: Split?, downscale: Int = 1) throws -> [RenderCamera] {
        try scene.frames.filter { split == nil || $0.split == split }.map { f in
            RenderCamera(name: f.name, intrinsics: try SceneImages.intrinsics(of: f, downscale: downscale), pose: f.pose, time: f.time)
        }
    }

    /// `count` cameras on a circle around `center` (docs/conventions.md `--orbit`):
    /// radius and height from the training cameras when given (mean distance
    /// in the plane normal to `up`, mean height above the centre), looking at
    /// the centre, with the mean camera up.
    public static func orbit(count: Int, center: Vector3, up: Vector3, radius: Double, height: Double,
                             intrinsics: Intrinsics) -> [RenderCamera] {
        let u = up.normalized
        // A basis of the orbit's plane.
        let helper = abs(u.x) < 0.9 ? Vector3(1, 0, 0) : Vector3(0, 1, 0)
        let a = u.cross(helper).normalized, b = u.cross(a)
        return (0..<count).map { k in
            let angle = 2 * Double.pi * Double(k) / Double(max(count, 1))
            let position = center + u * height + (a * cos(angle) + b * sin(angle)) * radius
            return RenderCamera(name: String(format: "orbit_%05d", k), intrinsics: intrinsics,
                                pose: lookAt(from: position, to: center, up: u))
        }
    }

    /// An orbit fitted to a scene's training cameras.
    public static func orbit(count: Int, around poses: [Pose], center: Vector3, intrinsics: Intrinsics) -> [RenderCamera] {
        let up = poses.map(\.up).reduce(Vector3.zero, +).normalized
        let offsets = poses.map { $0.position - center }
        let heights = offsets.map { $0.dot(up) }
        let height = heights.reduce(0, +) / Double(max(heights.count, 1))
        let radius = offsets.map { ($0 - up * $0.dot(up)).length }.reduce(0, +) / Double(max(offsets.count, 1))
        return orbit(count: count, center: center, up: up.length > 0 ? up : Vector3(0, 0, 1),
                     radius: radius > 0 ? radius : 1, height: height, intrinsics: intrinsics)
    }

    /// A camera at `from` looking at `to`, with image "up" along `up`.
    public static func lookAt(from: Vector3, to: Vector3, up: Vector3) -> Pose {
        let forward = (to - from).normalized
        // OpenCV axes: right = down x forward, with down opposite to `up`.
        var right = forward.cross(up).normalized
        if right.length == 0 { right = forward.cross(Vector3(1, 0, 0)).normalized }
        let down = forward.cross(right)
        // OpenCV axes: x right, y down, z forward.
        return Pose(position: from, cameraToWorld: Matrix3(columns: [right, down, forward]))
    }

    /// A smooth path through `poses` in order: Catmull-Rom through the camera
    /// centres and normalised-lerp between rotations, `perSegment` frames
    /// between consecutive cameras.
    public static func smooth(through cameras: [RenderCamera], perSegment: Int) -> [RenderCamera] {
        guard cameras.count > 1, perSegment > 0 else { return cameras }
        var out: [RenderCamera] = []
        let n = cameras.count
        for s in 0..<(n - 1) {
            let p0 = cameras[max(s - 1, 0)].pose.position, p1 = cameras[s].pose.position
            let p2 = cameras[s + 1].pose.position, p3 = cameras[min(s + 2, n - 1)].pose.position
            var q1 = Quaternion(matrix: cameras[s].pose.rotation)
            let q2 = Quaternion(matrix: cameras[s + 1].pose.rotation)
            if q1.w * q2.w + q1.x * q2.x + q1.y * q2.y + q1.z * q2.z < 0 { q1 = Quaternion(w: -q1.w, x: -q1.x, y: -q1.y, z: -q1.z) }
            for k in 0..<perSegment {
                let t = Double(k) / Double(perSegment)
                let t2 = t * t, t3 = t2 * t
                // Catmull-Rom: 0.5 (2 p1 + (p2 - p0) t + (2 p0 - 5 p1 + 4 p2 - p3) t^2 + (3 p1 - p0 - 3 p2 + p3) t^3)
                let a: Vector3 = p1 * 2
                let b: Vector3 = (p2 - p0) * t
                let c2: Vector3 = p0 * 2 - p1 * 5
                let c: Vector3 = (c2 + p2 * 4 - p3) * t2
                let d3: Vector3 = p1 * 3 - p0
                let d: Vector3 = (d3 - p2 * 3 + p3) * t3
                let position: Vector3 = (a + b + c + d) * 0.5
                let q = Quaternion(w: q1.w + (q2.w - q1.w) * t, x: q1.x + (q2.x - q1.x) * t,
                                   y: q1.y + (q2.y - q1.y) * t, z: q1.z + (q2.z - q1.z) * t).normalized
                let rotation = q.matrix
                out.append(RenderCamera(name: String(format: "path_%05d", out.count), intrinsics: cameras[s].intrinsics,
                                        pose: Pose(rotation: rotation, translation: -(rotation * position))))
            }
        }
        var last = cameras[n - 1]
        last.name = String(format: "path_%05d", out.count)
        out.append(last)
        return out
    }
}
