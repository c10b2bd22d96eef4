import Foundation
import Geometry

/// The NeuS / IDR scene layout (DTU and BlendedMVS as NeuS distributes them):
///
///     image/000000.png ...   the images, sorted by name
///     mask/000.png ...       optional foreground masks (0 is background)
///     cameras_sphere.npz     world_mat_i, scale_mat_i (and their _inv)
///
/// Image i in sorted order uses `world_mat_i`, the projection P = K [R | t]
/// padded to 4x4, and `scale_mat_i`, which maps the unit sphere (the region
/// of interest NeuS reconstructs inside) into the world. Frames are kept in
/// the dataset's world frame like every other format (docs/conventions.md);
/// the sphere is `Scene.regionOfInterest`. Intrinsics are used as stored:
/// NeuS itself samples pixel centres at integer coordinates rather than
/// splat's half-integer ones, a half-pixel shift not corrected here, as for
/// the other formats. The arrays are read through `NPY`, as Float: exact
/// for DTU's float32 matrices, and for float64 ones a rounding that moves a
/// projected point by well under a hundredth of a pixel.
public enum NeuS {
    /// The file whose presence marks a NeuS scene folder.
    public static let camerasFile = "cameras_sphere.npz"
    static let imageExtensions: Set<String> = ["png", "jpg", "jpeg"]

    /// A projection matrix split into a pinhole camera and a pose.
    public struct Decomposition: Equatable {
        /// Focal lengths (positive) and principal point of K / K[2][2].
        public var intrinsics: Intrinsics
        /// World-to-camera, OpenCV axes (a proper rotation).
        public var pose: Pose
        /// K[0][1] / K[2][2], which `Intrinsics` cannot hold and splat's
        /// cameras drop. Calibrated cameras have next to none (DTU's is
        /// about 1e-4 pixels per unit of y / z).
        public var skew: Double
    }

    static func load(root: String) throws -> Scene {
        let npzPath = (root as NSString).appendingPathComponent(camerasFile)
        let imageFolder = (root as NSString).appendingPathComponent("image")
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: imageFolder, isDirectory: &isFolder), isFolder.boolValue else {
            throw DatasetError(imageFolder, "missing: a NeuS scene (\(camerasFile)) keeps its images in image/")
        }
        let images = try listImages(imageFolder)
        guard !images.isEmpty else { throw DatasetError(imageFolder, "holds no images (.png, .jpg)") }
        let masks = try maskTable(root: root)
        let arrays = try NPZ.read(path: npzPath)

        var frames: [SceneFrame] = []
        var sphere: (sphere: Sphere, key: String)?
        for (i, name) in images.enumerated() {
            let imagePath = (imageFolder as NSString).appendingPathComponent(name)
            let label = "image \(i) (image/\(name))"
            guard let world = arrays["world_mat_\(i)"] else {
                throw DatasetError(npzPath, "has no world_mat_\(i) for \(label)")
            }
            guard let scale = arrays["scale_mat_\(i)"] else {
                throw DatasetError(npzPath, "has no scale_mat_\(i) for \(label)")
            }
            let size = try ImageIO.readSize(path: imagePath)
            let camera = try decompose(projection: try matrix(world, key: "world_mat_\(i)", path: npzPath),
                                       width: size.width, height: size.height, key: "world_mat_\(i)", path: npzPath)
            let roi = try regionOfInterest(try matrix(scale, key: "scale_mat_\(i)", path: npzPath), key: "scale_mat_\(i)", path: npzPath)
            if let first = sphere {
                // NeuS normalises every camera by its own scale_mat but reconstructs
                // one surface: matrices that differ would mean different spheres.
                let tolerance = 1e-6 * first.sphere.radius
                guard (roi.center - first.sphere.center).length <= tolerance, abs(roi.radius - first.sphere.radius) <= tolerance else {
                    throw DatasetError(npzPath, "scale_mat_\(i) (centre \(SceneSummary.format(roi.center)), radius \(roi.radius)) differs from \(first.key) (centre \(SceneSummary.format(first.sphere.center)), radius \(first.sphere.radius)); one region of interest is expected")
                }
            } else {
                sphere = (roi, "scale_mat_\(i)")
            }
            var maskPath: String?
            if let masks {
                guard let found = masks.match(name) else {
                    throw DatasetError(imagePath, "has no mask in \(masks.folder) (expected one with the same number or stem)")
                }
                maskPath = found
            }
            frames.append(SceneFrame(name: "image/\(name)", imagePath: imagePath, intrinsics: camera.intrinsics,
                                     distortion: .none, pose: camera.pose, time: nil, split: .train,
                                     cameraModel: "PINHOLE", maskPath: maskPath))
        }
        return Scene(root: root, format: .neus, frames: frames, points: nil,
                     normalization: SceneNormalization(center: .zero, extent: 1), ngp: nil, splitSource: "",
                     regionOfInterest: sphere?.sphere)
    }

    /// The image files of `folder` sorted by name (hidden files skipped).
    static func listImages(_ folder: String) throws -> [String] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw DatasetError(folder, "cannot list the folder: \(error.localizedDescription)")
        }
        return names.filter { !$0.hasPrefix(".") && imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
    }

    /// The masks of `mask/` keyed for matching, nil when the folder is absent.
    struct MaskTable {
        let folder: String
        var byNumber: [Int: String] = [:]
        var byStem: [String: String] = [:]

        /// An all-digit stem's number: DTU names images 000000.png and masks
        /// 000.png, so numbers, not strings, pair them.
        static func number(_ stem: String) -> Int? {
            guard !stem.isEmpty, stem.count <= 18, stem.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return Int(stem)
        }

        /// The mask of image file `name`: the same number, else the same stem.
        func match(_ name: String) -> String? {
            let stem = (name as NSString).deletingPathExtension
            if let n = Self.number(stem), let path = byNumber[n] { return path }
            return byStem[stem]
        }
    }

    static func maskTable(root: String) throws -> MaskTable? {
        let folder = (root as NSString).appendingPathComponent("mask")
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else { return nil }
        var table = MaskTable(folder: folder)
        for name in try listImages(folder) {
            let stem = (name as NSString).deletingPathExtension
            let path = (folder as NSString).appendingPathComponent(name)
            if let n = MaskTable.number(stem) {
                if let other = table.byNumber[n] {
                    throw DatasetError(path, "and \((other as NSString).lastPathComponent) both number \(n): which mask belongs to the image is ambiguous")
                }
                table.byNumber[n] = path
            }
            if let other = table.byStem[stem] {
                throw DatasetError(path, "and \((other as NSString).lastPathComponent) share the stem \(stem): which mask belongs to the image is ambiguous")
            }
            table.byStem[stem] = path
        }
        return table
    }

    /// The top 3x4 of an array of shape [4, 4] or [3, 4], row-major, in
    /// Double; its values must be finite.
    static func matrix(_ array: NPY.NPYArray, key: String, path: String) throws -> [[Double]] {
        guard array.shape == [4, 4] || array.shape == [3, 4] else {
            throw DatasetError(path, "array '\(key)' has shape \(array.shape); expected [4, 4] (or [3, 4])")
        }
        guard array.values.allSatisfy({ $0.isFinite }) else {
            throw DatasetError(path, "array '\(key)' holds a value that is not finite")
        }
        return (0..<3).map { r in (0..<4).map { c in Double(array.values[r * 4 + c]) } }
    }

    /// Splits P = K [R | t] (rows of 4, the left 3x3 invertible) by an RQ
    /// decomposition of its left 3x3 M = K R.
    ///
    /// P is defined up to scale, sign included: when det M < 0, -P, which
    /// projects every point to the same pixel, is decomposed instead, so that
    /// R is a rotation and both focal lengths are positive. K is normalised so
    /// that K[2][2] = 1, and t = K⁻¹ p4 with the unnormalised K, which puts
    /// the camera centre at -M⁻¹ p4. The skew K[0][1] is returned apart:
    /// `Intrinsics` has no place for it (see `Decomposition.skew`).
    /// `projection` must hold at least three rows of at least four values
    /// (a precondition); `key` and `path` name the matrix in errors.
    public static func decompose(projection p: [[Double]], width: Int, height: Int,
                                 key: String = "projection", path: String = "<matrix>") throws -> Decomposition {
        precondition(p.count >= 3 && p.prefix(3).allSatisfy { $0.count >= 4 }, "decompose needs three rows of four")
        var rows = (0..<3).map { Vector3(p[$0][0], p[$0][1], p[$0][2]) }
        var p4 = Vector3(p[0][3], p[1][3], p[2][3])
        let scale = rows.map { $0.length }.max() ?? 0
        let determinant = Matrix3(rows: rows).determinant
        guard scale > 0, abs(determinant) > 1e-12 * scale * scale * scale else {
            throw DatasetError(path, "array '\(key)': its left 3x3 is singular, not a camera projection")
        }
        if determinant < 0 {
            rows = rows.map { -$0 }
            p4 = -p4
        }
        // Rows of M = K R from the bottom up: m3 = k33 r3, m2 = k22 r2 + k23 r3,
        // m1 = k11 r1 + k12 r2 + k13 r3 (Gram-Schmidt on the rows in reverse),
        // each diagonal entry taken positive; det M > 0 then makes R proper.
        let k33 = rows[2].length
        let r3 = rows[2] / k33
        let k23 = rows[1].dot(r3)
        let u = rows[1] - k23 * r3
        let k22 = u.length
        let r2 = u / k22
        let k13 = rows[0].dot(r3), k12 = rows[0].dot(r2)
        let w = rows[0] - k12 * r2 - k13 * r3
        let k11 = w.length
        let r1 = w / k11
        // t = K⁻¹ p4 by back substitution (K upper triangular).
        let t3 = p4.z / k33
        let t2 = (p4.y - k23 * t3) / k22
        let t1 = (p4.x - k12 * t2 - k13 * t3) / k11
        let intrinsics = Intrinsics(width: width, height: height, fx: k11 / k33, fy: k22 / k33, cx: k13 / k33, cy: k23 / k33)
        let pose = Pose(rotation: Matrix3(rows: [r1, r2, r3]), translation: Vector3(t1, t2, t3))
        let values = [intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy, t1, t2, t3]
        guard values.allSatisfy({ $0.isFinite }), intrinsics.fx > 0, intrinsics.fy > 0 else {
            throw DatasetError(path, "array '\(key)' does not decompose into a camera (focal lengths \(intrinsics.fx), \(intrinsics.fy))")
        }
        return Decomposition(intrinsics: intrinsics, pose: pose, skew: k12 / k33)
    }

    /// The sphere a `scale_mat` maps the unit sphere onto. It must be a
    /// uniform scale followed by a translation (what NeuS's preprocessing
    /// writes): a rotation or an anisotropic scale would map the unit sphere
    /// to something other than a sphere, and reconstruction would use a
    /// different region than the dataset meant.
    static func regionOfInterest(_ m: [[Double]], key: String, path: String) throws -> Sphere {
        let s = m[0][0]
        let tolerance = 1e-6 * abs(s)
        let uniform = (0..<3).allSatisfy { r in (0..<3).allSatisfy { c in abs(m[r][c] - (r == c ? s : 0)) <= tolerance } }
        guard s > 0, uniform else {
            let shown = m.map { $0.prefix(3).map { String(format: "%.6g", $0) }.joined(separator: ", ") }.joined(separator: "; ")
            throw DatasetError(path, "array '\(key)' is not a uniform scale and translation (its 3x3 is [\(shown)]); NeuS's scale_mat maps the unit sphere to a sphere")
        }
        return Sphere(center: Vector3(m[0][3], m[1][3], m[2][3]), radius: s)
    }
}
