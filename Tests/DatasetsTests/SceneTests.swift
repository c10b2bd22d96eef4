@testable import Datasets
import Foundation
import Geometry
import XCTest

/// A temporary folder per test, removed afterwards.
class TemporaryFolderTestCase: XCTestCase {
    var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "splat-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func write(_ text: String, _ relative: String) throws {
        let path = "\(folder!)/\(relative)"
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func writeImage(_ relative: String, width: Int, height: Int, channels: Int = 3) throws {
        let path = "\(folder!)/\(relative)"
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let pixels = (0..<width * height * channels).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try ImageIO.writePNG(Image8(width: width, height: height, channels: channels, pixels: pixels), to: path)
    }

    /// The error a throwing call gives, as text (fails the test if it does not throw).
    func errorText(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            try body()
            XCTFail("expected an error", file: file, line: line)
            return ""
        } catch {
            return "\(error)"
        }
    }
}

/// The repository's own files (Scenes/, ../shared) found from this source file.
enum Repository {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let shared = (root as NSString).deletingLastPathComponent + "/shared"

    /// A scene of ../shared/scenes, or nil (skip) where ../shared is absent;
    /// in CI (CI=true) its absence is a failure.
    static func sharedScene(_ name: String) throws -> String {
        let path = "\(shared)/scenes/\(name)"
        if FileManager.default.fileExists(atPath: path) { return path }
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            XCTFail("\(path) is missing: CI must have ../shared")
        }
        throw XCTSkip("\(path) is absent (a user's clone has no ../shared); this test needs it")
    }
}

final class TransformsJSONTests: TemporaryFolderTestCase {
    func testDemoSceneLoads() throws {
        let scene = try SceneLoader.load("\(Repository.root)/Scenes/demo")
        XCTAssertEqual(scene.format, .transforms)
        XCTAssertEqual(scene.trainFrames.count, 24)
        XCTAssertEqual(scene.testFrames.count, 8)
        let f = scene.frames[0]
        XCTAssertEqual(f.intrinsics.width, 64)
        XCTAssertEqual(f.intrinsics.fx, 0.5 * 64 / tan(0.5 * 0.6911112070083618), accuracy: 1e-9)
        XCTAssertEqual(f.distortion, .none)
        // Cameras orbit the origin at distance 4 and look at it.
        XCTAssertEqual(f.pose.position.length, 4, accuracy: 1e-6)
        XCTAssertEqual(f.pose.forward.dot(-f.pose.position.normalized), 1, accuracy: 1e-6)
        XCTAssertTrue(scene.splitSource.contains("transforms_test.json"))
    }

    func testIntrinsicsVariantsAndExtensionlessPaths() throws {
        try writeImage("img/a.png", width: 40, height: 30)
        try writeImage("img/b.png", width: 40, height: 30)
        try write("""
        {"fl_x": 50, "fl_y": 52, "cx": 19, "cy": 16, "w": 40, "h": 30, "k1": 0.01, "p1": 0.001,
         "aabb_scale": 4, "scale": 0.5, "offset": [0.5, 0.5, 0.5],
         "frames": [
           {"file_path": "img/a", "time": 0.25, "transform_matrix": [[1,0,0,1],[0,1,0,2],[0,0,1,3],[0,0,0,1]]},
           {"file_path": "img/b.png", "fl_x": 60, "time": 0.75, "transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,5],[0,0,0,1]]},
           {"file_path": "img/missing.png", "transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}
         ]}
        """, "transforms.json")
        let (scene, warnings) = try Diagnostics.collecting { try SceneLoader.load(folder) }
        XCTAssertEqual(scene.frames.count, 2)
        XCTAssertEqual(warnings.filter { $0.contains("1 frames whose image is missing") }.count, 1, "\(warnings)")
        let a = scene.frames[0]
        XCTAssertEqual(a.intrinsics, Intrinsics(width: 40, height: 30, fx: 50, fy: 52, cx: 19, cy: 16))
        XCTAssertEqual(a.distortion, .opencv(k1: 0.01, k2: 0, k3: 0, p1: 0.001, p2: 0))
        XCTAssertEqual(a.time, 0.25)
        XCTAssertEqual(a.pose.position, Vector3(1, 2, 3))
        // OpenGL -> OpenCV: an identity camera-to-world looks down world -z.
        XCTAssertEqual(a.pose.forward, Vector3(0, 0, -1))
        XCTAssertEqual(scene.frames[1].intrinsics.fx, 60)
        XCTAssertEqual(scene.ngp?.aabbScale, 4)
        XCTAssertEqual(scene.ngp?.scale, 0.5)
    }

    func testSizeFromImageWhenMissingAndFisheye() throws {
        try writeImage("a.png", width: 20, height: 10)
        try write("""
        {"camera_angle_x": 1.0, "camera_model": "OPENCV_FISHEYE", "k1": 0.1, "k4": 0.01,
         "frames": [{"file_path": "a", "transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}]}
        """, "transforms.json")
        let scene = try SceneLoader.load("\(folder!)/transforms.json")
        XCTAssertEqual(scene.frames[0].intrinsics.width, 20)
        XCTAssertEqual(scene.frames[0].intrinsics.fx, 10 / tan(0.5), accuracy: 1e-9)
        XCTAssertEqual(scene.frames[0].distortion, .fisheye(k1: 0.1, k2: 0, k3: 0, k4: 0.01))
    }

    func testNotJSONIsAnError() throws {
        try write("{ this is not json", "transforms.json")
        let text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.contains("transforms.json") && text.contains("not valid JSON"), text)
    }

    func testMissingIntrinsicsIsAnError() throws {
        try writeImage("a.png", width: 8, height: 8)
        try write("""
        {"frames": [{"file_path": "a.png", "transform_matrix": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}]}
        """, "transforms.json")
        let text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.contains("transforms.json") && text.contains("lacks intrinsics"), text)
    }

    func testMissingFolderAndUnknownFormat() throws {
        XCTAssertTrue(errorText { _ = try SceneLoader.load("\(folder!)/nope") }.contains("no such file"))
        try write("hello", "notes.txt")
        XCTAssertTrue(errorText { _ = try SceneLoader.load(folder) }.contains("no known scene format"))
    }

    func testEvalHoldsOutEveryEighthByName() throws {
        var frames = ""
        for k in 0..<17 {
            try writeImage("images/\(String(format: "%02d", k)).png", width: 4, height: 4)
            frames += (k > 0 ? "," : "") + "{\"file_path\": \"images/\(String(format: "%02d", 16 - k)).png\", \"transform_matrix\": [[1,0,0,\(k)],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}"
        }
        try write("{\"fl_x\": 4, \"w\": 4, \"h\": 4, \"frames\": [\(frames)]}", "transforms.json")
        let all = try SceneLoader.load(folder)
        XCTAssertEqual(all.testFrames.count, 0)
        let held = try SceneLoader.load(folder, options: SceneOptions(eval: true))
        XCTAssertEqual(held.testFrames.map(\.name).sorted(), ["images/00.png", "images/08.png", "images/16.png"])
    }

    func testNormalization() {
        let n = SceneNormalization.fromCameras([Vector3(0, 0, 0), Vector3(2, 0, 0), Vector3(1, 3, 0), Vector3(1, -3, 0)])
        XCTAssertEqual(n.center, Vector3(1, 0, 0))
        XCTAssertEqual(n.extent, 3.3, accuracy: 1e-12)
    }
}
