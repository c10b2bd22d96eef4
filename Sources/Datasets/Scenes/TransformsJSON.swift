import Foundation
import Geometry

/// instant-ngp / NeRF-synthetic / nerfstudio `transforms.json` and its
/// `transforms_{train,val,test}.json` splits. Poses are camera-to-world in
/// OpenGL axes, kept in the file's own world frame (no scale/offset applied).
public enum TransformsJSON {
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

    static func load(files: [(String, Split?)], root: String) throws -> Scene {
        var frames: [SceneFrame] = []
        var ngp: NGPTransform?
        var missing = 0
        for (path, split) in files {
            let (fileFrames, fileNGP, fileMissing) = try read(path, root: root, split: split ?? .train)
            frames += fileFrames
            missing += fileMissing
            if ngp == nil { ngp = fileNGP }
        }
        if missing > 0 { Diagnostics.warn("\(root): \(missing) frames whose image is missing were skipped") }
        let splitSource = files.count > 1
            ? files.map { ($0.0 as NSString).lastPathComponent }.joined(separator: ", ")
            : ""
        return Scene(root: root, format: .transforms, frames: frames, points: nil,
                     normalization: SceneNormalization(center: .zero, extent: 1), ngp: ngp, splitSource: splitSource)
    }

    /// Intrinsics keys that may be global or per frame.
    struct CameraKeys {
        var values: [String: Any]
        func double(_ key: String) -> Double? {
            if let n = values[key] as? NSNumber { return n.doubleValue }
            if let s = values[key] as? String { return Double(s) }
            return nil
        }
    }

    static func read(_ path: String, root: String, split: Split) throws -> ([SceneFrame], NGPTransform?, Int) {
        guard let data = FileManager.default.contents(atPath: path) else { throw DatasetError(path, "cannot read the file") }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw DatasetError(path, "not valid JSON (\(error.localizedDescription))")
        }
        guard let top = object as? [String: Any] else { throw DatasetError(path, "expected a JSON object at the top") }
        guard let list = top["frames"] as? [[String: Any]] else { throw DatasetError(path, "has no \"frames\" list") }
        let global = CameraKeys(values: top)
        let folder = (path as NSString).deletingLastPathComponent

        var ngp: NGPTransform?
        if top["aabb_scale"] != nil || top["scale"] != nil || top["offset"] != nil {
            let offset = (top["offset"] as? [NSNumber])?.map(\.doubleValue) ?? [0.5, 0.5, 0.5]
            ngp = NGPTransform(aabbScale: global.double("aabb_scale"), scale: global.double("scale") ?? 0.33,
                               offset: offset.count == 3 ? Vector3(offset[0], offset[1], offset[2]) : Vector3(0.5, 0.5, 0.5))
        }

        var frames: [SceneFrame] = []
        var missing = 0
        for (index, frame) in list.enumerated() {
            guard let file = frame["file_path"] as? String else { throw DatasetError(path, "frame \(index) has no file_path") }
            guard let imagePath = resolveImage(file, folder: folder) else { missing += 1; continue }
            guard let m = frame["transform_matrix"] as? [[Any]], m.count >= 3, m.allSatisfy({ $0.count >= 4 }) else {
                throw DatasetError(path, "frame \(index) (\(file)) has no 4x4 transform_matrix")
            }
            let v = try m.prefix(3).map { row in try row.prefix(4).map { value -> Double in
                guard let n = value as? NSNumber, n.doubleValue.isFinite else {
                    throw DatasetError(path, "frame \(index) (\(file)): transform_matrix holds a non-number")
                }
                return n.doubleValue
            } }
            let rotation = Matrix3(rows: v.map { Vector3($0[0], $0[1], $0[2]) })
            let position = Vector3(v[0][3], v[1][3], v[2][3])
            let keys = CameraKeys(values: global.values.merging(frame) { $1 })
            let (intrinsics, distortion, model) = try camera(keys, imagePath: imagePath, path: path, frame: index)
            let name = relativePath(imagePath, to: root)
            frames.append(SceneFrame(name: name, imagePath: imagePath, intrinsics: intrinsics, distortion: distortion,
                                     pose: Pose(cameraToWorldOpenGL: rotation, position: position),
                                     time: keys.double("time"), split: split, cameraModel: model))
        }
        return (frames, ngp, missing)
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

    static func camera(_ k: CameraKeys, imagePath: String, path: String, frame: Int) throws -> (Intrinsics, Distortion, String) {
        var width = k.double("w").map { Int($0) }
        var height = k.double("h").map { Int($0) }
        if width == nil || height == nil {
            let size = try ImageIO.readSize(path: imagePath)
            width = size.width
            height = size.height
        }
        let w = Double(width!), h = Double(height!)
        var fx = k.double("fl_x")
        if fx == nil, let angle = k.double("camera_angle_x") { fx = 0.5 * w / tan(0.5 * angle) }
        var fy = k.double("fl_y")
        if fy == nil, let angle = k.double("camera_angle_y") { fy = 0.5 * h / tan(0.5 * angle) }
        guard let focalX = fx ?? fy else {
            throw DatasetError(path, "frame \(frame) lacks intrinsics: give fl_x/fl_y or camera_angle_x/y")
        }
        let intrinsics = Intrinsics(width: width!, height: height!, fx: focalX, fy: fy ?? focalX,
                                    cx: k.double("cx") ?? w / 2, cy: k.double("cy") ?? h / 2)
        guard [intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy].allSatisfy({ $0.isFinite }), intrinsics.fx > 0, intrinsics.fy > 0 else {
            throw DatasetError(path, "frame \(frame) has invalid intrinsics (focal \(intrinsics.fx), \(intrinsics.fy))")
        }
        let d = { (key: String) in k.double(key) ?? 0 }
        let model = k.values["camera_model"] as? String
        let fisheye = model == "OPENCV_FISHEYE" || (model == nil && (k.values["is_fisheye"] as? Bool ?? false))
        let distortion: Distortion = fisheye
            ? .fisheye(k1: d("k1"), k2: d("k2"), k3: d("k3"), k4: d("k4"))
            : .opencv(k1: d("k1"), k2: d("k2"), k3: d("k3"), p1: d("p1"), p2: d("p2"))
        let name = model ?? (fisheye ? "OPENCV_FISHEYE" : distortion.isNone ? "PINHOLE" : "OPENCV")
        return (intrinsics, distortion.isNone ? .none : distortion, name)
    }
}
