import Datasets
import Foundation
import XCTest

/// Runs the built `splat` the way a user does, checking the command forms
/// and JSON of CONVENTIONS.md.
final class CLITests: XCTestCase {
    func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        try SplatProcess.run(arguments, environment: environment)
    }

    func json(_ text: String) throws -> [String: Any] { try SplatProcess.json(text) }

    func testHelpExplains() throws {
        let result = try run(["--help"])
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.stdout.contains("info"))
        XCTAssertTrue(result.stdout.contains("bench"))
    }

    func testInfoDevices() throws {
        let result = try run(["info", "--devices", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try json(result.stdout)
        let devices = try XCTUnwrap(object["devices"] as? [[String: Any]])
        XCTAssertFalse(devices.isEmpty)
        XCTAssertNotNil(devices[0]["subgroupSize"])
        XCTAssertNotNil(devices[0]["maxSharedMemoryBytes"])
        let text = try run(["info", "--devices"])
        XCTAssertTrue(text.stdout.contains("(chosen)"), text.stdout)
    }

    func testBenchSortJSON() throws {
        let result = try run(["bench", "sort", "--count", "20000", "--bits", "40", "--runs", "2", "--warmup", "1", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try json(result.stdout)
        for key in ["device", "count", "bits", "ms", "mkeys_per_s", "baseline", "baseline_ms", "speedup"] {
            XCTAssertNotNil(object[key], "missing \(key)")
        }
        XCTAssertEqual(object["baseline"] as? String, "swift-sort")
        XCTAssertEqual(object["count"] as? Int, 20000)
        XCTAssertEqual(object["verified"] as? Bool, true)
        XCTAssertTrue((object["ms"] as? Double).map { $0.isFinite && $0 >= 0 } ?? false)
    }

    func testBenchScanJSON() throws {
        let result = try run(["bench", "scan", "--count", "50000", "--runs", "2", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try json(result.stdout)
        XCTAssertEqual(object["verified"] as? Bool, true)
        XCTAssertNotNil(object["speedup"])
    }

    func testUnknownDeviceListsDevices() throws {
        let result = try run(["info", "--devices"], environment: ["SPLAT_DEVICE": "no-such-gpu"])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("no-such-gpu"), result.stderr)
        XCTAssertTrue(result.stderr.contains("0:"), result.stderr)
    }

    func testMissingLoaderNamesThePackage() throws {
        let result = try run(["bench", "sort", "--count", "10"], environment: ["SPLAT_VULKAN_LIBRARY": "/nonexistent/libvulkan.so.1"])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("apt-get install libvulkan1"), result.stderr)
    }

    func testBadArgumentsAreUserErrors() throws {
        let result = try run(["bench", "sort", "--bits", "99"])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("--bits"), result.stderr)
    }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func testInfoScene() throws {
        let result = try run(["info", "\(Self.repository)/Scenes/demo", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try json(result.stdout)
        XCTAssertEqual(object["images"] as? Int, 32)
        XCTAssertEqual(object["format"] as? String, "transforms.json")
        let text = try run(["info", "\(Self.repository)/Scenes/demo"])
        XCTAssertTrue(text.stdout.contains("train 24, test 8"), text.stdout)
    }

    func testInfoOfAMissingPathIsAUserError() throws {
        let result = try run(["info", "/nonexistent/scene"])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("/nonexistent/scene"), result.stderr)
    }

    func testConvertAndInfoModel() throws {
        let folder = NSTemporaryDirectory() + "splat-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var model = GaussianModel(count: 3, shDegree: 1)
        model.positions = [0, 0, 0, 1, 2, 3, -1, -2, -3]
        try GaussianPLY.write(model, to: "\(folder)/in.ply")
        let converted = try run(["convert", "\(folder)/in.ply", "\(folder)/out.splat"])
        XCTAssertEqual(converted.status, 0, converted.stderr)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: "\(folder)/out.splat")[.size] as? Int, 3 * 32)
        let dropped = try run(["convert", "\(folder)/in.ply", "\(folder)/deg0.ply", "--sh-degree", "0"])
        XCTAssertEqual(dropped.status, 0, dropped.stderr)
        let info = try run(["info", "\(folder)/deg0.ply"])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("3") && info.stdout.lowercased().contains("degree"), info.stdout)
        let bad = try run(["convert", "\(folder)/in.ply", "\(folder)/out.xyz"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("out.xyz"), bad.stderr)
    }

    func testConvertSPZBothWays() throws {
        let folder = NSTemporaryDirectory() + "splat-cli-spz-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var model = GaussianModel(count: 3, shDegree: 1)
        model.positions = [0, 0, 0, 1, 2, 3, -1, -2, -3]
        model.shRest = (0..<27).map { Float($0 % 9 - 4) / 8 }
        try GaussianPLY.write(model, to: "\(folder)/in.ply")
        let toSPZ = try run(["convert", "\(folder)/in.ply", "\(folder)/m.spz"])
        XCTAssertEqual(toSPZ.status, 0, toSPZ.stderr)
        let back = try run(["convert", "\(folder)/m.spz", "\(folder)/back.ply"])
        XCTAssertEqual(back.status, 0, back.stderr)
        let read = try GaussianPLY.read(path: "\(folder)/back.ply")
        XCTAssertEqual(read.shDegree, 1)
        XCTAssertEqual(read.positions, model.positions)
        for (a, b) in zip(read.shRest, model.shRest) { XCTAssertEqual(a, b, accuracy: 4.5 / 128) }
        let info = try run(["info", "\(folder)/m.spz"])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains(".spz") && info.stdout.contains("SH degree  1"), info.stdout)
        try Data("not gzip".utf8).write(to: URL(fileURLWithPath: "\(folder)/bad.spz"))
        let bad = try run(["convert", "\(folder)/bad.spz", "\(folder)/x.ply"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("bad.spz") && bad.stderr.contains("gzip"), bad.stderr)
    }

    func testTrainWritesTheOutputFolder() throws {
        let out = NSTemporaryDirectory() + "splat-train-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let result = try run(["train", "\(Self.repository)/Scenes/demo", "--out", out, "--iterations", "30", "--random-points", "500",
                              "--downscale", "2"])
        XCTAssertEqual(result.status, 0, result.stderr)
        for file in ["point_cloud.ply", "cameras.json", "model.json", "config.json", "metrics.json", "checkpoint/state.bin"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/\(file)"), "missing \(file)")
        }
        let metrics = try json(String(decoding: try Data(contentsOf: URL(fileURLWithPath: "\(out)/metrics.json")), as: UTF8.self))
        XCTAssertEqual(metrics["iterations"] as? Int, 30)
        XCTAssertNotNil(metrics["test_psnr"])
        let model = try GaussianPLY.read(path: "\(out)/point_cloud.ply")
        XCTAssertEqual(model.count, 500)

        // splat eval scores the same held-out images, at the resolution the
        // model was trained at, and prints the JSON of CONVENTIONS.md.
        let eval = try run(["eval", out, "\(Self.repository)/Scenes/demo", "--json"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let scores = try json(eval.stdout)
        XCTAssertEqual(scores["downscale"] as? Int, 2)
        XCTAssertEqual(scores["images"] as? Int, 8)
        XCTAssertEqual((scores["per_image"] as? [[String: Any]])?.count, 8)
        let psnr = try XCTUnwrap(scores["psnr"] as? Double)
        XCTAssertEqual(psnr, try XCTUnwrap(metrics["test_psnr"] as? Double), accuracy: 1e-6)
    }

    func testTrainRejectsAnUnwritableOutput() throws {
        let result = try run(["train", "\(Self.repository)/Scenes/demo", "--out", "/proc/no-such-place/out", "--iterations", "1"])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("/proc/no-such-place/out"), result.stderr)
    }

    /// Ctrl-C saves everything and exits 130; --resume continues from the checkpoint.
    func testInterruptSavesACheckpointAndResumeContinues() throws {
        let out = NSTemporaryDirectory() + "splat-interrupt-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let process = Process()
        process.executableURL = SplatProcess.binary
        process.arguments = ["train", "\(Self.repository)/Scenes/demo", "--out", out, "--iterations", "100000", "--random-points", "300",
                             "--save-every", "0"]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Wait for the first progress line (non-terminal: every 10 s, the first at once).
        let handle = err.fileHandleForReading
        var seen = ""
        while !seen.contains("iteration "), process.isRunning {
            seen += String(decoding: handle.availableData, as: UTF8.self)
        }
        kill(process.processIdentifier, SIGINT)
        seen += String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130, seen)
        XCTAssertTrue(seen.contains("--resume"), seen)
        for file in ["point_cloud.ply", "metrics.json", "checkpoint/state.bin"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/\(file)"), "missing \(file)")
        }
        let metrics = try json(String(decoding: try Data(contentsOf: URL(fileURLWithPath: "\(out)/metrics.json")), as: UTF8.self))
        let stopped = try XCTUnwrap(metrics["iterations"] as? Int)
        XCTAssertLessThan(stopped, 100000)

        let resumed = try run(["train", "\(Self.repository)/Scenes/demo", "--resume", out, "--iterations", "\(stopped + 5)"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("resuming at iteration \(stopped)"), resumed.stderr)
        let after = try json(String(decoding: try Data(contentsOf: URL(fileURLWithPath: "\(out)/metrics.json")), as: UTF8.self))
        XCTAssertEqual(after["iterations"] as? Int, stopped + 5)

        // A different split cannot resume this checkpoint.
        let mismatch = try run(["train", "\(Self.repository)/Scenes/demo", "--resume", out, "--downscale", "2"])
        XCTAssertEqual(mismatch.status, 1)
        XCTAssertTrue(mismatch.stderr.contains("--downscale"), mismatch.stderr)
    }
}
