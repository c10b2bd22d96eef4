import Foundation
import XCTest

/// What users of the other tools type without thinking (issue 27, item 6):
/// `--version`, OpenSplat's short options, and JSON that writes paths as
/// they are (no `\/`).
final class CLIHabitsTests: XCTestCase {
    func testVersionShortOptionsAndPlainSlashes() throws {
        let version = try SplatProcess.run(["--version"])
        XCTAssertEqual(version.status, 0, version.stderr)
        XCTAssertTrue(version.stdout.hasPrefix("splat 0."), version.stdout)

        let out = NSTemporaryDirectory() + "splat-habits-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let train = try SplatProcess.run(["train", "\(CLITests.repository)/Scenes/demo", "-n", "5", "-d", "4", "-o", out])
        XCTAssertEqual(train.status, 0, train.stderr)
        // The original 3DGS layout: point_cloud/iteration_N/point_cloud.ply, read back by render.
        let snapshot = out + "/point_cloud/iteration_5/point_cloud.ply"
        XCTAssertTrue(FileManager.default.fileExists(atPath: snapshot))
        let original = NSTemporaryDirectory() + "splat-original-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: original) }
        try FileManager.default.createDirectory(atPath: original + "/point_cloud/iteration_5", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: snapshot, toPath: original + "/point_cloud/iteration_5/point_cloud.ply")
        try FileManager.default.copyItem(atPath: out + "/cameras.json", toPath: original + "/cameras.json")
        let rendered = try SplatProcess.run(["render", original, "--orbit", "1", "--width", "16", "--height", "16", "-o", original + "/frames"])
        XCTAssertEqual(rendered.status, 0, rendered.stderr)
        // A used --out is refused without --overwrite; with it, the run replaces it.
        let again = try SplatProcess.run(["train", "\(CLITests.repository)/Scenes/demo", "-n", "2", "-d", "4", "-o", out])
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.stderr.contains("--overwrite"), again.stderr)
        let replaced = try SplatProcess.run(["train", "\(CLITests.repository)/Scenes/demo", "-n", "4", "-d", "4", "-o", out, "--overwrite",
                                             "--save-ply-every", "2"])
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/point_cloud/iteration_2/point_cloud.ply"))
        // --init: fine-tune from a model (here the original-layout folder), its SH degree converted.
        let tuned = try SplatProcess.run(["train", "\(CLITests.repository)/Scenes/demo", "-n", "2", "-d", "4", "-o", out + "-tuned",
                                          "--init", original, "--sh-degree", "1"])
        defer { try? FileManager.default.removeItem(atPath: out + "-tuned") }
        XCTAssertEqual(tuned.status, 0, tuned.stderr)
        XCTAssertTrue(tuned.stderr.contains("has SH degree 3; converted to 1") && tuned.stderr.contains("starting from"), tuned.stderr)
        let config = try String(contentsOfFile: out + "/config.json", encoding: .utf8)
        XCTAssertTrue(config.contains("\"downscale\" : 4") && config.contains("\"iterations\" : 4"), config)
        XCTAssertTrue(config.contains("Scenes/demo") && !config.contains("\\/"), config)
        let cameras = try String(contentsOfFile: out + "/cameras.json", encoding: .utf8)
        XCTAssertFalse(cameras.contains("\\/"), cameras)
        // eval without SCENE: the one config.json names.
        let eval = try SplatProcess.run(["eval", out, "--split", "train", "--json"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertNotNil(try SplatProcess.json(eval.stdout)["psnr"] as? Double)
        let info = try SplatProcess.run(["info", out, "--json"])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains(out) && !info.stdout.contains("\\/"), info.stdout)
    }
}
