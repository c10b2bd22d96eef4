import Foundation
import Geometry

/// One frame of a `transforms.json`, its numbers validated, before any image
/// is looked at (`TransformsJSON.decode`).
public struct TransformsFrame: Equatable {
    /// Position in the file's `frames` list (0-based), for messages.
    public var index: Int
    /// `file_path` exactly as the file gives it (relative to the json's
    /// folder, with or without extension).
    public var filePath: String
    /// Camera-to-world rotation, OpenGL axes, as stored (a rotation: checked).
    public var cameraToWorld: Matrix3
    /// Camera centre in the file's world frame.
    public var position: Vector3
    /// Image size from `w`/`h` (the frame's or the file's), nil when not
    /// given: the image's own size is used then.
    public var width: Int?
    public var height: Int?
    /// `fl_x`/`fl_y` when given.
    public var focalX: Double?
    public var focalY: Double?
    /// `camera_angle_x`/`camera_angle_y` (radians) when given.
    public var angleX: Double?
    public var angleY: Double?
    /// `cx`/`cy` when given (else the image centre).
    public var cx: Double?
    public var cy: Double?
    public var distortion: Distortion
    /// `camera_model` as given, else PINHOLE / OPENCV / OPENCV_FISHEYE as inferred.
    public var cameraModel: String
    /// `time` of dynamic scenes, in [0, 1].
    public var time: Double?

    /// World-to-camera, OpenCV axes.
    public var pose: Pose { Pose(cameraToWorldOpenGL: cameraToWorld, position: position) }

    /// "frame 3 (./images/0004.jpg)", the start of this frame's messages.
    public var label: String { "frame \(index) (\(StrictJSON.excerpt(filePath)))" }

    /// Pinhole intrinsics for an image of `width` x `height` (`w`/`h` or the
    /// image's size): focal lengths from `fl_x`/`fl_y`, else from the camera
    /// angles, one standing in for the other when only one is given.
    /// A focal length computed from a tiny angle can be absurd: it is
    /// checked like a given one (`path` names the json in the error).
    public func intrinsics(width: Int, height: Int, path: String) throws -> Intrinsics {
        let limit = TransformsJSON.maximumSize
        guard (1...limit).contains(width), (1...limit).contains(height) else {
            throw DatasetError(path, "\(label): image size \(width)x\(height) is outside 1...\(limit) pixels a side")
        }
        let w = Double(width), h = Double(height)
        let derivedX = focalX ?? angleX.map { 0.5 * w / tan(0.5 * $0) }
        let derivedY = focalY ?? angleY.map { 0.5 * h / tan(0.5 * $0) }
        guard let fx = derivedX ?? derivedY, let fy = derivedY ?? derivedX else {
            throw DatasetError(path, "\(label) lacks intrinsics: give fl_x/fl_y or camera_angle_x/y")
        }
        let bound = TransformsJSON.maximumMagnitude
        for (name, focal) in [("x", fx), ("y", fy)] where !(focal.isFinite && focal > 0 && focal <= bound) {
            throw DatasetError(path, "\(label): the focal length in \(name) is \(String(format: "%.6g", focal)) pixels, allowed above 0 up to \(TransformsJSON.boundText)")
        }
        return Intrinsics(width: width, height: height, fx: fx, fy: fy, cx: cx ?? w / 2, cy: cy ?? h / 2)
    }
}

/// A `transforms.json` read and validated without touching the filesystem.
public struct TransformsDocument: Equatable {
    public var frames: [TransformsFrame]
    /// instant-ngp's `aabb_scale`/`scale`/`offset`, when any is given.
    public var ngp: NGPTransform?
}

/// instant-ngp / NeRF-synthetic / nerfstudio `transforms.json` and its
/// `transforms_{train,val,test}.json` splits. Poses are camera-to-world in
/// OpenGL axes, kept in the file's own world frame (no scale/offset applied).
///
/// Every number is checked where it is read, because each reaches code that
/// traps or goes non-finite on a bad one: `w`/`h` become `Int` (nan, inf,
/// 1e300 or 9.3e18 would trap), and poses and intrinsics reach Float
/// arithmetic on the GPU and in neighbour searches, where 1e308 becomes
/// infinity. A bad value is one `DatasetError` naming the file, the frame
/// (index and `file_path`), the key, what is allowed and what was found.
/// JSON `null` for an optional key counts as absent.
public enum TransformsJSON {
    /// Largest `w`/`h` accepted (pixels a side).
    public static let maximumSize = 65536
    /// Largest magnitude of a pose entry, focal length, principal point,
    /// distortion coefficient, `scale`, `offset` or `aabb_scale`: far beyond
    /// any real scene, small enough that squares and products of a few stay
    /// finite in Float (which ends near 3.4e38).
    public static let maximumMagnitude = 1e6
    static let boundText = "1e6"
    /// How far the 3x3 part of `transform_matrix` may be from a rotation:
    /// the largest entry of |RᵀR - I|. Files written from 32-bit floats are
    /// within 1e-6; 0.01 accepts hand-edited, rounded files while refusing
    /// scaled, sheared or garbage matrices, which would make every render wrong.
    public static let rotationTolerance = 0.01

    /// The split files of a folder: `transforms_{train,val,test}.json` when a
    /// train or test file exists (NeRF-synthetic), else `transforms.json`.
    static func files(in folder: String) -> [(String, Split?)]? {
        let fm = FileManager.default
        let path = { (name: String) in (folder as NSString).appendingPathComponent(name) }
        var files: [(String, Split?)] = []
        let hasTrain = fm.fileExists(atPath: path("transforms_train.json"))
        if hasTrain {
            files.append((path("transforms_train.json"), .train))
        } else if fm.fileExists(atPath: path("transforms.json")) {
            files.append((path("transforms.json"), nil))
        }
        guard !files.isEmpty else { return nil }
        for split in [Split.val, .test] where fm.fileExists(atPath: path("transforms_\(split.rawValue).json")) {
            files.append((path("transforms_\(split.rawValue).json"), split))
        }
        return files
    }

    static func load(files: [(String, Split?)], root: String, camerasWithoutImages: Bool = false) throws -> Scene {
        var frames: [SceneFrame] = []
        var ngp: NGPTransform?
        var missing = 0
        for (path, split) in files {
            let (fileFrames, fileNGP, fileMissing) = try read(path, root: root, split: split ?? .train)
            frames += fileFrames
            missing += fileMissing
            if ngp == nil { ngp = fileNGP }
        }
        if frames.isEmpty && missing > 0 && camerasWithoutImages {
            // A file of cameras only (a path to render): every frame with its size given.
            for (path, split) in files { frames += try read(path, root: root, split: split ?? .train, keepMissing: true).0 }
            Diagnostics.warn("\(root): none of the \(missing) images exist; using the cameras alone (\(frames.count) with w and h)")
            missing = 0
        }
        if missing > 0 { Diagnostics.warn("\(root): \(missing) frames whose image is missing were skipped") }
        try normalizeTimes(&frames, files: files)
        let splitSource = files.count > 1
            ? files.map { ($0.0 as NSString).lastPathComponent }.joined(separator: ", ")
            : ""
        return Scene(root: root, format: .transforms, frames: frames, points: nil,
                     normalization: SceneNormalization(center: .zero, extent: 1), ngp: ngp, splitSource: splitSource)
    }

    /// Dynamic scenes: every frame has a `time` or none does (a frame
    /// without one is an error naming it and its file), and times outside
    /// [0, 1] are mapped linearly onto [0, 1] over all frames, with one
    /// warning (docs/conventions.md: time is normalised).
    static func normalizeTimes(_ frames: inout [SceneFrame], files: [(String, Split?)]) throws {
        let timed = frames.filter { $0.time != nil }.count
        guard timed > 0 else { return }
        if let untimed = frames.first(where: { $0.time == nil }) {
            let file = files.first { ($0.1 ?? .train) == untimed.split }?.0 ?? files[0].0
            throw DatasetError(file, "frame \(untimed.name) has no \"time\", but \(timed) other frame\(timed == 1 ? " has" : "s have") one: a dynamic scene needs a time on every frame")
        }
        let times = frames.compactMap(\.time)
        let lo = times.min()!, hi = times.max()!
        guard lo < 0 || hi > 1 else { return }
        let span = hi - lo
        Diagnostics.warn("\(files[0].0): frame times run from \(lo) to \(hi), outside [0, 1]; normalised to [0, 1]")
        for k in frames.indices { frames[k].time = span > 0 ? (frames[k].time! - lo) / span : 0 }
    }

    /// The frames of one file whose image exists, its instant-ngp transform,
    /// and how many frames were skipped for a missing image.
    static func read(_ path: String, root: String, split: Split, keepMissing: Bool = false) throws -> ([SceneFrame], NGPTransform?, Int) {
        let document = try decode(StrictJSON.readFile(path), path: path)
        let folder = (path as NSString).deletingLastPathComponent
        var frames: [SceneFrame] = []
        var missing = 0
        for frame in document.frames {
            let found = resolveImage(frame.filePath, folder: folder)
            guard let imagePath = found ?? (keepMissing && frame.width != nil && frame.height != nil
                                                ? (folder as NSString).appendingPathComponent(frame.filePath) : nil)
            else { missing += 1; continue }
            var width = frame.width, height = frame.height
            if width == nil || height == nil {
                let size = try ImageIO.readSize(path: imagePath)
                width = size.width
                height = size.height
            }
            guard let width, let height else { continue }
            let intrinsics = try frame.intrinsics(width: width, height: height, path: path)
            frames.append(SceneFrame(name: relativePath(imagePath, to: root), imagePath: imagePath, intrinsics: intrinsics,
                                     distortion: frame.distortion, pose: frame.pose, time: frame.time, split: split,
                                     cameraModel: frame.cameraModel, maskPath: nil))
        }
        return (frames, document.ngp, missing)
    }

    /// Parses and validates a transforms.json held in memory (`path` names it
    /// in errors). No image is read: frames lacking `w`/`h` keep them nil.
    public static func decode(_ data: Data, path: String) throws -> TransformsDocument {
        let top = try StrictJSON.parse(data, path: path)
        guard case .object = top else { throw DatasetError(path, "expected a JSON object at the top, found \(top.summary)") }
        guard let listValue = top["frames"], case .array(let list) = listValue else {
            throw DatasetError(path, "has no \"frames\" list")
        }
        let global = Keys(frame: nil, top: top, path: path, label: "")

        var ngp: NGPTransform?
        if [top["aabb_scale"], top["scale"], top["offset"]].contains(where: { $0 != nil && $0 != .null }) {
            let aabbScale = try global.number("aabb_scale", rule: .positive)
            let scale = try global.number("scale", rule: .positive) ?? 0.33
            var offset = Vector3(0.5, 0.5, 0.5)
            if let value = top["offset"], value != .null {
                let entries = try global.vector(value, key: "offset", count: 3)
                offset = Vector3(entries[0], entries[1], entries[2])
            }
            ngp = NGPTransform(aabbScale: aabbScale, scale: scale, offset: offset)
        }

        var frames: [TransformsFrame] = []
        frames.reserveCapacity(list.count)
        for (index, item) in list.enumerated() {
            guard case .object = item else {
                throw DatasetError(path, "frame \(index) must be a JSON object, found \(item.summary)")
            }
            guard let fileValue = item["file_path"], case .string(let file) = fileValue else {
                throw DatasetError(path, "frame \(index) has no \"file_path\" string")
            }
            let label = "frame \(index) (\(StrictJSON.excerpt(file)))"
            let keys = Keys(frame: item, top: top, path: path, label: label)
            let (rotation, position) = try keys.transform()
            let width = try keys.size("w"), height = try keys.size("h")
            let focalX = try keys.number("fl_x", rule: .positive), focalY = try keys.number("fl_y", rule: .positive)
            let angleX = try keys.number("camera_angle_x", rule: .angle), angleY = try keys.number("camera_angle_y", rule: .angle)
            guard focalX != nil || focalY != nil || angleX != nil || angleY != nil else {
                throw DatasetError(path, "\(label) lacks intrinsics: give fl_x/fl_y or camera_angle_x/y")
            }
            let (distortion, model) = try keys.distortion()
            let frame = TransformsFrame(index: index, filePath: file, cameraToWorld: rotation, position: position,
                                        width: width, height: height, focalX: focalX, focalY: focalY, angleX: angleX, angleY: angleY,
                                        cx: try keys.number("cx", rule: .bounded), cy: try keys.number("cy", rule: .bounded),
                                        distortion: distortion, cameraModel: model,
                                        time: try keys.number("time", rule: .bounded))
            // With the size known, the focal lengths a camera angle gives are checked now.
            if let width, let height { _ = try frame.intrinsics(width: width, height: height, path: path) }
            frames.append(frame)
        }
        return TransformsDocument(frames: frames, ngp: ngp)
    }

    /// What a number read from the file must be.
    enum Rule {
        case positive, bounded, angle, unit

        var text: String {
            switch self {
            case .positive: return "a number above 0 up to \(TransformsJSON.boundText)"
            case .bounded: return "a number from -\(TransformsJSON.boundText) to \(TransformsJSON.boundText)"
            case .angle: return "an angle in radians strictly between 0 and pi"
            case .unit: return "a number from 0 to 1"
            }
        }

        func allows(_ value: Double) -> Bool {
            guard value.isFinite else { return false }
            switch self {
            case .positive: return value > 0 && value <= TransformsJSON.maximumMagnitude
            case .bounded: return abs(value) <= TransformsJSON.maximumMagnitude
            case .angle: return value > 0 && value < Double.pi
            case .unit: return value >= 0 && value <= 1
            }
        }
    }

    /// The keys of one frame, falling back to the file's top level (the
    /// intrinsics may be given globally or per frame).
    struct Keys {
        let frame: JSONValue?
        let top: JSONValue
        let path: String
        let label: String

        /// The value of `key` (null is absent) and the label of where it was found.
        func lookup(_ key: String) -> (value: JSONValue, label: String)? {
            if let value = frame?[key], value != .null { return (value, label) }
            if let value = top[key], value != .null { return (value, "") }
            return nil
        }

        func failure(_ label: String, _ key: String, _ rule: String, _ found: String) -> DatasetError {
            DatasetError(path, (label.isEmpty ? "" : "\(label): ") + "\"\(key)\" must be \(rule), got \(found)")
        }

        /// A number (or a string holding one, as some writers give) and its text for messages.
        func numeric(_ value: JSONValue) -> (Double, String)? {
            switch value {
            case .number(let number, let text): return (number, StrictJSON.excerpt(text))
            case .string(let text): return Double(text).map { ($0, StrictJSON.quoted(text)) }
            default: return nil
            }
        }

        func describe(_ value: JSONValue) -> String {
            if case .string(let text) = value { return StrictJSON.quoted(text) }
            return value.summary.replacingOccurrences(of: "the number ", with: "")
        }

        func number(_ key: String, rule: Rule) throws -> Double? {
            guard let (value, origin) = lookup(key) else { return nil }
            guard let (number, _) = numeric(value), rule.allows(number) else {
                throw failure(origin, key, rule.text, numeric(value)?.1 ?? describe(value))
            }
            return number
        }

        /// `w`/`h`: a whole number of pixels.
        func size(_ key: String) throws -> Int? {
            guard let (value, origin) = lookup(key) else { return nil }
            let rule = "a whole number from 1 to \(TransformsJSON.maximumSize)"
            // Checked as a Double before converting: Int(nan), Int(1e300) trap.
            guard let (number, _) = numeric(value), number.isFinite, number.rounded() == number,
                  number >= 1, number <= Double(TransformsJSON.maximumSize) else {
                throw failure(origin, key, rule, numeric(value)?.1 ?? describe(value))
            }
            return Int(number)
        }

        /// A list of `count` bounded numbers.
        func vector(_ value: JSONValue, key: String, count: Int) throws -> [Double] {
            let rule = "a list of \(count) numbers from -\(TransformsJSON.boundText) to \(TransformsJSON.boundText)"
            guard case .array(let items) = value, items.count == count else {
                throw failure(label, key, rule, describe(value))
            }
            return try items.enumerated().map { position, item in
                guard let (number, _) = numeric(item), Rule.bounded.allows(number) else {
                    throw DatasetError(path, (label.isEmpty ? "" : "\(label): ")
                                       + "\"\(key)\"[\(position)] must be \(Rule.bounded.text), got \(numeric(item)?.1 ?? describe(item))")
                }
                return number
            }
        }

        /// `transform_matrix`: 3 or 4 rows of 4 bounded numbers whose upper-left 3x3 is a rotation.
        func transform() throws -> (Matrix3, Vector3) {
            let key = "transform_matrix"
            guard let value = frame?[key], value != .null else {
                throw DatasetError(path, "\(label) has no 4x4 transform_matrix")
            }
            let shape = "3 or 4 rows of 4 numbers"
            guard case .array(let rows) = value, rows.count == 3 || rows.count == 4 else {
                throw failure(label, key, shape, describe(value))
            }
            var entries: [[Double]] = []
            for (r, row) in rows.enumerated() {
                guard case .array(let items) = row, items.count == 4 else {
                    throw failure(label, key, shape, "row \(r) = \(describe(row))")
                }
                entries.append(try items.enumerated().map { c, item in
                    guard let (number, _) = numeric(item), Rule.bounded.allows(number) else {
                        throw DatasetError(path, "\(label): \"\(key)\"[\(r)][\(c)] must be \(Rule.bounded.text), got \(numeric(item)?.1 ?? describe(item))")
                    }
                    return number
                })
            }
            let rotation = Matrix3(rows: entries.prefix(3).map { Vector3($0[0], $0[1], $0[2]) })
            var deviation = 0.0
            let product = rotation.transposed * rotation
            for i in 0..<3 { for j in 0..<3 { deviation = max(deviation, abs(product[i, j] - (i == j ? 1 : 0))) } }
            guard deviation <= TransformsJSON.rotationTolerance else {
                throw DatasetError(path, "\(label): the upper-left 3x3 of \"\(key)\" must be a rotation (orthonormal within "
                                   + "\(TransformsJSON.rotationTolerance)), but RᵀR differs from the identity by \(String(format: "%.3g", deviation))")
            }
            let determinant = rotation.rows[0].dot(rotation.rows[1].cross(rotation.rows[2]))
            guard determinant > 0 else {
                throw DatasetError(path, "\(label): the upper-left 3x3 of \"\(key)\" is a reflection (determinant \(String(format: "%.3g", determinant))), not a rotation")
            }
            return (rotation, Vector3(entries[0][3], entries[1][3], entries[2][3]))
        }

        /// Lens distortion: nerfstudio's `camera_model` when present, else instant-ngp's `is_fisheye`.
        func distortion() throws -> (Distortion, String) {
            var model: String?
            if let (value, origin) = lookup("camera_model") {
                guard case .string(let name) = value else { throw failure(origin, "camera_model", "a string", describe(value)) }
                model = name
            }
            var isFisheye = false
            if let (value, origin) = lookup("is_fisheye") {
                switch value {
                case .bool(let flag): isFisheye = flag
                case .number(let number, _) where number == 0 || number == 1: isFisheye = number == 1
                default: throw failure(origin, "is_fisheye", "true or false", describe(value))
                }
            }
            let fisheye = model == "OPENCV_FISHEYE" || (model == nil && isFisheye)
            let d = { (key: String) in try number(key, rule: .bounded) ?? 0 }
            let distortion: Distortion = fisheye
                ? .fisheye(k1: try d("k1"), k2: try d("k2"), k3: try d("k3"), k4: try d("k4"))
                : .opencv(k1: try d("k1"), k2: try d("k2"), k3: try d("k3"), p1: try d("p1"), p2: try d("p2"))
            let name = model ?? (fisheye ? "OPENCV_FISHEYE" : distortion.isNone ? "PINHOLE" : "OPENCV")
            return (distortion.isNone ? .none : distortion, name)
        }
    }

    /// A frame's file_path, relative to the json's folder, with or without extension.
    static func resolveImage(_ file: String, folder: String) -> String? {
        let base = file.hasPrefix("/") ? file : (folder as NSString).appendingPathComponent(file)
        let normalized = (base as NSString).standardizingPath
        let fm = FileManager.default
        var isFolder: ObjCBool = false
        if fm.fileExists(atPath: normalized, isDirectory: &isFolder), !isFolder.boolValue { return normalized }
        for ext in ["png", "jpg", "jpeg", "PNG", "JPG", "JPEG"] where fm.fileExists(atPath: "\(normalized).\(ext)") {
            return "\(normalized).\(ext)"
        }
        return nil
    }

    static func relativePath(_ path: String, to root: String) -> String {
        let r = (root as NSString).standardizingPath
        let p = (path as NSString).standardizingPath
        return p.hasPrefix(r + "/") ? String(p.dropFirst(r.count + 1)) : p
    }
}
