import Datasets
import Foundation
import Geometry
import XCTest

/// nerfstudio camera paths (issue 27, item 1): a path exported by `splat
/// render --export-path` renders the same frames back (with and without a
/// dataparser transform, whose frame the path is then in), and bad paths
/// are one-line errors naming the file.
final class CameraPathCLITests: XCTestCase {
    func testExportedPathRendersTheSameFrames() throws {
        let folder = NSTemporaryDirectory() + "splat-path-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let model = "\(CLITests.repository)/Scenes/toy/toy.ply"
        // A dataparser transform: a rotation about z, a translation and a scale.
        let c = cos(0.3), s = sin(0.3)
        let transform = folder + "/dataparser_transforms.json"
        try #"{"transform": [[\#(c), \#(-s), 0, 0.5], [\#(s), \#(c), 0, -0.2], [0, 0, 1, 0.1]], "scale": 0.4}"#
            .write(toFile: transform, atomically: true, encoding: .utf8)
        for dataparser in [[], ["--dataparser-transforms", transform]] {
            let path = folder + "/camera_path.json"
            let orbit = try SplatProcess.run(["render", model, "--orbit", "3", "--width", "40", "--height", "30", "-o", folder + "/orbit",
                                              "--export-path", path] + dataparser)
            XCTAssertEqual(orbit.status, 0, orbit.stderr)
            let replay = try SplatProcess.run(["render", model, "--camera-path", path, "-o", folder + "/replay"] + dataparser)
            XCTAssertEqual(replay.status, 0, replay.stderr)
            for k in 0..<3 {
                let a = try ImageIO.read(path: folder + String(format: "/orbit/%05d.png", k))
                let b = try ImageIO.read(path: folder + String(format: "/replay/%05d.png", k))
                XCTAssertEqual([b.width, b.height], [40, 30])
                let worst = zip(a.pixels, b.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 255
                XCTAssertLessThanOrEqual(worst, 1, "frame \(k) \(dataparser)")
            }
            let text = try String(contentsOfFile: path, encoding: .utf8)
            XCTAssertTrue(text.contains("\"camera_to_world\"") && text.contains("\"render_width\" : 40"), text)
            try FileManager.default.removeItem(atPath: folder + "/orbit")
            try FileManager.default.removeItem(atPath: folder + "/replay")
        }
        // --smooth-path N: N frames through a trained model's cameras, the first at the first camera.
        let trained = folder + "/trained"
        XCTAssertEqual(try SplatProcess.run(["train", "\(CLITests.repository)/Scenes/demo", "-n", "2", "-d", "4", "-o", trained]).status, 0)
        let smooth = try SplatProcess.run(["render", trained, "--smooth-path", "7", "-o", folder + "/smooth", "--export-path", folder + "/smooth.json"])
        XCTAssertEqual(smooth.status, 0, smooth.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/smooth/00006.png"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/smooth/00007.png"))
        let rendered = try CamerasJSON.read(folder + "/smooth/cameras.json"), recorded = try CamerasJSON.read(trained + "/cameras.json")
        let first = recorded.filter { $0.split == .train }.min { $0.name < $1.name }!
        XCTAssertLessThan((rendered[0].pose.position - first.pose.position).length, 1e-9)
        // A transforms.json whose images do not exist: its cameras render.
        let camerasOnly = folder + "/cameras-only"
        try FileManager.default.createDirectory(atPath: camerasOnly, withIntermediateDirectories: true)
        try #"{"camera_angle_x": 0.8, "w": 32, "h": 24, "frames": [{"file_path": "./images/r_0", "transform_matrix": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 3], [0, 0, 0, 1]]}, {"file_path": "./images/r_1", "transform_matrix": [[1, 0, 0, 0.2], [0, 1, 0, 0], [0, 0, 1, 3], [0, 0, 0, 1]]}]}"#
            .write(toFile: camerasOnly + "/transforms.json", atomically: true, encoding: .utf8)
        let path2 = try SplatProcess.run(["render", model, "--cameras", camerasOnly + "/transforms.json", "-o", folder + "/path2"])
        XCTAssertEqual(path2.status, 0, path2.stderr)
        XCTAssertEqual(try ImageIO.read(path: folder + "/path2/00001.png").width, 32)
        // Bad paths: zero fov, a matrix that is not a pose.
        let bad = folder + "/bad.json"
        let identity = "[1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 0, 0, 0, 1]"
        for (frame, problem) in [(#"{"camera_to_world": \#(identity), "fov": 0}"#, "fov"),
                                 (#"{"camera_to_world": [1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 0, 0, 0, 1], "fov": 50}"#, "not a rotation")] {
            try #"{"render_width": 8, "render_height": 8, "camera_path": [\#(frame)]}"#.write(toFile: bad, atomically: true, encoding: .utf8)
            let r = try SplatProcess.run(["render", model, "--camera-path", bad, "-o", folder + "/bad"])
            XCTAssertEqual(r.status, 1)
            XCTAssertTrue(r.stderr.contains(bad) && r.stderr.contains(problem), r.stderr)
        }
    }
}
