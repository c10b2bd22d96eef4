@testable import Datasets
import Foundation
import Geometry
import XCTest

/// transforms.json: every number validated where it is read (issue 20).
final class TransformsJSONValidationTests: TemporaryFolderTestCase {
    static let identity = "[[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]"

    /// A document with one global camera and the given frames (JSON text each).
    func document(_ frames: [String], global: String = #""fl_x": 50, "w": 40, "h": 30"#) -> Data {
        Data("{\(global), \"frames\": [\(frames.joined(separator: ", "))]}".utf8)
    }

    func frame(_ extra: String = "", file: String = "./images/0004.jpg", matrix: String = identity) -> String {
        "{\"file_path\": \"\(file)\", \"transform_matrix\": \(matrix)\(extra.isEmpty ? "" : ", " + extra)}"
    }

    /// The problem of decoding `data` (fails the test when it decodes).
    func problem(_ data: Data, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try TransformsJSON.decode(data, path: "transforms.json")
            XCTFail("expected an error", file: file, line: line)
            return ""
        } catch let error as DatasetError {
            XCTAssertEqual(error.path, "transforms.json", file: file, line: line)
            return error.problem
        } catch {
            XCTFail("not a DatasetError: \(error)", file: file, line: line)
            return ""
        }
    }

    func testDecodeWithoutImages() throws {
        let data = document([frame(#""time": 0.5, "k1": 0.01"#, file: "a"),
                             frame(#""w": 20, "h": 10, "camera_angle_x": 1.0, "fl_x": null"#, file: "b.png")],
                            global: #""fl_x": 50, "aabb_scale": 4, "offset": [0, 1, 2]"#)
        let doc = try TransformsJSON.decode(data, path: "t.json")
        XCTAssertEqual(doc.frames.map(\.filePath), ["a", "b.png"])
        XCTAssertNil(doc.frames[0].width)
        XCTAssertEqual(doc.frames[0].time, 0.5)
        XCTAssertEqual(doc.frames[0].distortion, .opencv(k1: 0.01, k2: 0, k3: 0, p1: 0, p2: 0))
        XCTAssertEqual(doc.frames[1].width, 20)
        // The frame's null fl_x counts as absent: the global fl_x applies, and a given focal length wins over an angle.
        XCTAssertEqual(try doc.frames[1].intrinsics(width: 20, height: 10, path: "t.json").fx, 50)
        XCTAssertEqual(doc.ngp, NGPTransform(aabbScale: 4, scale: 0.33, offset: Vector3(0, 1, 2)))
        XCTAssertEqual(doc.frames[0].pose.forward, Vector3(0, 0, -1))
    }

    func testBadWidthsAndHeightsAreRefused() {
        let prefix = #"frame 3 (./images/0004.jpg): "w" must be a whole number from 1 to 65536, got "#
        let good = frame(file: "ok.png")
        for bad in ["1e300", "9.3e18", "0", "-4", "40.5", "65537"] {
            XCTAssertEqual(problem(document([good, good, good, frame("\"w\": \(bad)")])), prefix + bad)
        }
        // nan and inf cannot be JSON numbers; as strings they are refused the same way.
        for bad in ["nan", "inf", "-inf", "1e300", "9.3e18"] {
            XCTAssertEqual(problem(document([good, good, good, frame("\"w\": \"\(bad)\"")])), prefix + "\"\(bad)\"")
        }
        XCTAssertEqual(problem(document([frame(#""h": "nan""#)])),
                       #"frame 0 (./images/0004.jpg): "h" must be a whole number from 1 to 65536, got "nan""#)
        XCTAssertEqual(problem(document([frame(#""h": true"#)])),
                       #"frame 0 (./images/0004.jpg): "h" must be a whole number from 1 to 65536, got true"#)
        // A megabyte-long number is quoted in part.
        let long = "0." + String(repeating: "0", count: 1 << 20) + "5"
        XCTAssertEqual(problem(document([frame("\"w\": \(long)")])),
                       #"frame 0 (./images/0004.jpg): "w" must be a whole number from 1 to 65536, got "# + long.prefix(80) + "...")
        // A bad global value names no frame.
        XCTAssertEqual(problem(document([frame()], global: #""fl_x": 50, "w": 1e300"#)),
                       #""w" must be a whole number from 1 to 65536, got 1e300"#)
        // NaN as a JSON literal is a syntax error with its position.
        let nanProblem = problem(document([frame()], global: #""fl_x": 50, "w": NaN"#))
        XCTAssertTrue(nanProblem.hasPrefix("not valid JSON: line 1, column 19: NaN"), nanProblem)
    }

    func testBadMatricesAreRefused() {
        XCTAssertEqual(problem(document([frame(matrix: "[[1,0,0,1e308],[0,1,0,0],[0,0,1,0],[0,0,0,1]]")])),
                       #"frame 0 (./images/0004.jpg): "transform_matrix"[0][3] must be a number from -1e6 to 1e6, got 1e308"#)
        XCTAssertEqual(problem(document([frame(matrix: "[[1,0,0,0],[0,1,0,\"x\"],[0,0,1,0],[0,0,0,1]]")])),
                       #"frame 0 (./images/0004.jpg): "transform_matrix"[1][3] must be a number from -1e6 to 1e6, got "x""#)
        XCTAssertTrue(problem(document([frame(matrix: "[[1,0,0,0],[0,1,0,0]]")])).contains("must be 3 or 4 rows of 4 numbers"))
        XCTAssertTrue(problem(document([frame(matrix: "[[1,0,0],[0,1,0],[0,0,1]]")])).contains("must be 3 or 4 rows of 4 numbers, got row 0"))
        XCTAssertTrue(problem(document([frame(matrix: "[[2,0,0,0],[0,2,0,0],[0,0,2,0],[0,0,0,1]]")]))
            .contains("the upper-left 3x3 of \"transform_matrix\" must be a rotation"))
        XCTAssertTrue(problem(document([frame(matrix: "[[0,0,0,0],[0,0,0,0],[0,0,0,0],[0,0,0,1]]")])).contains("must be a rotation"))
        XCTAssertTrue(problem(document([frame(matrix: "[[-1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]")])).contains("is a reflection"))
        // 3x4 is accepted, and so are rounded rotations.
        XCTAssertNoThrow(try TransformsJSON.decode(document([frame(matrix: "[[0.7071,-0.7071,0,0],[0.7071,0.7071,0,0],[0,0,1,0]]")]), path: "t"))
        XCTAssertTrue(problem(document(["{\"file_path\": \"a.png\"}"])).contains("frame 0 (a.png) has no 4x4 transform_matrix"))
        XCTAssertTrue(problem(document(["{\"transform_matrix\": \(Self.identity)}"])).contains("frame 0 has no \"file_path\" string"))
    }

    func testBadIntrinsicsAndOtherNumbersAreRefused() {
        let f = #"frame 0 (./images/0004.jpg): "#
        XCTAssertEqual(problem(document([frame(#""fl_x": 0"#)])), f + #""fl_x" must be a number above 0 up to 1e6, got 0"#)
        XCTAssertEqual(problem(document([frame(#""fl_y": -5"#)])), f + #""fl_y" must be a number above 0 up to 1e6, got -5"#)
        XCTAssertEqual(problem(document([frame(#""cx": 1e300"#)])), f + #""cx" must be a number from -1e6 to 1e6, got 1e300"#)
        XCTAssertEqual(problem(document([frame(#""camera_angle_x": 3.2"#)])),
                       f + #""camera_angle_x" must be an angle in radians strictly between 0 and pi, got 3.2"#)
        XCTAssertEqual(problem(document([frame(#""k1": "nan""#)])), f + #""k1" must be a number from -1e6 to 1e6, got "nan""#)
        // Times outside [0, 1] are normalised when the scene loads; only non-numbers are refused here.
        XCTAssertEqual(problem(document([frame(#""time": "soon""#)])), f + #""time" must be a number from -1e6 to 1e6, got "soon""#)
        XCTAssertEqual(problem(document([frame(#""camera_model": 3"#)])), f + #""camera_model" must be a string, got 3"#)
        XCTAssertEqual(problem(document([frame(#""is_fisheye": "yes""#)])), f + #""is_fisheye" must be true or false, got "yes""#)
        // A tiny angle gives an absurd focal length: refused once the size is known.
        let tiny = problem(document([frame()], global: #""camera_angle_x": 1e-300, "w": 40, "h": 30"#))
        XCTAssertTrue(tiny.contains("the focal length in x is 4e+301 pixels, allowed above 0 up to 1e6"), tiny)
        XCTAssertEqual(problem(document([frame()], global: #""w": 40"#)), "frame 0 (./images/0004.jpg) lacks intrinsics: give fl_x/fl_y or camera_angle_x/y")
        XCTAssertEqual(problem(document([frame()], global: #""fl_x": 50, "aabb_scale": 0"#)), #""aabb_scale" must be a number above 0 up to 1e6, got 0"#)
        XCTAssertEqual(problem(document([frame()], global: #""fl_x": 50, "scale": -1"#)), #""scale" must be a number above 0 up to 1e6, got -1"#)
        XCTAssertTrue(problem(document([frame()], global: #""fl_x": 50, "offset": [1, 2]"#))
            .contains(#""offset" must be a list of 3 numbers from -1e6 to 1e6, got a list"#))
        XCTAssertEqual(problem(document([frame()], global: #""fl_x": 50, "offset": [1, 2, 1e7]"#)),
                       #""offset"[2] must be a number from -1e6 to 1e6, got 1e7"#)
    }

    func testStructureErrors() {
        XCTAssertEqual(problem(Data("[]".utf8)), "expected a JSON object at the top, found a list")
        XCTAssertEqual(problem(Data("{}".utf8)), "has no \"frames\" list")
        XCTAssertEqual(problem(Data(#"{"frames": [3]}"#.utf8)), "frame 0 must be a JSON object, found the number 3")
        XCTAssertEqual(problem(Data(#"{"frames": [], }"#.utf8)), "not valid JSON: line 1, column 16: a trailing comma before '}' is not allowed")
        XCTAssertTrue(problem(Data(#"{"frames": [], "frames": []}"#.utf8)).contains("duplicate key \"frames\""))
    }

    func testFileReadersRefuseAFIFOAtOnce() throws {
        XCTAssertEqual(mkfifo("\(folder!)/transforms.json", 0o600), 0)
        let start = Date()
        let text = errorText { _ = try SceneLoader.load(folder) }
        XCTAssertTrue(text.contains("transforms.json: not a regular file"), text)
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)
    }

    /// The repository's and ../shared's real transforms files pass validation.
    func testRealFilesDecode() throws {
        var files = ["demo/transforms_train.json", "demo/transforms_test.json", "toy/transforms_train.json"]
            .map { "\(Repository.root)/Scenes/\($0)" }
        for name in ["fox/transforms.json", "dnerf/jumpingjacks/transforms_train.json", "dnerf/hook/transforms_test.json"] {
            let path = "\(Repository.shared)/scenes/\(name)"
            if FileManager.default.fileExists(atPath: path) { files.append(path) }
        }
        for path in files {
            let document = try TransformsJSON.decode(StrictJSON.readFile(path), path: path)
            XCTAssertFalse(document.frames.isEmpty, path)
        }
    }

    func testImageSizeFromTheImageIsChecked() throws {
        try writeImage("a.png", width: 20, height: 10)
        try write("{\"camera_angle_x\": 1.0, \"frames\": [\(frame(file: "a"))]}", "transforms.json")
        let scene = try SceneLoader.load(folder)
        XCTAssertEqual(scene.frames[0].intrinsics.width, 20)
        XCTAssertEqual(scene.frames[0].intrinsics.fx, 10 / tan(0.5), accuracy: 1e-9)
    }
}
