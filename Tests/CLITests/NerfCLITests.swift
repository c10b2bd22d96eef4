import Datasets
import Foundation
import XCTest

/// The NeRF engine through the commands a user runs: train, info, eval,
/// render, mesh, resume, and the NaN stop.
final class NerfCLITests: XCTestCase {
    static var repository: String { CLITests.repository }

    func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) { try SplatProcess.run(arguments) }

    /// A small network so that the test takes seconds on lavapipe.
    func smallConfig() throws -> String {
        let path = NSTemporaryDirectory() + "splat-nerf-config-\(UUID().uuidString).json"
        let text = #"{"encoding": {"n_levels": 8, "log2_hashmap_size": 14}, "network": {"n_neurons": 16}, "rgb_network": {"n_neurons": 16, "n_hidden_layers": 1}, "grid_size": 32, "grid_update_points": 4096, "samples_per_batch": 4096, "rays_per_batch": 256}"#
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testTrainInfoEvalRenderMeshAndResume() throws {
        let out = NSTemporaryDirectory() + "splat-nerf-\(UUID().uuidString)"
        let config = try smallConfig()
        defer { try? FileManager.default.removeItem(atPath: out); try? FileManager.default.removeItem(atPath: config) }
        let demo = "\(Self.repository)/Scenes/demo"
        let train = try run(["train", demo, "--method", "nerf", "--nerf-config", config, "--downscale", "2", "--iterations", "20",
                             "--eval", "--profile", "--out", out])
        XCTAssertEqual(train.status, 0, train.stderr)
        for file in ["model.nerf", "checkpoint/model.nerf", "model.json", "cameras.json", "config.json", "metrics.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(out)/\(file)"), "missing \(file)")
        }
        let metrics = try SplatProcess.json(String(decoding: try Data(contentsOf: URL(fileURLWithPath: "\(out)/metrics.json")), as: UTF8.self))
        XCTAssertEqual(metrics["iterations"] as? Int, 20)
        let recorded = try SplatProcess.json(String(decoding: try Data(contentsOf: URL(fileURLWithPath: "\(out)/config.json")), as: UTF8.self))
        // Without --max-seconds the decay counts steps (the time-budget schedule: NerfTrainerTests).
        XCTAssertEqual(recorded["learning_rate_decay"] as? String, "on steps", "\(recorded)")
        // --profile: per-iteration stage and dispatch times, in the log and in metrics.json.
        let profile = try XCTUnwrap(metrics["profile_ms"] as? [String: Any])
        let stages = try XCTUnwrap(profile["stages"] as? [String: Double]), dispatches = try XCTUnwrap(profile["dispatches"] as? [String: Double])
        XCTAssertGreaterThan(stages["networks, rendering, loss, backward, Adam"] ?? 0, 0, "\(stages)")
        for kernel in ["hash encode", "mlp forward", "mlp backward", "adam hash table"] {
            XCTAssertNotNil(dispatches[kernel], "\(kernel) missing from \(dispatches)")
        }
        XCTAssertTrue(train.stderr.contains("profile, GPU dispatches"), train.stderr)
        // NeRF-only options with Gaussians: a clear error.
        let wrong = try run(["train", demo, "--profile", "--march-steps", "64", "--out", out + "/g"])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains("--march-steps, --profile are for --method nerf"), wrong.stderr)
        // A misspelt configuration key is refused with the file and the key named.
        let typo = NSTemporaryDirectory() + "splat-nerf-typo-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: typo) }
        try #"{"decay_budget_point": [0.9]}"#.write(toFile: typo, atomically: true, encoding: .utf8)
        let misspelt = try run(["train", demo, "--method", "nerf", "--nerf-config", typo, "--out", out + "/typo"])
        XCTAssertEqual(misspelt.status, 1, misspelt.stderr)
        XCTAssertTrue(misspelt.stderr.contains(typo) && misspelt.stderr.contains("unknown NeRF configuration key decay_budget_point;"), misspelt.stderr)

        // info names the components; eval scores what training scored.
        let info = try run(["info", out])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("NeRF model") && info.stdout.contains("trained 20 iterations"), info.stdout)
        let eval = try run(["eval", out, demo, "--json"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let scores = try SplatProcess.json(eval.stdout)
        XCTAssertEqual(scores["images"] as? Int, 8)
        XCTAssertEqual(try XCTUnwrap(scores["psnr"] as? Double), try XCTUnwrap(metrics["test_psnr"] as? Double), accuracy: 1e-6)

        // render: an orbit frame with depth, from the folder and from the bare .nerf.
        let frames = out + "/frames"
        let render = try run(["render", out, "--orbit", "2", "--width", "24", "--height", "16", "--depth", "--alpha", "--out", frames])
        XCTAssertEqual(render.status, 0, render.stderr)
        let png = try ImageIO.read(path: frames + "/00001.png")
        XCTAssertEqual([png.width, png.height, png.channels], [24, 16, 4])
        XCTAssertTrue(FileManager.default.fileExists(atPath: frames + "/00000_depth.npy"))
        let bare = try run(["render", out + "/model.nerf", "--orbit", "1", "--width", "8", "--height", "8", "--out", frames + "/bare"])
        XCTAssertEqual(bare.status, 0, bare.stderr)

        // mesh: a clear error where there is no surface (naming the largest density), and a
        // surface at half that density.
        let none = try run(["mesh", out, "--resolution", "24", "--threshold", "1e30", "--out", out + "/none.ply"])
        XCTAssertEqual(none.status, 1)
        XCTAssertTrue(none.stderr.contains("no surface"), none.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/none.ply"))
        let peak = try XCTUnwrap(none.stderr.components(separatedBy: "its largest value is ").last?.split(separator: ")").first.flatMap { Double($0) })
        let mesh = try run(["mesh", out, "--resolution", "24", "--threshold", "\(peak / 2)", "--out", out + "/mesh.ply"])
        XCTAssertEqual(mesh.status, 0, mesh.stderr)
        let triangles = try MeshPLY.read(out + "/mesh.ply")
        XCTAssertGreaterThan(triangles.triangles.count, 0)
        XCTAssertEqual(triangles.colors.count, triangles.positions.count)
        let gaussian = try run(["mesh", "\(Self.repository)/Scenes/toy/toy.ply", "--out", out + "/g.ply"])
        XCTAssertEqual(gaussian.status, 1)
        XCTAssertTrue(gaussian.stderr.contains("Gaussian model"), gaussian.stderr)

        // resume continues from the checkpoint to the new iteration count.
        let resumed = try run(["train", demo, "--method", "nerf", "--downscale", "2", "--iterations", "30", "--eval", "--resume", out])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("resuming the NeRF at iteration 20"), resumed.stderr)
        let after = try SplatProcess.json(String(decoding: try Data(contentsOf: URL(fileURLWithPath: "\(out)/metrics.json")), as: UTF8.self))
        XCTAssertEqual(after["iterations"] as? Int, 30)
        let model = try run(["train", demo, "--method", "nerf", "--resume", out + "/model.nerf"])
        XCTAssertEqual(model.status, 1)
        XCTAssertTrue(model.stderr.contains("not a checkpoint"), model.stderr)
    }

    /// A run bounded by --max-seconds decays on its budget (by steps here: progress is the larger of
    /// time and steps, so 10 steps reach x0.33^2 at step 9 whatever the machine's speed); its resume
    /// keeps the rate it reached instead of going back to the full one.
    func testTimeBoundedRunResumesAtItsDecayedLearningRate() throws {
        let out = NSTemporaryDirectory() + "splat-nerf-lr-\(UUID().uuidString)"
        let config = try smallConfig()
        defer { try? FileManager.default.removeItem(atPath: out); try? FileManager.default.removeItem(atPath: config) }
        let demo = "\(Self.repository)/Scenes/demo"
        func recorded() throws -> String? {
            try SplatProcess.json(String(decoding: try Data(contentsOf: URL(fileURLWithPath: "\(out)/config.json")), as: UTF8.self))["learning_rate_decay"] as? String
        }
        let train = try run(["train", demo, "--method", "nerf", "--nerf-config", config, "--downscale", "4", "--iterations", "10",
                             "--max-seconds", "100000", "--out", out])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertEqual(try recorded()?.hasPrefix("on the --max-seconds budget"), true)
        // 1e-2 x 0.33^2 = 0.001089.
        let resumed = try run(["train", demo, "--method", "nerf", "--downscale", "4", "--iterations", "14", "--resume", out])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("had reached a learning rate of 0.00109"), resumed.stderr)
        XCTAssertEqual(try recorded(), "none: 0.00109, the checkpoint's time-budget decay")
        // Resumed again on a budget: that budget's schedule, capped by the rate reached.
        let budget = try run(["train", demo, "--method", "nerf", "--downscale", "4", "--iterations", "16", "--max-seconds", "100000", "--resume", out])
        XCTAssertEqual(budget.status, 0, budget.stderr)
        XCTAssertEqual(try recorded(), "on the --max-seconds budget: x decay_base at 75%, 90% of it, at most 0.00109 (the checkpoint's)")
    }

    /// A loss that turns NaN stops training with a message; the last good checkpoint stays and no model is written.
    func testNaNLossKeepsTheLastCheckpoint() throws {
        let out = NSTemporaryDirectory() + "splat-nerf-nan-\(UUID().uuidString)"
        let config = NSTemporaryDirectory() + "splat-nerf-nan-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: out); try? FileManager.default.removeItem(atPath: config) }
        // A learning rate of 1e30 overflows the parameters within a few steps.
        let text = #"{"encoding": {"n_levels": 4, "log2_hashmap_size": 12}, "network": {"n_neurons": 16}, "rgb_network": {"n_neurons": 16, "n_hidden_layers": 1}, "grid_size": 16, "grid_update_points": 1024, "samples_per_batch": 2048, "rays_per_batch": 256, "learning_rate": 1e30}"#
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let result = try run(["train", "\(Self.repository)/Scenes/demo", "--method", "nerf", "--nerf-config", config, "--downscale", "4",
                              "--iterations", "200", "--save-every", "1", "--out", out])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("loss became") && result.stderr.contains("last good checkpoint"), result.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/checkpoint/model.nerf"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/model.nerf"))
    }
}
