@testable import Datasets
import Foundation
import Geometry
import XCTest

/// The NeuS/IDR layout: the stored-zip npz reader, the decomposition of
/// world_mat, scale_mat as the region of interest, masks, and bad input.
final class NeuSTests: TemporaryFolderTestCase {
    // MARK: Helpers

    /// A zip of stored entries as `np.savez` writes it (without zip64);
    /// `method` is written into the headers as it is, to fake other methods.
    static func zip(_ entries: [(String, Data)], method: UInt16 = 0) -> Data {
        var out = Data(), directory = Data()
        func u16(_ v: Int, _ d: inout Data) { d.append(contentsOf: [UInt8(v & 0xff), UInt8(v >> 8 & 0xff)]) }
        func u32(_ v: UInt32, _ d: inout Data) { for k in 0..<4 { d.append(UInt8(v >> (8 * UInt32(k)) & 0xff)) } }
        for (name, data) in entries {
            let crc = ZipArchive.crc32([UInt8](data)[...])
            let offset = UInt32(out.count), nameBytes = Data(name.utf8)
            u32(0x0403_4b50, &out); u16(20, &out); u16(0, &out); u16(Int(method), &out); u16(0, &out); u16(0x21, &out)
            u32(crc, &out); u32(UInt32(data.count), &out); u32(UInt32(data.count), &out)
            u16(nameBytes.count, &out); u16(0, &out); out.append(nameBytes); out.append(data)
            u32(0x0201_4b50, &directory); u16(20, &directory); u16(20, &directory); u16(0, &directory)
            u16(Int(method), &directory); u16(0, &directory); u16(0x21, &directory)
            u32(crc, &directory); u32(UInt32(data.count), &directory); u32(UInt32(data.count), &directory)
            u16(nameBytes.count, &directory); u16(0, &directory); u16(0, &directory); u16(0, &directory); u16(0, &directory)
            u32(0, &directory); u32(offset, &directory); directory.append(nameBytes)
        }
        let directoryOffset = UInt32(out.count)
        out.append(directory)
        u32(0x0605_4b50, &out); u16(0, &out); u16(0, &out); u16(entries.count, &out); u16(entries.count, &out)
        u32(UInt32(directory.count), &out); u32(directoryOffset, &out); u16(0, &out)
        return out
    }

    /// An npz of float32 arrays.
    static func npz(_ arrays: [(String, [Float], [Int])]) throws -> Data {
        zip(try arrays.map { ("\($0.0).npy", try NPY.encode($0.1, shape: $0.2)) })
    }

    /// Row-major 4x4 of K [R | t] for a camera at `eye` looking at the origin.
    static func worldMat(eye: Vector3, focal: Double = 50, size: Int = 16) -> [Float] {
        let forward = -eye.normalized
        let right = forward.cross(Vector3(0, 0, 1)).normalized
        let down = forward.cross(right)
        let r = Matrix3(rows: [right, down, forward])
        let t = -(r * eye)
        let k = Matrix3(rows: [Vector3(focal, 0, Double(size) / 2), Vector3(0, focal, Double(size) / 2), Vector3(0, 0, 1)])
        let m = k * r, kt = k * t
        return (0..<3).flatMap { i in [m[i, 0], m[i, 1], m[i, 2], kt[i]].map(Float.init) } + [0, 0, 0, 1]
    }

    static let scaleMat: [Float] = [2, 0, 0, 0.5, 0, 2, 0, -1, 0, 0, 2, 0.25, 0, 0, 0, 1]

    /// A NeuS folder of `count` 16x16 images (image/00000k.png) and
    /// masks (mask/00k.png), with `arrays` as its npz (default: every camera).
    func makeScene(count: Int = 3, masks: Bool = true, arrays: [(String, [Float], [Int])]? = nil) throws {
        for k in 0..<count {
            try writeImage(String(format: "image/%06d.png", k), width: 16, height: 16)
            if masks { try writeImage(String(format: "mask/%03d.png", k), width: 16, height: 16, channels: 1) }
        }
        let all = arrays ?? (0..<count).flatMap { k in
            [("world_mat_\(k)", Self.worldMat(eye: Vector3(4 * cos(Double(k)), 4 * sin(Double(k)), 1)), [4, 4]),
             ("scale_mat_\(k)", Self.scaleMat, [4, 4])]
        }
        try Self.npz(all).write(to: URL(fileURLWithPath: "\(folder!)/cameras_sphere.npz"))
    }

    /// K (with skew) [R | t] x, dehomogenised.
    static func project(_ d: NeuS.Decomposition, _ x: Vector3) -> (Double, Double) {
        let c = d.pose.rotation * x + d.pose.translation
        let i = d.intrinsics
        return ((i.fx * c.x + d.skew * c.y) / c.z + i.cx, i.fy * c.y / c.z + i.cy)
    }

    /// P x dehomogenised, P given as rows of 4.
    static func project(_ p: [[Double]], _ x: Vector3) -> (Double, Double) {
        let h = p.prefix(3).map { $0[0] * x.x + $0[1] * x.y + $0[2] * x.z + $0[3] }
        return (h[0] / h[2], h[1] / h[2])
    }

    // MARK: Real and shipped scenes

    func testDTUScan24CamerasReprojectAndMasksLoad() throws {
        let path = try Repository.sharedScene("dtu_scan24")
        let scene = try SceneLoader.load(path)
        XCTAssertEqual(scene.format, .neus)
        XCTAssertEqual(scene.frames.count, 49)
        XCTAssertEqual(scene.frames[0].name, "image/000000.png")
        let roi = try XCTUnwrap(scene.regionOfInterest)
        let arrays = try NPZ.read(path: "\(path)/cameras_sphere.npz")
        var generator = SplitMix64(seed: 24)
        for (i, frame) in scene.frames.enumerated() {
            XCTAssertEqual(frame.intrinsics.width, 800)
            XCTAssertEqual(frame.intrinsics.height, 600)
            XCTAssertEqual((frame.maskPath.map { ($0 as NSString).lastPathComponent }), String(format: "%03d.png", i))
            let world = try XCTUnwrap(arrays["world_mat_\(i)"])
            let p = (0..<3).map { r in (0..<4).map { Double(world.values[r * 4 + $0]) } }
            let d = try NeuS.decompose(projection: p, width: 800, height: 600)
            XCTAssertEqual(d.intrinsics, frame.intrinsics)
            XCTAssertEqual(d.pose, frame.pose)
            XCTAssertEqual(d.pose.rotation.determinant, 1, accuracy: 1e-9)
            // The camera centre is -M⁻¹ p4: P maps it to zero.
            let c = frame.pose.position
            for row in p { XCTAssertEqual(row[0] * c.x + row[1] * c.y + row[2] * c.z + row[3], 0, accuracy: 1e-6 * abs(row[3]) + 1e-6) }
            for _ in 0..<20 {
                let x = roi.center + roi.radius * Vector3(Double(generator.uniform(-1, 1)), Double(generator.uniform(-1, 1)), Double(generator.uniform(-1, 1)))
                let (u, v) = Self.project(p, x), (a, b) = Self.project(d, x)
                XCTAssertEqual(a, u, accuracy: 1e-6 * max(abs(u), 1))
                XCTAssertEqual(b, v, accuracy: 1e-6 * max(abs(v), 1))
                // Dropping the skew, as splat's cameras do, costs well under a thousandth of a pixel.
                var noSkew = d
                noSkew.skew = 0
                XCTAssertEqual(Self.project(noSkew, x).0, u, accuracy: 1e-3)
            }
            // The region of interest is in front of every camera and inside its image.
            let centre = frame.pose.rotation * roi.center + frame.pose.translation
            XCTAssertGreaterThan(centre.z, 0)
            let (u, v) = Self.project(d, roi.center)
            XCTAssertTrue((0...800).contains(u) && (0...600).contains(v), "frame \(i): centre projects to (\(u), \(v))")
        }
        let mask = try XCTUnwrap(try SceneImages.mask(of: scene.frames[0]))
        XCTAssertEqual(mask.count, 800 * 600)
        let foreground = Double(mask.filter { $0 > 127 }.count) / Double(mask.count)
        XCTAssertTrue(foreground > 0.05 && foreground < 0.95, "foreground fraction \(foreground)")
        let half = try XCTUnwrap(try SceneImages.mask(of: scene.frames[0], downscale: 2))
        XCTAssertEqual(half.count, 400 * 300)
    }

    func testSyntheticSDFScenesLoad() throws {
        for (name, kind) in [("sdf-sphere", "sphere"), ("sdf-torus", "torus")] {
            let path = "\(Repository.root)/Scenes/\(name)"
            let scene = try SceneLoader.load(path)
            XCTAssertEqual(scene.format, .neus)
            XCTAssertEqual(scene.frames.count, 32)
            XCTAssertEqual(scene.testFrames.count, 0)
            XCTAssertEqual(try SceneLoader.load(path, options: SceneOptions(eval: true)).testFrames.count, 4)
            let roi = try XCTUnwrap(scene.regionOfInterest)
            XCTAssertEqual(roi.center.x, 0.3, accuracy: 1e-6)
            XCTAssertEqual(roi.center.y, -0.2, accuracy: 1e-6)
            XCTAssertEqual(roi.center.z, 0.1, accuracy: 1e-6)
            XCTAssertEqual(roi.radius, 1.5, accuracy: 1e-6)
            let shape = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(path)/shape.json"))) as? [String: Any]
            XCTAssertEqual(shape?["kind"] as? String, kind)
            for frame in scene.frames {
                XCTAssertNotNil(frame.maskPath, frame.name)
                // The npz holds float64, which NPY reads as Float: equal to about 1e-7.
                let i = frame.intrinsics
                XCTAssertEqual([i.width, i.height], [64, 64])
                for (value, expected) in [(i.fx, 90.0), (i.fy, 90), (i.cx, 32), (i.cy, 32)] { XCTAssertEqual(value, expected, accuracy: 1e-4) }
                // Cameras at 3 radii from the centre, looking at it.
                XCTAssertEqual((frame.pose.position - roi.center).length, 4.5, accuracy: 1e-5)
                XCTAssertEqual(frame.pose.forward.dot((roi.center - frame.pose.position).normalized), 1, accuracy: 1e-6)
            }
            // Masks agree with the images: the background is black.
            let frame = scene.frames[5]
            let mask = try XCTUnwrap(try SceneImages.mask(of: frame))
            let image = try ImageIO.read(path: frame.imagePath)
            let covered = mask.filter { $0 == 255 }.count
            XCTAssertEqual(covered + mask.filter { $0 == 0 }.count, 64 * 64)
            XCTAssertTrue(covered > 64 * 64 / 20 && covered < 64 * 64 / 2, "\(name): \(covered) pixels")
            for i in 0..<64 * 64 where mask[i] == 0 { XCTAssertEqual(image.pixels[3 * i ..< 3 * i + 3].max(), 0) }
            XCTAssertTrue(SceneSummary(scene).text.contains("masks: 32 of 32 images"))
        }
    }

    // MARK: Decomposition

    func testDecompositionOfAScaledNegatedProjectionWithSkew() throws {
        let rotation = Quaternion(w: 0.9, x: 0.1, y: -0.3, z: 0.2).matrix
        let t = Vector3(0.4, -0.7, 3)
        let k = Matrix3(rows: [Vector3(120, 0.5, 30), Vector3(0, 110, 20), Vector3(0, 0, 1)])
        let m = k * rotation, kt = k * t
        // P is defined up to scale: -2.5 K [R | t] is the same camera.
        let p = (0..<3).map { i in [m[i, 0], m[i, 1], m[i, 2], kt[i]].map { -2.5 * $0 } }
        let d = try NeuS.decompose(projection: p, width: 64, height: 48)
        XCTAssertEqual(d.intrinsics.fx, 120, accuracy: 1e-9)
        XCTAssertEqual(d.intrinsics.fy, 110, accuracy: 1e-9)
        XCTAssertEqual(d.intrinsics.cx, 30, accuracy: 1e-9)
        XCTAssertEqual(d.intrinsics.cy, 20, accuracy: 1e-9)
        XCTAssertEqual(d.skew, 0.5, accuracy: 1e-9)
        for r in 0..<3 { for c in 0..<3 { XCTAssertEqual(d.pose.rotation[r, c], rotation[r, c], accuracy: 1e-12) } }
        XCTAssertEqual((d.pose.translation - t).length, 0, accuracy: 1e-12)
        let singular = [[1.0, 2, 3, 4], [2, 4, 6, 8], [0, 0, 1, 1]]
        XCTAssertTrue(errorText { _ = try NeuS.decompose(projection: singular, width: 4, height: 4, key: "world_mat_7", path: "c.npz") }
            .contains("c.npz: array 'world_mat_7': its left 3x3 is singular"))
    }

    // MARK: Layout, masks, bad input

    func testMasksPairByNumberAndFolderIsOptional() throws {
        try makeScene()
        let scene = try SceneLoader.load(folder)
        XCTAssertEqual(scene.format, .neus)
        XCTAssertEqual(scene.frames.map { ($0.maskPath! as NSString).lastPathComponent }, ["000.png", "001.png", "002.png"])
        XCTAssertEqual(scene.regionOfInterest, Sphere(center: Vector3(0.5, -1, 0.25), radius: 2))
        try FileManager.default.removeItem(atPath: "\(folder!)/mask")
        XCTAssertTrue(try SceneLoader.load(folder).frames.allSatisfy { $0.maskPath == nil })
    }

    func testMasksPairByStemWhenNotNumbers() throws {
        try writeImage("image/left.png", width: 16, height: 16)
        try writeImage("mask/left.png", width: 16, height: 16, channels: 1)
        try Self.npz([("world_mat_0", Self.worldMat(eye: Vector3(3, 1, 1)), [4, 4]), ("scale_mat_0", Self.scaleMat, [4, 4])])
            .write(to: URL(fileURLWithPath: "\(folder!)/cameras_sphere.npz"))
        XCTAssertEqual(try SceneLoader.load(folder).frames[0].maskPath, "\(folder!)/mask/left.png")
    }

    func testMissingMaskNamesTheImage() throws {
        try makeScene()
        try FileManager.default.removeItem(atPath: "\(folder!)/mask/001.png")
        let text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.contains("image/000001.png") && text.contains("has no mask"), text)
    }

    func testMaskValuesSizeAndDownscale() throws {
        // RGB: the largest channel; RGBA: that times alpha.
        let rgb = Image8(width: 2, height: 1, channels: 3, pixels: [0, 0, 0, 10, 200, 30])
        try ImageIO.writePNG(rgb, to: "\(folder!)/rgb.png")
        XCTAssertEqual(try SceneImages.loadMask("\(folder!)/rgb.png", width: 2, height: 1), [0, 200])
        let rgba = Image8(width: 2, height: 1, channels: 4, pixels: [255, 255, 255, 0, 255, 255, 255, 255])
        try ImageIO.writePNG(rgba, to: "\(folder!)/rgba.png")
        XCTAssertEqual(try SceneImages.loadMask("\(folder!)/rgba.png", width: 2, height: 1), [0, 255])
        // Downscaled like images: a 4x2 mask by 2 is the mean of each 2x2 block.
        let grey = Image8(width: 4, height: 2, channels: 1, pixels: [0, 0, 255, 255, 0, 255, 255, 255])
        try ImageIO.writePNG(grey, to: "\(folder!)/grey.png")
        XCTAssertEqual(try SceneImages.loadMask("\(folder!)/grey.png", width: 4, height: 2, downscale: 2), [64, 255])
        let text = errorText { _ = try SceneImages.loadMask("\(folder!)/grey.png", width: 8, height: 6) }
        XCTAssertTrue(text.contains("grey.png: mask is 4x2 but its image is 8x6"), text)
    }

    func testMissingWorldMatNamesTheImage() throws {
        try makeScene(arrays: [("world_mat_0", Self.worldMat(eye: Vector3(4, 0, 1)), [4, 4]), ("scale_mat_0", Self.scaleMat, [4, 4]),
                               ("scale_mat_1", Self.scaleMat, [4, 4])])
        let text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.contains("cameras_sphere.npz: has no world_mat_1 for image 1 (image/000001.png)"), text)
    }

    func testWrongShapeNamesTheKey() throws {
        try makeScene(count: 1, arrays: [("world_mat_0", Array(repeating: 1, count: 9), [3, 3]), ("scale_mat_0", Self.scaleMat, [4, 4])])
        let text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.contains("cameras_sphere.npz: array 'world_mat_0' has shape [3, 3]"), text)
    }

    func testScaleMatMustBeOneUniformScaleAndTranslation() throws {
        var rotated = Self.scaleMat
        rotated[1] = 0.5
        try makeScene(count: 1, arrays: [("world_mat_0", Self.worldMat(eye: Vector3(4, 0, 1)), [4, 4]), ("scale_mat_0", rotated, [4, 4])])
        var text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.contains("cameras_sphere.npz: array 'scale_mat_0' is not a uniform scale and translation"), text)
        var moved = Self.scaleMat
        moved[3] = 0.75
        try makeScene(count: 2, arrays: [("world_mat_0", Self.worldMat(eye: Vector3(4, 0, 1)), [4, 4]), ("scale_mat_0", Self.scaleMat, [4, 4]),
                                         ("world_mat_1", Self.worldMat(eye: Vector3(0, 4, 1)), [4, 4]), ("scale_mat_1", moved, [4, 4])])
        text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.contains("cameras_sphere.npz: scale_mat_1") && text.contains("differs from scale_mat_0"), text)
    }

    func testTruncatedCorruptAndDeflatedNPZNameTheFile() throws {
        try makeScene(count: 1)
        let path = "\(folder!)/cameras_sphere.npz"
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        // Cut short: the end record is gone.
        try good.prefix(good.count - 30).write(to: URL(fileURLWithPath: path))
        var text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.hasPrefix(path) && text.contains("truncated or corrupt zip"), text)
        // One byte of an array changed: its CRC no longer matches.
        var flipped = good
        flipped[200] ^= 0x55
        try flipped.write(to: URL(fileURLWithPath: path))
        text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.hasPrefix(path) && text.contains("CRC-32"), text)
        // Not a zip at all.
        try Data("hello".utf8).write(to: URL(fileURLWithPath: path))
        text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.hasPrefix(path) && text.contains("too short for a zip"), text)
        // np.savez_compressed deflates its entries.
        let deflated = Self.zip([("world_mat_0.npy", try NPY.encode(Self.worldMat(eye: Vector3(4, 0, 1)), shape: [4, 4]))], method: 8)
        try deflated.write(to: URL(fileURLWithPath: path))
        text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.hasPrefix(path) && text.contains("entry 'world_mat_0.npy' is deflated"), text)
        // A bad array inside a good zip names its key.
        try Self.zip([("world_mat_0.npy", Data("not npy".utf8))]).write(to: URL(fileURLWithPath: path))
        text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.hasPrefix(path) && text.contains("array 'world_mat_0': not an NPY file"), text)
    }

    func testNPZReadsWhatNumPyWrites() throws {
        // The shipped scenes' npz is written by Python's zipfile with zip64
        // local headers, as np.savez does.
        let arrays = try NPZ.read(path: "\(Repository.root)/Scenes/sdf-sphere/cameras_sphere.npz")
        XCTAssertEqual(arrays.count, 128)
        XCTAssertEqual(arrays["scale_mat_3"]?.shape, [4, 4])
        XCTAssertEqual(arrays["scale_mat_3"]?.values[0], 1.5)
    }
}
