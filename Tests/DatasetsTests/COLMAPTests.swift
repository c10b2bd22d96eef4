@testable import Datasets
import Foundation
import Geometry
import XCTest

/// Writes COLMAP binary files the way COLMAP does (little endian).
struct COLMAPBinaryWriter {
    var bytes: [UInt8] = []
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func i32(_ v: Int32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func string(_ s: String) { bytes += Array(s.utf8) + [0] }
    func write(_ path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }
}

final class COLMAPTests: TemporaryFolderTestCase {
    /// Two images, cameras PINHOLE and SIMPLE_RADIAL, three points.
    func writeTextModel(cameraOfSecondImage: Int = 2, model2: String = "SIMPLE_RADIAL 40 30 45 20 15 0.05") throws {
        try writeImage("images/a.png", width: 40, height: 30)
        try writeImage("images/b.png", width: 40, height: 30)
        try write("""
        # Camera list with one line of data per camera:
        1 PINHOLE 40 30 50 51 20 15
        2 \(model2)
        """, "sparse/0/cameras.txt")
        try write("""
        # Image list with two lines of data per image:
        1 1 0 0 0 0.5 0 2 1 a.png
        10 20 -1

        2 0.7071067811865476 0 0.7071067811865476 0 0 0 3 \(cameraOfSecondImage) b.png
        1.5 2.5 1 3.5 4.5 -1
        """, "sparse/0/images.txt")
        try write("""
        # 3D point list
        1 0 0 0 255 0 0 0.5 1 0
        2 1 2 3 0 255 0 0.5 1 0 2 1
        3 -1 -2 -3 0 0 255 0.5
        """, "sparse/0/points3D.txt")
    }

    func testTextModel() throws {
        try writeTextModel()
        let scene = try SceneLoader.load(folder)
        XCTAssertEqual(scene.format, .colmap)
        XCTAssertEqual(scene.frames.map(\.name), ["images/a.png", "images/b.png"])
        let a = scene.frames[0], b = scene.frames[1]
        XCTAssertEqual(a.intrinsics, Intrinsics(width: 40, height: 30, fx: 50, fy: 51, cx: 20, cy: 15))
        XCTAssertEqual(a.distortion, .none)
        XCTAssertEqual(a.pose.position, Vector3(-0.5, 0, -2))  // -R^T t with R = I
        XCTAssertEqual(b.cameraModel, "SIMPLE_RADIAL")
        XCTAssertEqual(b.distortion, .opencv(k1: 0.05, k2: 0, k3: 0, p1: 0, p2: 0))
        // 90 degrees about y: position = -R^T t.
        XCTAssertEqual(b.pose.position.x, 3, accuracy: 1e-12)
        XCTAssertEqual(b.pose.position.z, 0, accuracy: 1e-12)
        XCTAssertEqual(scene.points?.count, 3)
        XCTAssertEqual(scene.points?.colors[3...5], [0, 255, 0])
    }

    func testUnknownCameraIDIsAnError() throws {
        try writeTextModel(cameraOfSecondImage: 9)
        let text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.contains("images.txt") && text.contains("camera 9"), text)
    }

    func testUnsupportedCameraModelIsAnError() throws {
        try writeTextModel(model2: "FOV 40 30 45 46 20 15 0.1")
        let text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.contains("cameras.txt") && text.contains("FOV"), text)
    }

    func writeBinaryModel(images: Int = 2, modelID: Int32 = 2, truncateImagesBy: Int = 0, cameraCount: UInt64 = 1) throws {
        try FileManager.default.createDirectory(atPath: "\(folder!)/sparse/0", withIntermediateDirectories: true)
        var cams = COLMAPBinaryWriter()
        cams.u64(cameraCount)
        cams.i32(1); cams.i32(modelID); cams.u64(40); cams.u64(30)
        for p in [45.0, 20, 15, 0.02] { cams.f64(p) }
        try cams.write("\(folder!)/sparse/0/cameras.bin")
        var imgs = COLMAPBinaryWriter()
        imgs.u64(UInt64(images))
        for k in 0..<images {
            try writeImage("images/\(k).png", width: 40, height: 30)
            imgs.i32(Int32(k + 1))
            for v in [1.0, 0, 0, 0, Double(k), 0, 0] { imgs.f64(v) }
            imgs.i32(1)
            imgs.string("\(k).png")
            imgs.u64(2)
            for _ in 0..<2 { imgs.f64(1); imgs.f64(2); imgs.u64(UInt64(bitPattern: -1)) }
        }
        imgs.bytes.removeLast(truncateImagesBy)
        try imgs.write("\(folder!)/sparse/0/images.bin")
        var pts = COLMAPBinaryWriter()
        pts.u64(1)
        pts.u64(1); pts.f64(1); pts.f64(2); pts.f64(3); pts.u8(10); pts.u8(20); pts.u8(30); pts.f64(0.1)
        pts.u64(1); pts.i32(1); pts.i32(0)
        try pts.write("\(folder!)/sparse/0/points3D.bin")
    }

    func testBinaryModel() throws {
        try writeBinaryModel()
        let scene = try SceneLoader.load(folder)
        XCTAssertEqual(scene.frames.count, 2)
        XCTAssertEqual(scene.frames[1].pose.position, Vector3(-1, 0, 0))
        XCTAssertEqual(scene.frames[0].distortion, .opencv(k1: 0.02, k2: 0, k3: 0, p1: 0, p2: 0))
        XCTAssertEqual(scene.points, PointCloud(positions: [1, 2, 3], colors: [10, 20, 30]))
    }

    func testTruncatedMidRecordIsAnError() throws {
        try writeBinaryModel(truncateImagesBy: 30)
        let text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.contains("images.bin") && text.contains("truncated"), text)
    }

    func testCountDisagreeingWithSizeIsAnError() throws {
        try writeBinaryModel(cameraCount: 1_000_000)
        let text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.contains("cameras.bin") && text.contains("1000000"), text)
        try writeBinaryModel(cameraCount: 2)
        let text2 = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text2.contains("cameras.bin"), text2)
    }

    func testUnsupportedBinaryModelIsAnError() throws {
        try writeBinaryModel(modelID: 8)  // SIMPLE_RADIAL_FISHEYE, 4 parameters
        let text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.contains("SIMPLE_RADIAL_FISHEYE"), text)
    }

    func testImagesLoadUndistortedAndCached() throws {
        try writeBinaryModel()
        let scene = try SceneLoader.load(folder)
        let cache = ImageCache(folder: "\(folder!)/cache")
        let (first, s1) = try SceneImages.load(scene.frames, root: folder, downscale: 2, cache: cache)
        XCTAssertEqual(s1.cacheMisses, 2)
        let plan = try UndistortionPlan(source: scene.frames[0].intrinsics, distortion: scene.frames[0].distortion)
        XCTAssertEqual(first[0].intrinsics.width, Image8.downscaledSize(width: plan.target.width, height: plan.target.height, by: 2).width)
        let (second, s2) = try SceneImages.load(scene.frames, root: folder, downscale: 2, cache: cache)
        XCTAssertEqual(s2.cacheHits, 2)
        XCTAssertEqual(first[0].image, second[0].image)
    }

    func testTruncatedImageIsAnErrorNamingIt() throws {
        try writeBinaryModel()
        let path = "\(folder!)/images/1.png"
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        let scene = try SceneLoader.load(folder)
        let text = errorText { _ = try SceneImages.load(scene.frames, root: folder, downscale: 1, cache: ImageCache(folder: "\(folder!)/c")) }
        XCTAssertTrue(text.contains("images/1.png"), text)
    }

    func testImageSizeDisagreeingWithIntrinsicsIsAnError() throws {
        try writeBinaryModel()
        try writeImage("images/0.png", width: 41, height: 30)
        let scene = try SceneLoader.load(folder)
        let text = errorText { _ = try SceneImages.load(scene.frames, root: folder, downscale: 1, cache: ImageCache(folder: "\(folder!)/c")) }
        XCTAssertTrue(text.contains("images/0.png") && text.contains("41x30"), text)
    }

    func testNotAnImageIsAnError() throws {
        try writeBinaryModel()
        try write("this is text, not a picture", "images/0.png")
        let scene = try SceneLoader.load(folder)
        let text = errorText { _ = try SceneImages.load(scene.frames, root: folder, downscale: 1, cache: ImageCache(folder: "\(folder!)/c")) }
        XCTAssertTrue(text.contains("images/0.png"), text)
    }
}

final class ImageCacheTests: TemporaryFolderTestCase {
    func testReadOnlySceneFolderIsNotWritten() throws {
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: folder)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: folder) }
        let cache = ImageCache(sceneRoot: folder)
        XCTAssertFalse(cache.folder.hasPrefix(folder), cache.folder)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(folder!)/.splat-cache"))
    }

    func testWritableSceneFolderHoldsTheCache() throws {
        let cache = ImageCache(sceneRoot: folder)
        XCTAssertEqual(cache.folder, "\(folder!)/.splat-cache")
        let image = Image8(width: 3, height: 2, channels: 3, pixels: Array(0..<18))
        try writeImage("a.png", width: 3, height: 2)
        let key = try XCTUnwrap(cache.key(source: "\(folder!)/a.png", operation: "test"))
        cache.store(image, key: key)
        XCTAssertEqual(cache.load(key), image)
        XCTAssertNotEqual(cache.key(source: "\(folder!)/a.png", operation: "other"), key)
    }
}
