import Datasets
import Foundation
import XCTest

/// 4D Gaussians as a user meets them: a dynamic scene (the demo scene with
/// a time on every frame) trains into a gaussians4d model that info, render
/// (each camera at its time, --time, --times), eval and convert --time read;
/// the bad inputs of the issue are one-line errors or one warning.
final class Gaussians4DCLITests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "splat-4d-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// The demo scene copied with `time(split, index)` on each frame (nil: none).
    func timedDemo(_ name: String, time: (String, Int) -> Double?) throws -> String {
        let scene = folder + "/" + name
        try FileManager.default.copyItem(atPath: BadInputCLITests.demo, toPath: scene)
        for split in ["train", "test"] {
            let path = scene + "/transforms_\(split).json"
            var document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
            var frames = try XCTUnwrap(document["frames"] as? [[String: Any]])
            for k in frames.indices { frames[k]["time"] = time(split, k) }
            document["frames"] = frames
            try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: path))
        }
        return scene
    }

    func testDynamicSceneTrainsRendersAndConverts() throws {
        let scene = try timedDemo("dynamic") { split, k in split == "train" ? Double(k) / 23 : (Double(k) + 0.5) / 8 }
        let info = try SplatProcess.run(["info", scene])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("time (train): 0 to 1 over 24 frames"), info.stdout)
        XCTAssertTrue(info.stdout.contains("time (test): 0.0625 to 0.9375 over 8 frames"), info.stdout)

        let out = folder + "/out"
        // With the 4D consistency regulariser on (its kernels run every step).
        let train = try SplatProcess.run(["train", scene, "--out", out, "--iterations", "30", "--random-points", "300", "--eval-every", "0",
                                          "--consistency-4d", "0.01"])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stderr.contains("4D Gaussians (gaussians4d)"), train.stderr)
        let modelJSON = try String(contentsOfFile: out + "/model.json")
        XCTAssertTrue(modelJSON.contains("\"gaussians4d\""), modelJSON)
        let metrics = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/metrics.json"))) as? [String: Any])
        XCTAssertNotNil(metrics["test_psnr"] as? Double)
        let model = try GaussianPLY.read(path: out + "/point_cloud.ply")
        XCTAssertTrue(model.hasTime)

        let modelInfo = try SplatProcess.run(["info", out + "/point_cloud.ply"])
        XCTAssertTrue(modelInfo.stdout.contains("4D Gaussians"), modelInfo.stdout)

        let renders = folder + "/renders"
        let render = try SplatProcess.run(["render", out, "--cameras", scene, "--split", "test", "--out", renders])
        XCTAssertEqual(render.status, 0, render.stderr)
        let cameras = try CamerasJSON.read(renders + "/cameras.json")
        XCTAssertEqual(cameras.map(\.time), (0..<8).map { (Double($0) + 0.5) / 8 })

        let orbit = try SplatProcess.run(["render", out, "--orbit", "2", "--times", "3", "--width", "32", "--height", "24", "--out", folder + "/orbit"])
        XCTAssertEqual(orbit.status, 0, orbit.stderr)
        XCTAssertEqual(try CamerasJSON.read(folder + "/orbit/cameras.json").map(\.time), [0, 0.5, 1])

        let eval = try SplatProcess.run(["eval", out, scene, "--json"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        let scores = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
        // The trainer's own evaluation (each view at its time) and eval's agree.
        XCTAssertEqual(try XCTUnwrap(scores["psnr"] as? Double), try XCTUnwrap(metrics["test_psnr"] as? Double), accuracy: 0.01)

        let slice = folder + "/slice.ply"
        let convert = try SplatProcess.run(["convert", out, slice, "--time", "0.3"])
        XCTAssertEqual(convert.status, 0, convert.stderr)
        let sliced = try GaussianPLY.read(path: slice)
        XCTAssertFalse(sliced.hasTime)
        XCTAssertGreaterThan(sliced.count, 0)
        XCTAssertLessThanOrEqual(sliced.count, model.count)

        // A 4D checkpoint resumes as 4D.
        let resumed = try SplatProcess.run(["train", scene, "--resume", out, "--iterations", "35", "--eval-every", "0"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stderr.contains("resuming at iteration 30"), resumed.stderr)
        XCTAssertTrue(try GaussianPLY.read(path: out + "/point_cloud.ply").hasTime)

        // The benchmarks take 4D models and scenes.
        let benchRender = try SplatProcess.run(["bench", "render", "--kind", "gaussians4d", "--count", "3000", "--width", "64", "--height", "48",
                                                "--repeat", "2", "--json"])
        XCTAssertEqual(benchRender.status, 0, benchRender.stderr)
        let rendered = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(benchRender.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(rendered["kind"] as? String, "gaussians4d")
        XCTAssertEqual(rendered["verified"] as? Bool, true, benchRender.stdout)
        let benchTrain = try SplatProcess.run(["bench", "train", "--scene", scene, "--iterations", "3", "--warmup", "1", "--random-points", "300", "--json"])
        XCTAssertEqual(benchTrain.status, 0, benchTrain.stderr)
        XCTAssertTrue(benchTrain.stdout.contains("\"gaussians4d\""), benchTrain.stdout)

        // A 4D model as a .splat needs a time; a 4D checkpoint resumes as 4D only.
        let splat = try SplatProcess.run(["convert", out, folder + "/m.splat"])
        XCTAssertEqual(splat.status, 1)
        XCTAssertTrue(splat.stderr.contains("give --time T"), splat.stderr)
        let resume = try SplatProcess.run(["train", scene, "--resume", out, "--method", "gaussians", "--iterations", "31"])
        XCTAssertEqual(resume.status, 1)
        XCTAssertTrue(resume.stderr.contains("the checkpoint holds gaussians4d Gaussians"), resume.stderr)
    }

    func testBadTimes() throws {
        // A frame without time among frames with one: named.
        let missing = try timedDemo("missing") { split, k in split == "train" && k == 5 ? nil : 0.5 }
        let info = try SplatProcess.run(["info", missing])
        XCTAssertEqual(info.status, 1)
        XCTAssertTrue(info.stderr.contains("frame train/r_5") && info.stderr.contains("has no \"time\""), info.stderr)

        // Times outside [0, 1]: normalised, one warning.
        let wide = try timedDemo("wide") { _, k in Double(k) * 2 }
        let normalised = try SplatProcess.run(["info", wide])
        XCTAssertEqual(normalised.status, 0, normalised.stderr)
        XCTAssertEqual(normalised.stderr.components(separatedBy: "normalised to [0, 1]").count, 2, normalised.stderr)
        XCTAssertTrue(normalised.stdout.contains("time (train): 0 to 1"), normalised.stdout)

        // --time for a 3D model.
        let plain = folder + "/plain.ply"
        try GaussianPLY.write(SplatProcess.tinyModel(), to: plain)
        for arguments in [["render", plain, "--orbit", "1", "--time", "0.5", "--out", folder + "/r"],
                          ["convert", plain, folder + "/c.ply", "--time", "0.5"],
                          ["view", plain, "--time", "0.5"]] {
            let result = try SplatProcess.run(arguments)
            XCTAssertEqual(result.status, 1, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("has no time"), "\(arguments): \(result.stderr)")
        }
        // --method gaussians4d on a scene without time.
        let still = try SplatProcess.run(["train", BadInputCLITests.demo, "--method", "gaussians4d", "--out", folder + "/s"])
        XCTAssertEqual(still.status, 1)
        XCTAssertTrue(still.stderr.contains("needs a \"time\" on every frame"), still.stderr)
        // The 4D consistency regulariser on a scene without time.
        let consistency = try SplatProcess.run(["train", BadInputCLITests.demo, "--consistency-4d", "0.1", "--out", folder + "/c4"])
        XCTAssertEqual(consistency.status, 1)
        XCTAssertTrue(consistency.stderr.contains("--consistency-4d is for --method gaussians4d"), consistency.stderr)
    }
}
