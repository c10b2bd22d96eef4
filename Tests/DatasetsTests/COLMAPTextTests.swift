@testable import Datasets
import Foundation
import Geometry
import XCTest

/// COLMAP text files with any line ending, and the validation of every value
/// in the text and binary files (issue 20: bad input never crashes splat).
final class COLMAPTextTests: TemporaryFolderTestCase {
    static let cameras = """
    # Camera list with one line of data per camera:
    1 PINHOLE 40 30 50 51 20 15
    2 SIMPLE_RADIAL 40 30 45 20 15 0.05

    """
    static let images = """
    # Image list with two lines of data per image:
    1 1 0 0 0 0.5 0 2 1 a.png
    10 20 -1

    2 0.7071067811865476 0 0.7071067811865476 0 0 0 3 2 b.png
    1.5 2.5 1 3.5 4.5 -1

    """
    static let points = """
    # 3D point list
    1 0 0 0 255 0 0 0.5 1 0
    2 1 2 3 0 255 0 0.5 1 0 2 1
    3 -1 -2 -3 0 0 255 0.5

    """

    /// The text model with "\n" replaced by `ending`, and its two images.
    func writeModel(ending: String, cameras: String = cameras, images: String = images, points: String = points) throws {
        try writeImage("images/a.png", width: 40, height: 30)
        try writeImage("images/b.png", width: 40, height: 30)
        try FileManager.default.createDirectory(atPath: "\(folder!)/sparse/0", withIntermediateDirectories: true)
        for (name, text) in [("cameras", cameras), ("images", images), ("points3D", points)] {
            let converted = text.replacingOccurrences(of: "\n", with: ending)
            try Data(converted.utf8).write(to: URL(fileURLWithPath: "\(folder!)/sparse/0/\(name).txt"))
        }
    }

    func data(_ text: String) -> Data { Data(text.utf8) }

    /// `body` throws a DatasetError for `path` whose problem contains every phrase.
    func assertError<T>(_ path: String, _ phrases: [String], _ body: () throws -> T, line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("no error, expected \(phrases)", line: line)
        } catch let error as DatasetError {
            XCTAssertEqual(error.path, path, line: line)
            for phrase in phrases {
                XCTAssertTrue(error.problem.contains(phrase), "\"\(error.problem)\" lacks \"\(phrase)\"", line: line)
            }
            XCTAssertFalse(error.description.contains("\n"), "one line: \(error.description)", line: line)
        } catch {
            XCTFail("not a DatasetError: \(error)", line: line)
        }
    }

    // MARK: - Line endings

    func testCRLFAndCRModelsLoadLikeLF() throws {
        try writeModel(ending: "\n")
        let reference = try SceneLoader.load(folder)
        for ending in ["\r\n", "\r"] {
            try writeModel(ending: ending)
            let scene = try SceneLoader.load(folder)
            XCTAssertEqual(scene.frames.map(\.name), ["images/a.png", "images/b.png"], ending.debugDescription)
            XCTAssertEqual(scene.frames.map(\.intrinsics), reference.frames.map(\.intrinsics))
            XCTAssertEqual(scene.frames.map(\.pose), reference.frames.map(\.pose))
            XCTAssertEqual(scene.points, reference.points, ending.debugDescription)
            XCTAssertEqual(scene.points?.count, 3)
        }
    }

    func testDecodersSplitEveryLineEnding() throws {
        for ending in ["\n", "\r\n", "\r"] {
            func converted(_ text: String) -> Data { data(text.replacingOccurrences(of: "\n", with: ending)) }
            let cameras = try COLMAP.decodeCamerasText(converted(Self.cameras), path: "cameras.txt")
            XCTAssertEqual(cameras.map(\.id), [1, 2])
            XCTAssertEqual(cameras[1].params, [45, 20, 15, 0.05])
            let images = try COLMAP.decodeImagesText(converted(Self.images), path: "images.txt")
            XCTAssertEqual(images.map(\.name), ["a.png", "b.png"])
            XCTAssertEqual(try COLMAP.decodePointsText(converted(Self.points), path: "points3D.txt").count, 3)
        }
        // Mixed endings and no final line ending.
        let mixed = "1 PINHOLE 40 30 50 51 20 15\r\n2 PINHOLE 40 30 50 51 20 15\r3 PINHOLE 40 30 50 51 20 15\n4 PINHOLE 40 30 50 51 20 15"
        XCTAssertEqual(try COLMAP.decodeCamerasText(data(mixed), path: "c").map(\.id), [1, 2, 3, 4])
        // An empty 2D-points line kept in CRLF.
        let images = "1 1 0 0 0 0 0 0 1 a.png\r\n\r\n2 1 0 0 0 0 0 0 1 b.png\r\n\r\n"
        XCTAssertEqual(try COLMAP.decodeImagesText(data(images), path: "i").map(\.id), [1, 2])
    }

    func testLineNumbersCountEveryEnding() {
        let text = "# comment\r\n1 PINHOLE 40 30 50 51 20 15\r\n2 PINHOLE 40 30 0 51 20 15\r\n"
        assertError("cameras.txt", ["camera 2 (line 3)", "focal length must be > 0, got 0"]) {
            try COLMAP.decodeCamerasText(data(text), path: "cameras.txt")
        }
    }

    func testTextLinesSplitter() {
        let lines = TextLines.split(Data("a\r\nb\rc\nd".utf8))
        XCTAssertEqual(lines.map(\.text), ["a", "b", "c", "d"])
        XCTAssertEqual(lines.map(\.number), [1, 2, 3, 4])
        XCTAssertEqual(TextLines.split(Data("\n\n".utf8)).map(\.text), ["", ""])
        XCTAssertTrue(TextLines.split(Data()).isEmpty)
        XCTAssertEqual(TextLines.excerpt("a\u{0}b\r\n\u{7F}é"), "a\\u{0}b\\r\\n\\u{7f}\\u{e9}")
        XCTAssertEqual(TextLines.excerpt(String(repeating: "x", count: 50), limit: 40), String(repeating: "x", count: 40) + "...")
        XCTAssertEqual(TextLines.excerpt(bytes: [0x41, 0x00, 0xFF]), "A\\x00\\xff")
    }

    // MARK: - cameras.txt

    func testZeroAndNegativeFocalLengthsAreReportedAsSuch() throws {
        assertError("cameras.txt", ["camera 1 (line 1)", "focal length must be > 0, got 0"]) {
            try COLMAP.decodeCamerasText(data("1 PINHOLE 40 30 0 51 20 15\n"), path: "cameras.txt")
        }
        assertError("cameras.txt", ["camera 7", "focal length must be > 0, got -3", "fy"]) {
            try COLMAP.decodeCamerasText(data("7 OPENCV 40 30 5 -3 20 15 0 0 0 0\n"), path: "cameras.txt")
        }
        // Through the loader: the camera file is named, not "the lens distortion cannot be inverted".
        try writeModel(ending: "\n", cameras: "1 PINHOLE 40 30 50 51 20 15\n2 SIMPLE_RADIAL 40 30 0 20 15 0.05\n")
        let text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.contains("cameras.txt") && text.contains("camera 2") && text.contains("focal length must be > 0, got 0"), text)
        XCTAssertFalse(text.contains("inverted"), text)
    }

    func testCameraSizesAndNumbers() {
        let cases: [(String, [String])] = [
            ("1 PINHOLE 0 30 50 51 20 15", ["camera 1", "size 0x30", "1...65536"]),
            ("1 PINHOLE 40 70000 50 51 20 15", ["size 40x70000", "1...65536"]),
            ("1 PINHOLE 40 -30 50 51 20 15", ["size 40x-30"]),
            ("1 PINHOLE 40.5 30 50 51 20 15", ["line 1", "width '40.5' is not an integer in 1...65536"]),
            ("1 PINHOLE 99999999999999999999999 30 50 51 20 15", ["width", "not an integer"]),
            ("1 PINHOLE 40 30 50 51 nan 15", ["principal point", "finite"]),
            ("1 PINHOLE 40 30 inf 51 20 15", ["focal length fx must be a finite number, got inf"]),
            ("1 SIMPLE_RADIAL 40 30 45 20 15 nan", ["distortion coefficient", "finite"]),
            ("1 PINHOLE 40 30 50 51 20 abc", ["parameter 'abc' is not a number"]),
            ("-1 PINHOLE 40 30 50 51 20 15", ["camera id '-1'", "0...4294967295"]),
            ("x PINHOLE 40 30 50 51 20 15", ["camera id 'x'"]),
            ("1 BOGUS 40 30 50 51 20 15", ["camera 1", "unknown camera model 'BOGUS'"]),
            ("1 PINHOLE 40 30 50 51 20", ["PINHOLE takes 4 parameters, found 3"]),
            ("1 PINHOLE 40", ["line 1", "expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS[]"]),
            ("1 PINHOLE 40 30 50 51 20 15\n1 PINHOLE 40 30 50 51 20 15", ["camera 1 is defined twice (lines 1 and 2)"]),
            ("1 PINHOLE 40 \u{1}\u{2}\u{7F} 50 51 20 15", ["height '\\u{1}\\u{2}\\u{7f}'"]),
        ]
        for (text, phrases) in cases {
            assertError("cameras.txt", phrases) { try COLMAP.decodeCamerasText(data(text), path: "cameras.txt") }
        }
    }

    // MARK: - images.txt

    func testImagePosesAreValidated() {
        let cases: [(String, [String])] = [
            ("5 0 0 0 0 0 0 0 1 a.png", ["image 5 (a.png, line 1)", "quaternion must be non-zero"]),
            ("5 nan 0 0 0 0 0 0 1 a.png", ["image 5 (a.png", "quaternion must be finite"]),
            ("5 1e300 1e300 0 0 0 0 0 1 a.png", ["image 5", "finite norm"]),
            ("5 1 0 0 0 0 2e6 0 1 a.png", ["image 5 (a.png", "translation", "±1000000"]),
            ("5 1 0 0 0 0 0 -inf 1 a.png", ["image 5", "translation must be finite"]),
            ("5 1 0 0 0 0 0 0 -1 a.png", ["line 1", "camera id '-1'"]),
            ("5 1 0 0 0 0 0 0 1", ["line 1", "expected IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME"]),
            ("5 1 0 0 zero 0 0 0 1 a.png", ["line 1", "QZ 'zero' is not a number"]),
            ("5 1 0 0 0 0 0 0 1 a.png\n\n5 1 0 0 0 0 0 0 1 b.png\n", ["image 5 (b.png, line 3)", "appears twice (lines 1 and 3)"]),
        ]
        for (text, phrases) in cases {
            assertError("images.txt", phrases) { try COLMAP.decodeImagesText(data(text), path: "images.txt") }
        }
    }

    // MARK: - points3D.txt

    func testPointsAreValidated() {
        let cases: [(String, [String])] = [
            ("1 nan 0 0 0 0 0 0.5", ["point 1 (line 1)", "coordinates must be finite"]),
            ("9 1e300 0 0 0 0 0 0.5", ["point 9 (line 1)", "float32"]),
            ("1 0 0 0 256 0 0 0.5", ["line 1", "R '256' is not an integer in 0...255"]),
            ("1 0 0 0 0 0", ["line 1", "expected POINT3D_ID X Y Z R G B ERROR TRACK[]"]),
            ("-4 0 0 0 0 0 0 0.5", ["point id '-4'"]),
        ]
        for (text, phrases) in cases {
            assertError("points3D.txt", phrases) { try COLMAP.decodePointsText(data(text), path: "points3D.txt") }
        }
    }

    // MARK: - Binary files

    func camerasBinary(count: UInt64? = nil, id: UInt32 = 1, model: Int32 = 1, width: UInt64 = 40, height: UInt64 = 30,
                       params: [Double] = [50, 51, 20, 15]) -> Data {
        var w = COLMAPBinaryWriter()
        w.u64(count ?? 1)
        w.i32(Int32(bitPattern: id)); w.i32(model); w.u64(width); w.u64(height)
        for p in params { w.f64(p) }
        return Data(w.bytes)
    }

    func imagesBinary(count: UInt64? = nil, pose: [Double] = [1, 0, 0, 0, 0, 0, 0], name: String = "a.png",
                      points2D: UInt64 = 0) -> Data {
        var w = COLMAPBinaryWriter()
        w.u64(count ?? 1)
        w.i32(3)
        for v in pose { w.f64(v) }
        w.i32(1)
        w.string(name)
        w.u64(points2D)
        return Data(w.bytes)
    }

    func pointsBinary(count: UInt64? = nil, xyz: [Double] = [1, 2, 3], track: UInt64 = 0) -> Data {
        var w = COLMAPBinaryWriter()
        w.u64(count ?? 1)
        w.u64(4)
        for v in xyz { w.f64(v) }
        w.u8(1); w.u8(2); w.u8(3); w.f64(0.5)
        w.u64(track)
        return Data(w.bytes)
    }

    func testValidBinaryRecordsDecode() throws {
        XCTAssertEqual(try COLMAP.decodeCamerasBinary(camerasBinary(), path: "c").first?.params, [50, 51, 20, 15])
        XCTAssertEqual(try COLMAP.decodeImagesBinary(imagesBinary(), path: "i").first?.name, "a.png")
        XCTAssertEqual(try COLMAP.decodePointsBinary(pointsBinary(), path: "p"), PointCloud(positions: [1, 2, 3], colors: [1, 2, 3]))
    }

    func testHugeBinaryCountsAreRefusedBeforeAllocating() {
        let huge: UInt64 = 1 << 62
        assertError("cameras.bin", ["declares \(huge) cameras", "at most 1"]) {
            try COLMAP.decodeCamerasBinary(camerasBinary(count: huge), path: "cameras.bin")
        }
        assertError("images.bin", ["declares \(huge) images", "at most"]) {
            try COLMAP.decodeImagesBinary(imagesBinary(count: huge), path: "images.bin")
        }
        assertError("points3D.bin", ["declares \(UInt64.max) points"]) {
            try COLMAP.decodePointsBinary(pointsBinary(count: .max), path: "points3D.bin")
        }
        assertError("images.bin", ["image 3 (a.png, record 1)", "truncated"]) {
            try COLMAP.decodeImagesBinary(imagesBinary(points2D: huge), path: "images.bin")
        }
        assertError("points3D.bin", ["point 4 (record 1)", "truncated"]) {
            try COLMAP.decodePointsBinary(pointsBinary(track: .max), path: "points3D.bin")
        }
        assertError("cameras.bin", ["truncated", "the number of cameras"]) {
            try COLMAP.decodeCamerasBinary(Data([1, 2, 3]), path: "cameras.bin")
        }
    }

    func testBinaryValuesAreValidated() {
        assertError("cameras.bin", ["camera 1 (record 1)", "unknown camera model id 42", "0...10"]) {
            try COLMAP.decodeCamerasBinary(camerasBinary(model: 42), path: "cameras.bin")
        }
        assertError("cameras.bin", ["camera 1 (record 1)", "unknown camera model id -1"]) {
            try COLMAP.decodeCamerasBinary(camerasBinary(model: -1), path: "cameras.bin")
        }
        assertError("cameras.bin", ["size 0x30"]) {
            try COLMAP.decodeCamerasBinary(camerasBinary(width: 0), path: "cameras.bin")
        }
        assertError("cameras.bin", ["size 40x\(UInt64.max)", "1...65536"]) {
            try COLMAP.decodeCamerasBinary(camerasBinary(height: .max), path: "cameras.bin")
        }
        assertError("cameras.bin", ["camera 1 (record 1)", "focal length must be > 0, got 0"]) {
            try COLMAP.decodeCamerasBinary(camerasBinary(params: [0, 51, 20, 15]), path: "cameras.bin")
        }
        assertError("cameras.bin", ["principal point", "finite"]) {
            try COLMAP.decodeCamerasBinary(camerasBinary(params: [50, 51, .nan, 15]), path: "cameras.bin")
        }
        assertError("images.bin", ["image 3 (a.png, record 1)", "quaternion must be non-zero"]) {
            try COLMAP.decodeImagesBinary(imagesBinary(pose: [0, 0, 0, 0, 0, 0, 0]), path: "images.bin")
        }
        assertError("images.bin", ["image 3 (b.png", "translation must be finite"]) {
            try COLMAP.decodeImagesBinary(imagesBinary(pose: [1, 0, 0, 0, .infinity, 0, 0], name: "b.png"), path: "images.bin")
        }
        assertError("images.bin", ["image 3", "the image name is empty"]) {
            try COLMAP.decodeImagesBinary(imagesBinary(name: ""), path: "images.bin")
        }
        assertError("images.bin", ["image 3", "control characters"]) {
            try COLMAP.decodeImagesBinary(imagesBinary(name: "a\u{1}b"), path: "images.bin")
        }
        assertError("points3D.bin", ["point 4 (record 1)", "coordinates must be finite"]) {
            try COLMAP.decodePointsBinary(pointsBinary(xyz: [1, .nan, 3]), path: "points3D.bin")
        }
        var twice = camerasBinary(count: 2)
        twice.append(camerasBinary().dropFirst(8))
        assertError("cameras.bin", ["camera 1 (record 2)", "defined twice"]) {
            try COLMAP.decodeCamerasBinary(twice, path: "cameras.bin")
        }
    }

    // MARK: - Files and undistortion

    func testModelFileThatIsAFIFOIsRefused() throws {
        try writeModel(ending: "\n")
        let cameras = "\(folder!)/sparse/0/cameras.txt"
        try FileManager.default.removeItem(atPath: cameras)
        XCTAssertEqual(mkfifo(cameras, 0o600), 0)
        let text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.contains("cameras.txt") && text.contains("not a regular file"), text)
    }

    func testUndistortionNamesTheBadIntrinsic() {
        let d = Distortion.opencv(k1: 0.1, k2: 0, k3: 0, p1: 0, p2: 0)
        for (intrinsics, phrase) in [
            (Intrinsics(width: 40, height: 30, fx: 0, fy: 50, cx: 20, cy: 15), "focal length must be > 0, got 0 (fx)"),
            (Intrinsics(width: 40, height: 30, fx: 50, fy: -1, cx: 20, cy: 15), "focal length must be > 0, got -1 (fy)"),
            (Intrinsics(width: 40, height: 30, fx: 50, fy: 50, cx: .nan, cy: 15), "principal point cx"),
            (Intrinsics(width: 0, height: 30, fx: 50, fy: 50, cx: 20, cy: 15), "size 0x30"),
        ] {
            assertError("camera", [phrase]) { try UndistortionPlan(source: intrinsics, distortion: d) }
        }
        let good = Intrinsics(width: 40, height: 30, fx: 50, fy: 50, cx: 20, cy: 15)
        assertError("camera", ["distortion coefficients must be finite"]) {
            try UndistortionPlan(source: good, distortion: .fisheye(k1: .infinity, k2: 0, k3: 0, k4: 0))
        }
        // Every format's frames pass SceneImages: a bad camera names the image.
        var frame = SceneFrame(name: "images/a.png", imagePath: "/scene/images/a.png",
                               intrinsics: Intrinsics(width: 40, height: 30, fx: 0, fy: 50, cx: 20, cy: 15),
                               distortion: .none, pose: Pose(rotation: .identity, translation: Vector3(0, 0, 0)),
                               time: nil, split: .train, cameraModel: "PINHOLE", maskPath: nil)
        assertError("/scene/images/a.png", ["camera: focal length must be > 0, got 0 (fx)"]) {
            try SceneImages.intrinsics(of: frame, downscale: 1)
        }
        frame.intrinsics.fx = 50
        frame.pose.translation = Vector3(0, .nan, 0)
        assertError("/scene/images/a.png", ["camera: the pose", "must be finite"]) {
            try SceneImages.intrinsics(of: frame, downscale: 1)
        }
        frame.pose.translation = Vector3(0, 0, 1e39)
        assertError("/scene/images/a.png", ["camera: the pose"]) { try SceneImages.intrinsics(of: frame, downscale: 2) }
        XCTAssertEqual(UndistortionPlan.clampedIndex(.nan, 10), 0)
        XCTAssertEqual(UndistortionPlan.clampedIndex(.infinity, 10), 9)
        XCTAssertEqual(UndistortionPlan.clampedIndex(-.infinity, 10), 0)
        XCTAssertEqual(UndistortionPlan.clampedIndex(3.7, 10), 3)
    }
}
