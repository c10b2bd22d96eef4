import Datasets
import Foundation
import XCTest

/// `--log-dir DIR` of `splat fit` and `splat train`: a TensorBoard event file
/// whose records are whole (lengths and CRCs) and carry the training curves.
final class TensorBoardCLITests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "splat-tensorboard-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    /// The number of records in `dir`'s one event file that carry each tag.
    func tagCounts(_ dir: String) throws -> [String: Int] {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains("tfevents") }
        XCTAssertEqual(names.count, 1, "\(names)")
        let data = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + (names.first ?? ""))))
        var counts: [String: Int] = [:]
        var i = 0
        let tags = ["train/loss", "train/psnr", "train/learning_rate", "train/iterations_per_second",
                    "test/psnr", "test/ssim", "gaussians/count"]
        while i < data.count {
            let u32 = { (at: Int) in (0..<4).reduce(UInt32(0)) { $0 | UInt32(data[at + $1]) << (8 * UInt32($1)) } }
            guard i + 12 <= data.count else { XCTFail("truncated record at \(i)"); break }
            let length = (0..<8).reduce(0) { $0 | Int(data[i + $1]) << (8 * $1) }
            XCTAssertEqual(u32(i + 8), TensorBoardWriter.maskedCRC32C(data[i..<i + 8]))
            guard i + 16 + length <= data.count else { XCTFail("truncated payload at \(i)"); break }
            let payload = data[i + 12..<i + 12 + length]
            XCTAssertEqual(u32(i + 12 + length), TensorBoardWriter.maskedCRC32C(payload))
            let text = String(decoding: payload, as: UTF8.self)
            for tag in tags where text.contains(tag) { counts[tag, default: 0] += 1 }
            i += 16 + length
        }
        return counts
    }

    func testFitLogDir() throws {
        var pixels: [UInt8] = []
        for y in 0..<24 { for x in 0..<32 { pixels += [UInt8(x * 7), UInt8(y * 9), 128] } }
        let image = folder + "/card.png"
        try ImageIO.writePNG(Image8(width: 32, height: 24, channels: 3, pixels: pixels), to: image)
        let logs = folder + "/logs"
        let fitted = try SplatProcess.run(["fit", image, "--gaussians", "200", "--iterations", "40", "--out", folder + "/fit",
                                           "--log-dir", logs])
        XCTAssertEqual(fitted.status, 0, fitted.stderr)
        let counts = try tagCounts(logs)
        XCTAssertEqual(counts["train/loss"], 4, "\(counts)")
        XCTAssertEqual(counts["train/iterations_per_second"], 4, "\(counts)")
        XCTAssertEqual(counts["test/psnr"], 1, "\(counts)")
        XCTAssertEqual(counts["test/ssim"], 1, "\(counts)")
        XCTAssertEqual(counts["gaussians/count"], 1, "\(counts)")
    }

    func testTrainLogDir() throws {
        let logs = folder + "/logs"
        let result = try SplatProcess.run(["train", "\(Self.repository)/Scenes/demo", "--out", folder + "/out", "--iterations", "20",
                                           "--random-points", "300", "--downscale", "2", "--log-dir", logs])
        XCTAssertEqual(result.status, 0, result.stderr)
        let counts = try tagCounts(logs)
        XCTAssertEqual(counts["train/loss"], 2, "\(counts)")
        XCTAssertEqual(counts["gaussians/count"], 2, "\(counts)")
        XCTAssertEqual(counts["train/learning_rate"], 2, "\(counts)")
        XCTAssertEqual(counts["train/psnr"], 1, "\(counts)")
        XCTAssertEqual(counts["test/psnr"], 1, "\(counts)")
        XCTAssertEqual(counts["test/ssim"], 1, "\(counts)")
    }
}
