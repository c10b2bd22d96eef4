@testable import Datasets
import Foundation
import Geometry
import XCTest

/// cameras.json in the original 3DGS layout, the older splat layout, and validation.
final class CamerasJSONTests: TemporaryFolderTestCase {
    let pose = Pose(rotation: Quaternion(w: 0.9, x: 0.1, y: -0.3, z: 0.2).matrix, translation: Vector3(1, 2, 3))
    let intrinsics = Intrinsics(width: 64, height: 48, fx: 50, fy: 51, cx: 30, cy: 25)

    func assertSamePose(_ a: Pose, _ b: Pose, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual((a.position - b.position).length, 0, accuracy: 1e-9, file: file, line: line)
        for i in 0..<3 { for j in 0..<3 { XCTAssertEqual(a.rotation[i, j], b.rotation[i, j], accuracy: 1e-9, file: file, line: line) } }
    }

    func problem(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try CamerasJSON.decode(Data(text.utf8), path: "cameras.json")
            XCTFail("expected an error", file: file, line: line)
            return ""
        } catch let error as DatasetError {
            XCTAssertEqual(error.path, "cameras.json", file: file, line: line)
            XCTAssertFalse(error.problem.contains("\n") || error.problem.contains("DecodingError"), error.problem, file: file, line: line)
            return error.problem
        } catch {
            XCTFail("not a DatasetError: \(error)", file: file, line: line)
            return ""
        }
    }

    func testRoundTripWritesThe3DGSLayout() throws {
        let entry = CameraEntry(id: 0, name: "images/a.png", intrinsics: intrinsics, pose: pose, split: .test, time: 0.5)
        try CamerasJSON.write([entry], to: "\(folder!)/cameras.json")
        let back = try CamerasJSON.read("\(folder!)/cameras.json")
        XCTAssertEqual(back, [entry])
        assertSamePose(back[0].pose, pose)
        // The file holds img_name, and rotation is camera-to-world (rows).
        let object = try StrictJSON.object(StrictJSON.readFile("\(folder!)/cameras.json"), path: "c") as? [[String: Any]]
        let first = try XCTUnwrap(object?.first)
        XCTAssertEqual(first["img_name"] as? String, "images/a.png")
        XCTAssertNil(first["name"])
        let rows = try XCTUnwrap(first["rotation"] as? [[NSNumber]]).map { $0.map(\.doubleValue) }
        let cameraToWorld = pose.rotation.transposed
        for i in 0..<3 { for j in 0..<3 { XCTAssertEqual(rows[i][j], cameraToWorld[i, j], accuracy: 1e-12) } }
        XCTAssertEqual(Set(first.keys), ["id", "img_name", "width", "height", "position", "rotation", "fx", "fy", "cx", "cy", "split", "time"])
    }

    func testAnOriginal3DGSFileReads() throws {
        // As 3DGS's camera_to_JSON writes it: no cx, cy or split.
        let c2w = pose.rotation.transposed.rows.map { "[\($0.x), \($0.y), \($0.z)]" }.joined(separator: ", ")
        let p = pose.position
        let text = """
        [{"id": 0, "img_name": "00001", "width": 64, "height": 48, "position": [\(p.x), \(p.y), \(p.z)],
          "rotation": [\(c2w)], "fy": 51.0, "fx": 50.0}]
        """
        let entries = try CamerasJSON.decode(Data(text.utf8), path: "cameras.json")
        XCTAssertEqual(entries[0].name, "00001")
        XCTAssertEqual(entries[0].intrinsics, Intrinsics(width: 64, height: 48, fx: 50, fy: 51, cx: 32, cy: 24))
        XCTAssertEqual(entries[0].split, .train)
        XCTAssertNil(entries[0].time)
        assertSamePose(entries[0].pose, pose)
    }

    func testAnOldSplatFileReadsToTheSamePose() throws {
        // The layout splat wrote before: `name` and world-to-camera rows.
        let w2c = pose.rotation.rows.map { "[\($0.x), \($0.y), \($0.z)]" }.joined(separator: ", ")
        let p = pose.position
        let text = """
        [{"cx": 30, "cy": 25, "fx": 50, "fy": 51, "height": 48, "id": 0, "name": "images/a.png",
          "position": [\(p.x), \(p.y), \(p.z)], "rotation": [\(w2c)], "split": "test", "width": 64}]
        """
        let entries = try CamerasJSON.decode(Data(text.utf8), path: "cameras.json")
        XCTAssertEqual(entries[0].name, "images/a.png")
        XCTAssertEqual(entries[0].split, .test)
        XCTAssertEqual(entries[0].intrinsics, intrinsics)
        assertSamePose(entries[0].pose, pose)
        // In memory the rotation is camera-to-world, as the new layout writes it.
        let cameraToWorld = pose.rotation.transposed
        for i in 0..<3 { for j in 0..<3 { XCTAssertEqual(entries[0].rotation[i][j], cameraToWorld[i, j], accuracy: 1e-12) } }
    }

    func entry(_ replacing: [String: String] = [:], name: String = "a") -> String {
        var fields = ["id": "0", "img_name": "\"\(name)\"", "width": "64", "height": "48", "fx": "50", "fy": "50",
                      "position": "[0, 0, 0]", "rotation": "[[1, 0, 0], [0, 1, 0], [0, 0, 1]]"]
        for (key, value) in replacing { fields[key] = value }
        return "{" + fields.filter { $0.value != "-" }.map { "\"\($0.key)\": \($0.value)" }.joined(separator: ", ") + "}"
    }

    func testBadValuesAreRefused() {
        XCTAssertEqual(problem("[\(entry()), \(entry(["width": "0"], name: "b"))]"),
                       #"camera 1 ("b"): "width" must be a whole number from 1 to 65536, got 0"#)
        XCTAssertEqual(problem("[\(entry(["height": "70000"]))]"), #"camera 0 ("a"): "height" must be a whole number from 1 to 65536, got 70000"#)
        XCTAssertEqual(problem("[\(entry(["width": "9.3e18"]))]"),
                       "[0].width: expected a whole number from \(Int.min) to \(Int.max), found 9.3e18")
        XCTAssertEqual(problem("[\(entry(["width": "1e300"]))]"),
                       "[0].width: expected a whole number from \(Int.min) to \(Int.max), found 1e300")
        XCTAssertEqual(problem("[\(entry(["fx": "0"]))]"), #"camera 0 ("a"): "fx" must be a number above 0 up to 1e6, got 0.0"#)
        XCTAssertEqual(problem("[\(entry(["fy": "\"x\""]))]"), "[0].fy: expected a number, found a string")
        XCTAssertEqual(problem("[\(entry(["cx": "1e300"]))]"), #"camera 0 ("a"): "cx" must be a number from -1e6 to 1e6, got 1e+300"#)
        XCTAssertEqual(problem("[\(entry(["position": "[0, 1e308, 0]"]))]"),
                       #"camera 0 ("a"): "position"[1] must be a number from -1e6 to 1e6, got 1e+308"#)
        XCTAssertTrue(problem("[\(entry(["position": "[0, 0]"]))]").contains(#""position" must be a list of 3 numbers"#))
        XCTAssertTrue(problem("[\(entry(["rotation": "[[1, 0, 0], [0, 1, 0]]"]))]").contains(#""rotation" must be 3 rows of 3 numbers"#))
        XCTAssertTrue(problem("[\(entry(["rotation": "[[2, 0, 0], [0, 1, 0], [0, 0, 1]]"]))]").contains(#""rotation" must be a rotation"#))
        XCTAssertTrue(problem("[\(entry(["rotation": "[[-1, 0, 0], [0, 1, 0], [0, 0, 1]]"]))]").contains("determinant is -1"))
        XCTAssertEqual(problem("[\(entry(["split": "\"sideways\""]))]"), #"[0].split: "sideways" is not an allowed value"#)
        XCTAssertEqual(problem("[\(entry(["time": "2"]))]"), #"camera 0 ("a"): "time" must be a number from 0 to 1, got 2.0"#)
        XCTAssertEqual(problem("[\(entry(["img_name": "-"]))]"), #"key "img_name" is missing (at [0])"#)
        XCTAssertEqual(problem("{}"), "the top level: expected a list, found an object")
        XCTAssertTrue(problem("[\(entry()),]").contains("a trailing comma before ']' is not allowed"))
    }

    func testAFIFOIsRefusedAtOnce() {
        let path = "\(folder!)/cameras.json"
        XCTAssertEqual(mkfifo(path, 0o600), 0)
        let start = Date()
        XCTAssertTrue(errorText { _ = try CamerasJSON.read(path) }.contains("not a regular file"))
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)
    }
}
