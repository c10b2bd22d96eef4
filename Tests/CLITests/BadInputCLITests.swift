import Datasets
import Foundation
import XCTest

/// Issue 20, "bad input never crashes splat", as a user meets it: damaged
/// NeRF models, configurations and checkpoints are exit status 1 with one
/// `splat: error:` line naming the file and the key; a folder holding only a
/// checkpoint is described as one; a killed run's temporary files go away.
final class BadInputCLITests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let demo = repository + "/Scenes/demo"
    /// Above Linux's largest pid_max: no live process has it.
    static let deadPID = Int32.max - 7

    var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "splat-bad-input-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// Status 1 and exactly one `splat: error:` line holding every fragment.
    func assertOneLineError(_ result: (status: Int32, stdout: String, stderr: String), _ fragments: [String],
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, 1, result.stderr, file: file, line: line)
        let lines = result.stderr.split(separator: "\n").filter { !$0.hasPrefix("warning:") && !$0.hasPrefix("splat train:") }
        XCTAssertEqual(lines.count, 1, result.stderr, file: file, line: line)
        XCTAssertTrue(lines.first?.hasPrefix("splat: error: ") ?? false, result.stderr, file: file, line: line)
        for fragment in fragments {
            XCTAssertTrue(result.stderr.contains(fragment), "'\(result.stderr)' lacks '\(fragment)'", file: file, line: line)
        }
    }

    /// A NeRF model file with `header` (sections need not follow: the header is checked first).
    func nerfModel(_ name: String, header: String) throws -> String {
        var data = Data("SPLATNRF".utf8)
        withUnsafeBytes(of: UInt32(1).littleEndian) { data.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(Data(header.utf8))
        let path = folder + "/" + name
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The NeRF model headers fuzzing found trapping `splat info` and
    /// `splat render` (aabb_scale 0, a two-value background), and a
    /// `--nerf-config` whose march_steps hung training.
    func testDamagedNerfInputsAreOneLine() throws {
        let zeroScale = try nerfModel("zero.nerf", header: #"{"config": {}, "boxCenter": [0, 0, 0], "boxSize": 2, "aabbScale": 0, "background": [0, 0, 0], "iteration": 5}"#)
        assertOneLineError(try SplatProcess.run(["info", zeroScale]), [zeroScale, "aabbScale"])
        let twoValues = try nerfModel("two.nerf", header: #"{"config": {}, "boxCenter": [0, 0, 0], "boxSize": 2, "aabbScale": 1, "background": [1, 1], "iteration": 5}"#)
        assertOneLineError(try SplatProcess.run(["render", twoValues, "--orbit", "1", "--width", "8", "--height", "8", "--out", folder + "/frames"]),
                           [twoValues, "background"])
        let config = folder + "/slow.json"
        try Data(#"{"march_steps": 1e12}"#.utf8).write(to: URL(fileURLWithPath: config))
        assertOneLineError(try SplatProcess.run(["train", Self.demo, "--method", "nerf", "--nerf-config", config, "--downscale", "4",
                                                 "--out", folder + "/nerf"]), [config, "march_steps"])
    }

    /// A run's stale temporaries are removed when training starts there; a
    /// folder that only has a checkpoint is described as one; a damaged
    /// checkpoint (Adam step -1 trapped `--resume`) is one line.
    func testCheckpointFolders() throws {
        let out = folder + "/run"
        try FileManager.default.createDirectory(atPath: out + "/checkpoint", withIntermediateDirectories: true)
        let stale = [out + "/.model.json.\(Self.deadPID).1.tmp", out + "/checkpoint/.state.bin.\(Self.deadPID).2.tmp"]
        for path in stale { XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(count: 1024))) }
        let train = try SplatProcess.run(["train", Self.demo, "--out", out, "--iterations", "2", "--random-points", "50", "--downscale", "4"])
        XCTAssertEqual(train.status, 0, train.stderr)
        for path in stale { XCTAssertFalse(FileManager.default.fileExists(atPath: path), "\(path) left behind") }

        // A run killed before its first model write: only checkpoint/ is there.
        for name in try FileManager.default.contentsOfDirectory(atPath: out) where name != "checkpoint" {
            try FileManager.default.removeItem(atPath: out + "/" + name)
        }
        let info = try SplatProcess.run(["info", out])
        XCTAssertEqual(info.status, 0, info.stderr)
        for fragment in ["checkpoint", "iteration 2", "50 Gaussians", "--resume \(out)"] {
            XCTAssertTrue(info.stdout.contains(fragment), "'\(info.stdout)' lacks '\(fragment)'")
        }

        // Adam step -1 in the header.
        let path = out + "/checkpoint/state.bin"
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = Int(data[12]) | Int(data[13]) << 8 | Int(data[14]) << 16 | Int(data[15]) << 24
        let header = String(decoding: data.subdata(in: 16..<(16 + headerLength)), as: UTF8.self)
        let damaged = try XCTUnwrap(header.range(of: #""adam_step":2"#).map { header.replacingCharacters(in: $0, with: #""adam_step":-1"#) })
        data.replaceSubrange(12..<(16 + headerLength), with: withUnsafeBytes(of: UInt32(damaged.utf8.count).littleEndian, Array.init) + Array(damaged.utf8))
        try data.write(to: URL(fileURLWithPath: path))
        assertOneLineError(try SplatProcess.run(["info", out]), [path, "adam_step"])
        assertOneLineError(try SplatProcess.run(["train", Self.demo, "--resume", out, "--downscale", "4"]), [path, "adam_step"])
    }

    /// Issue 22's bad input: a Gaussian budget below the initial points
    /// subsamples them with one line saying so (random points and a COLMAP
    /// scene's points alike); a resolution schedule longer than the run
    /// trains at the coarse size and says so; options of the other
    /// densification are refused.
    func testBudgetAndScheduleLongerThanTheRun() throws {
        let out = folder + "/out"
        let random = try SplatProcess.run(["train", Self.demo, "--out", out, "--iterations", "20", "--random-points", "500", "--densify", "mcmc",
                                           "--max-gaussians", "200", "--resolution-schedule", "25", "--eval-every", "0"])
        XCTAssertEqual(random.status, 0, random.stderr)
        XCTAssertTrue(random.stderr.contains("--random-points 500 exceeds the budget of 200 Gaussians; starting from 200 random points"), random.stderr)
        // The demo's 64 px images are halved once, not twice (32 px at least).
        XCTAssertTrue(random.stderr.contains("starts at 1/2 size, not 1/4"), random.stderr)
        XCTAssertTrue(random.stderr.contains("reaches full size after this 20-iteration run ends; training stays at 1/2 size"), random.stderr)
        XCTAssertEqual(try GaussianPLY.read(path: out + "/point_cloud.ply").count, 200)

        // A COLMAP text scene with 3 points and a budget of 2.
        let scene = folder + "/colmap"
        try FileManager.default.createDirectory(atPath: scene + "/sparse/0", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: scene + "/images", withIntermediateDirectories: true)
        for name in ["a.png", "b.png"] {
            let pixels = (0..<(32 * 24 * 3)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            try ImageIO.writePNG(Image8(width: 32, height: 24, channels: 3, pixels: pixels), to: scene + "/images/" + name)
        }
        let files = [
            "cameras": "1 PINHOLE 32 24 30 30 16 12\n",
            "images": "1 1 0 0 0 0 0 4 1 a.png\n\n2 0.9950041652780258 0 0.09983341664682815 0 -0.4 0 4 1 b.png\n\n",
            "points3D": "1 0 0 0 255 0 0 0.5\n2 0.2 0.1 0 0 255 0 0.5\n3 -0.1 0.2 0.1 0 0 255 0.5\n",
        ]
        for (name, text) in files { try Data(text.utf8).write(to: URL(fileURLWithPath: scene + "/sparse/0/\(name).txt")) }
        let points = try SplatProcess.run(["train", scene, "--out", folder + "/out2", "--iterations", "3", "--max-gaussians", "2"])
        XCTAssertEqual(points.status, 0, points.stderr)
        XCTAssertTrue(points.stderr.contains("the scene's 3 points exceed the budget of 2 Gaussians; starting from a random 2 of them"), points.stderr)

        let misplaced = try SplatProcess.run(["train", Self.demo, "--out", folder + "/misplaced", "--percent-dense", "0.02"])
        XCTAssertEqual(misplaced.status, 1)
        XCTAssertTrue(misplaced.stderr.contains("--percent-dense is for --densify adaptive (this run uses mcmc, the default)"), misplaced.stderr)
        let noise = try SplatProcess.run(["train", Self.demo, "--out", folder + "/misplaced", "--densify", "adaptive", "--noise-lr", "1"])
        XCTAssertEqual(noise.status, 1)
        XCTAssertTrue(noise.stderr.contains("--noise-lr is for --densify mcmc"), noise.stderr)
    }
}
