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
        let config = try String(contentsOfFile: out + "/config.json", encoding: .utf8)
        XCTAssertTrue(config.contains("\"downscale\" : 4") && config.contains("\"iterations\" : 5"), config)
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
