import Datasets
import Foundation
import XCTest

/// `splat eval-sr` on a tiny synthetic set: the bicubic baseline scores each
/// image and the mean; a size mismatch and a missing LR image are errors
/// naming the files.
final class EvalSRCLITests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "splat-eval-sr-\(UUID().uuidString)"
        for sub in ["HR", "LR"] { try FileManager.default.createDirectory(atPath: "\(folder)/\(sub)", withIntermediateDirectories: true) }
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testBicubicScoresAndBadInput() throws {
        // Smooth content: a ramp with a slow wave, 48x36, and its x3 bicubic reduction.
        let w = 48, h = 36
        var pixels: [UInt8] = []
        for y in 0..<h { for x in 0..<w { for c in 0..<3 {
            pixels.append(UInt8(clamping: Int(100 + 60 * sin(Double(x) / 6 + Double(c)) + Double(y) * 2)))
        } } }
        let hr = Image8(width: w, height: h, channels: 3, pixels: pixels)
        try ImageIO.writePNG(hr, to: "\(folder)/HR/wave.png")
        try ImageIO.writePNG(BicubicResize.resize(hr, width: w / 3, height: h / 3), to: "\(folder)/LR/wavex3.png")
        let scored = try SplatProcess.run(["eval-sr", "--hr", folder + "/HR", "--lr", folder + "/LR", "--scale", "3", "--json"])
        XCTAssertEqual(scored.status, 0, scored.stderr)
        let report = try SplatProcess.json(scored.stdout)
        let psnr = try XCTUnwrap(report["psnr"] as? Double)
        XCTAssertGreaterThan(psnr, 25)
        XCTAssertEqual((report["images"] as? [[String: Any]])?.count, 1)

        let wrong = try SplatProcess.run(["eval-sr", "--hr", folder + "/HR", "--lr", folder + "/LR", "--scale", "4"])
        XCTAssertEqual(wrong.status, 1)
        XCTAssertTrue(wrong.stderr.contains("wavex3.png") || wrong.stderr.contains("no low-resolution image for wave.png"), wrong.stderr)
        try FileManager.default.moveItem(atPath: "\(folder)/LR/wavex3.png", toPath: "\(folder)/LR/wavex4.png")
        let size = try SplatProcess.run(["eval-sr", "--hr", folder + "/HR", "--lr", folder + "/LR", "--scale", "4"])
        XCTAssertEqual(size.status, 1)
        XCTAssertTrue(size.stderr.contains("wavex4.png") && size.stderr.contains("48x36"), size.stderr)
    }
}
