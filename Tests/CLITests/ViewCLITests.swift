import Datasets
import Foundation
import XCTest

/// `splat view` in a real window: under Xvfb (xvfb-run) with lavapipe, as the
/// README's check mode. CI installs xvfb; elsewhere these tests say that it is
/// missing and skip (they fail when CI=true).
final class ViewCLITests: XCTestCase {
    private var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "splat-view-cli-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    private static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    private var demo: String { "\(Self.repository)/Scenes/demo" }

    /// xvfb-run's path, or a skip (a failure in CI).
    private func xvfbRun() throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(dir)/xvfb-run"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            XCTFail("xvfb-run is missing; CI must install xvfb (Tools/install-deps.sh)")
        }
        throw XCTSkip("xvfb-run is not installed (apt-get install xvfb xauth); the viewer's window tests need it")
    }

    /// Runs `splat COMMAND ARGS` in a virtual X server with validation on;
    /// any validation message fails the test.
    private func view(_ arguments: [String], command: String = "view") throws -> (status: Int32, stdout: String, stderr: String) {
        let result = try SplatProcess.run([command] + arguments, environment: ["SPLAT_VALIDATION": "1"],
                                          launcher: [try xvfbRun(), "-a", "-s", "-screen 0 1024x768x24"])
        XCTAssertFalse(result.stderr.contains("Vulkan validation"), result.stderr)
        return result
    }

    /// A .ply of 60 small Gaussians around the origin, where the demo scene's cameras look.
    private func tinyModel() throws -> String {
        let path = "\(folder!)/model.ply"
        try GaussianPLY.write(SplatProcess.tinyModel(count: 60, seed: 3), to: path)
        return path
    }

    private func psnr(_ a: Image8, _ b: Image8) -> Double {
        XCTAssertEqual(a.width, b.width)
        XCTAssertEqual(a.height, b.height)
        let mse = zip(a.pixels, b.pixels).reduce(0.0) { $0 + pow(Double($1.0) - Double($1.1), 2) } / Double(max(a.pixels.count, 1))
        return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
    }

    /// The window's frame of a scene camera equals `splat render` of that camera.
    func testScreenshotMatchesRender() throws {
        let model = try tinyModel()
        let shot = "\(folder!)/shot.png"
        let result = try view([model, "--camera", "\(demo)/transforms_test.json:3", "--exit-after", "3", "--screenshot", shot])
        XCTAssertEqual(result.status, 0, result.stderr)
        let renders = "\(folder!)/renders"
        let rendered = try SplatProcess.run(["render", model, "--cameras", "\(demo)/transforms_test.json", "--out", renders])
        XCTAssertEqual(rendered.status, 0, rendered.stderr)
        let a = try ImageIO.read(path: shot), b = try ImageIO.read(path: "\(renders)/00003.png")
        XCTAssertEqual(a.channels, 3)
        XCTAssertGreaterThanOrEqual(psnr(a, b), 40)
        XCTAssertTrue(a.pixels.contains { $0 != 0 }, "the frame shows the Gaussians")
    }

    /// A 4D model in the window: a scene camera's frame is shown at that
    /// frame's time and equals `splat render` of it; `.` steps the time.
    func test4DModelShowsTheCameraTimeAndStepsIt() throws {
        var m = SplatProcess.tinyModel(count: 80, seed: 5)
        m.hasTime = true
        m.timeMeans = (0..<m.count).map { Float($0) / Float(m.count) }
        m.timeScales = [Float](repeating: log(0.05), count: m.count)
        m.rotationsRight = (0..<m.count * 4).map { $0 % 4 == 0 ? 1 : 0 }
        let model = "\(folder!)/model4d.ply"
        try GaussianPLY.write(m, to: model)
        let dynamic = "\(Self.repository)/Scenes/dynamic/transforms_test.json"
        let shot = "\(folder!)/shot.png", stepped = "\(folder!)/stepped.png"
        let result = try view([model, "--camera", "\(dynamic):3", "--exit-after", "3", "--screenshot", shot])
        XCTAssertEqual(result.status, 0, result.stderr)
        let script = "\(folder!)/keys.txt"
        try (String(repeating: "key .\n", count: 10) + "wait 1\n").write(toFile: script, atomically: true, encoding: .utf8)
        let keys = try view([model, "--camera", "\(dynamic):3", "--input-script", script, "--exit-after", "13", "--screenshot", stepped])
        XCTAssertEqual(keys.status, 0, keys.stderr)
        // Test frame 3 is at time 3.5 / 20 = 0.175; ten steps of 0.01 later, 0.275.
        for (time, image) in [(0.175, shot), (0.275, stepped)] {
            let renders = "\(folder!)/renders-\(time)"
            let rendered = try SplatProcess.run(["render", model, "--cameras", dynamic, "--time", "\(time)", "--out", renders])
            XCTAssertEqual(rendered.status, 0, rendered.stderr)
            let a = try ImageIO.read(path: image), b = try ImageIO.read(path: "\(renders)/00003.png")
            XCTAssertGreaterThanOrEqual(psnr(a, b), 40, "time \(time)")
        }
        XCTAssertLessThan(psnr(try ImageIO.read(path: shot), try ImageIO.read(path: stepped)), 40, "the time step changes the frame")
    }

    /// A NeRF in the window: the frame of a scene camera equals `splat render` of it.
    func testNerfScreenshotMatchesRender() throws {
        _ = try xvfbRun()
        let config = "\(folder!)/nerf.json"
        try #"{"encoding": {"n_levels": 8, "log2_hashmap_size": 14}, "network": {"n_neurons": 16}, "rgb_network": {"n_neurons": 16, "n_hidden_layers": 1}, "grid_size": 32, "grid_update_points": 4096, "samples_per_batch": 4096, "rays_per_batch": 256}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let model = "\(folder!)/nerf"
        let trained = try SplatProcess.run(["train", demo, "--method", "nerf", "--nerf-config", config, "--downscale", "2",
                                            "--iterations", "15", "--out", model])
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let shot = "\(folder!)/nerf-shot.png"
        let result = try view([model, "--camera", "\(demo)/transforms_test.json:3", "--downscale", "2", "--exit-after", "2", "--screenshot", shot])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("NeRF"), result.stderr)
        let renders = "\(folder!)/nerf-renders"
        let rendered = try SplatProcess.run(["render", model, "--cameras", "\(demo)/transforms_test.json", "--downscale", "2", "--out", renders])
        XCTAssertEqual(rendered.status, 0, rendered.stderr)
        XCTAssertGreaterThanOrEqual(psnr(try ImageIO.read(path: shot), try ImageIO.read(path: "\(renders)/00003.png")), 40)
    }

    private func camera(_ stdout: String) throws -> (eye: SIMD3<Double>, target: SIMD3<Double>, distance: Double) {
        let json = try SplatProcess.json(stdout)
        let eye = try XCTUnwrap(json["eye"] as? [Double]), target = try XCTUnwrap(json["target"] as? [Double])
        return (SIMD3(eye[0], eye[1], eye[2]), SIMD3(target[0], target[1], target[2]), try XCTUnwrap(json["focus_distance"] as? Double))
    }

    /// Scripted input drives the same controls as the mouse: orbit keeps the
    /// target and distance and moves the eye; zoom moves toward the target;
    /// R returns to the start.
    func testScriptedOrbitAndZoomMoveTheCamera() throws {
        let model = try tinyModel()
        let start = try view([model, "--camera", "\(demo)/transforms_test.json:0", "--exit-after", "1", "--print-camera"])
        XCTAssertEqual(start.status, 0, start.stderr)
        let c0 = try camera(start.stdout)

        let script = "\(folder!)/input.txt"
        try "orbit 80 0\nwait 1\n".write(toFile: script, atomically: true, encoding: .utf8)
        let orbited = try view([model, "--camera", "\(demo)/transforms_test.json:0", "--input-script", script, "--exit-after", "3", "--print-camera"])
        XCTAssertEqual(orbited.status, 0, orbited.stderr)
        let c1 = try camera(orbited.stdout)
        XCTAssertEqual(simdLength(c1.target - c0.target), 0, accuracy: 1e-6, "orbit keeps the target")
        XCTAssertEqual(simdLength(c1.eye - c1.target), c0.distance, accuracy: 1e-6, "orbit keeps the distance")
        XCTAssertGreaterThan(simdLength(c1.eye - c0.eye), 0.01 * c0.distance, "orbit moves the eye")

        try "zoom 2\nwait 1\n".write(toFile: script, atomically: true, encoding: .utf8)
        let zoomed = try view([model, "--camera", "\(demo)/transforms_test.json:0", "--input-script", script, "--exit-after", "3", "--print-camera"])
        XCTAssertEqual(zoomed.status, 0, zoomed.stderr)
        let c2 = try camera(zoomed.stdout)
        XCTAssertEqual(c2.distance, c0.distance * 0.85 * 0.85, accuracy: 1e-6, "zoom in moves toward the target")
        XCTAssertEqual(simdLength(c2.target - c0.target), 0, accuracy: 1e-6)
    }

    private func simdLength(_ v: SIMD3<Double>) -> Double { (v * v).sum().squareRoot() }

    /// `splat train --view` shows the model while it trains, then training goes on without the window.
    func testTrainingWithTheViewer() throws {
        let out = "\(folder!)/trained"
        let result = try view([demo, "--iterations", "8", "--random-points", "500", "--save-every", "0", "--out", out,
                               "--view", "--view-frames", "3"], command: "train")
        XCTAssertEqual(result.status, 0, result.stderr)
        // --view-frames 3: live frames during training, then the trained model, 3 in all.
        let shown = result.stderr.split(separator: "\n").filter { $0.hasPrefix("splat view: ") && $0.contains(" frames at ") }
            .compactMap { Int($0.dropFirst("splat view: ".count).split(separator: " ")[0]) }
        XCTAssertEqual(shown.reduce(0, +), 3, result.stderr)
        XCTAssertTrue(result.stderr.contains("live training"), "the first frames come while training: \(result.stderr)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/point_cloud.ply"))
    }

    func testWithoutADisplayTheErrorSuggestsRender() throws {
        let model = try tinyModel()
        let result = try SplatProcess.run(["view", model], environment: ["DISPLAY": "", "WAYLAND_DISPLAY": ""])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("no display") && result.stderr.contains("splat render"), result.stderr)
    }

    func testBadInputIsReportedBeforeAWindowOpens() throws {
        let missing = try SplatProcess.run(["view", "\(folder!)/nothing.ply"], environment: ["DISPLAY": ""])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("nothing.ply"), missing.stderr)
        let model = try tinyModel()
        let script = "\(folder!)/bad.txt"
        try "orbit 1\n".write(toFile: script, atomically: true, encoding: .utf8)
        let bad = try SplatProcess.run(["view", model, "--input-script", script], environment: ["DISPLAY": ""])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("bad.txt:1: orbit takes 2 numbers"), bad.stderr)
    }
}
