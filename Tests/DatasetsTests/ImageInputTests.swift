@testable import Datasets
import Foundation
import Geometry
import XCTest

/// Image inputs that must fail cleanly (issue 20): special files, sizes too
/// large to allocate, garbage given to libpng and libjpeg, and the
/// filesystem-free entry points `ImageIO.decode` and `ImageIO.readSize(data:path:)`.
final class ImageInputTests: TemporaryFolderTestCase {
    /// `body` throws a DatasetError for `path` whose problem contains `phrase`.
    func assertError<T>(_ path: String, _ phrase: String, _ body: () throws -> T, line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("\(path): no error, expected one containing \"\(phrase)\"", line: line)
        } catch let error as DatasetError {
            XCTAssertEqual(error.path, path, line: line)
            XCTAssertTrue(error.problem.contains(phrase), "\"\(error.problem)\" lacks \"\(phrase)\"", line: line)
        } catch {
            XCTFail("not a DatasetError: \(error)", line: line)
        }
    }

    func smallPNG() throws -> Data {
        try ImageIO.encodePNG(Image8(width: 5, height: 4, channels: 3, pixels: (0 ..< 60).map { UInt8($0) }), path: "x")
    }

    func smallJPEG() -> [UInt8] {
        TestJPEG.encode(width: 16, height: 8, rgb: (0 ..< 16 * 8 * 3).map { UInt8($0 % 251) })
    }

    func testFIFOFolderAndDeviceAreNotOpenedAsImages() throws {
        let fifo = "\(folder!)/pipe.png"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        // Without the check these would block forever waiting for a writer.
        assertError(fifo, "not a regular file") { try ImageIO.read(path: fifo) }
        assertError(fifo, "not a regular file") { try ImageIO.readSize(path: fifo) }
        assertError(folder, "not a regular file: it is a folder") { try ImageIO.read(path: folder) }
        assertError("/dev/zero", "not a regular file: it is a device") { try ImageIO.read(path: "/dev/zero") }
        assertError(fifo, "named pipe") { try RegularFile.check(fifo) }
        assertError(fifo, "not a regular file") { try RegularFile.read(fifo) }
    }

    func testRegularFileReadLimit() throws {
        let file = "\(folder!)/ten"
        try Data(count: 10).write(to: URL(fileURLWithPath: file))
        XCTAssertEqual(try RegularFile.read(file, limit: 10).count, 10)
        assertError(file, "larger than the 9 bytes allowed") { try RegularFile.read(file, limit: 9) }
    }

    func testDataEntryPointsAgreeWithTheFileOnes() throws {
        let png = try smallPNG()
        let jpeg = Data(smallJPEG())
        for (data, name) in [(png, "a.png"), (jpeg, "a.jpg")] {
            let file = "\(folder!)/\(name)"
            try data.write(to: URL(fileURLWithPath: file))
            XCTAssertEqual(try ImageIO.decode(data, path: file), try ImageIO.read(path: file))
            let fromData = try ImageIO.readSize(data: data, path: file)
            let fromFile = try ImageIO.readSize(path: file)
            XCTAssertTrue(fromData == fromFile, "\(fromData) vs \(fromFile)")
        }
        XCTAssertTrue(try ImageIO.readSize(data: png, path: "a.png") == (5, 4))
        XCTAssertTrue(try ImageIO.readSize(data: jpeg, path: "a.jpg") == (16, 8))
        // A slice that does not start at index 0 reads the same.
        let padded = Data([9, 9, 9]) + jpeg
        XCTAssertTrue(try ImageIO.readSize(data: padded[3...], path: "a.jpg") == (16, 8))
    }

    func testHugePNGHeaderIsRefusedBeforeAllocating() {
        // A valid IHDR (right CRC) of 100000 x 100000 pixels: 10^10 > 2^28.
        let png = Data(TestPNG.make(width: 100_000, height: 100_000, bitDepth: 8, colourType: 2, rows: [[0, 0, 0]]))
        assertError("big.png", "too large") { try ImageIO.readSize(data: png, path: "big.png") }
        assertError("big.png", "PNG") { try ImageIO.decode(png, path: "big.png") }
        let zero = Data(TestPNG.make(width: 0, height: 5, bitDepth: 8, colourType: 2, rows: [[0, 0, 0]]))
        assertError("zero.png", "PNG") { try ImageIO.readSize(data: zero, path: "zero.png") }
        assertError("zero.png", "PNG") { try ImageIO.decode(zero, path: "zero.png") }
    }

    func testHugeJPEGHeaderIsRefusedBeforeAllocating() throws {
        var jpeg = smallJPEG()
        // Patch the frame header (SOF0) to 20000 x 20000: 4e8 pixels > 2^28
        // (libjpeg itself accepts up to 65500 a side).
        let sof = try XCTUnwrap((2 ..< jpeg.count - 1).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        for k in [5, 7] { jpeg[sof + k] = 0x4E; jpeg[sof + k + 1] = 0x20 }
        assertError("big.jpg", "too large") { try ImageIO.readSize(data: Data(jpeg), path: "big.jpg") }
        assertError("big.jpg", "too large") { try ImageIO.decode(Data(jpeg), path: "big.jpg") }
    }

    func testGarbageAndTruncatedImagesAreDatasetErrors() throws {
        var generator = SplitMix64(seed: 20)
        let png = [UInt8](try smallPNG()), jpeg = smallJPEG()
        for (valid, name) in [(png, "g.png"), (jpeg, "g.jpg")] {
            // The signature followed by noise, and the file with noise after its header.
            for keep in [8, 16, 33, valid.count / 2] {
                let noise = (0 ..< 200).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
                let data = Data(valid.prefix(keep) + noise)
                do { _ = try ImageIO.decode(data, path: name) } catch is DatasetError {} catch {
                    XCTFail("\(name) with noise after byte \(keep): \(error)")
                }
                do { _ = try ImageIO.readSize(data: data, path: name) } catch is DatasetError {} catch {
                    XCTFail("\(name) size with noise after byte \(keep): \(error)")
                }
            }
            // Every truncation of the header region, and a few further in.
            for length in Array(0 ..< min(valid.count, 80)) + [valid.count / 2, valid.count - 1] {
                let data = Data(valid.prefix(length))
                _ = Diagnostics.collecting { _ = try? ImageIO.decode(data, path: name) }
                _ = try? ImageIO.readSize(data: data, path: name)
            }
        }
        assertError("t.png", "PNG") { try ImageIO.decode(Data(png.prefix(png.count - 20)), path: "t.png") }
        assertError("t.jpg", "JPEG") { try ImageIO.decode(Data(jpeg.prefix(jpeg.count / 2)), path: "t.jpg") }
        assertError("n.png", "not a PNG or JPEG") { try ImageIO.decode(Data("hello".utf8), path: "n.png") }
        assertError("e.png", "empty file") { try ImageIO.readSize(data: Data(), path: "e.png") }
    }

    func testCorruptCacheEntryIsIgnored() throws {
        let cache = ImageCache(folder: folder)
        var bytes = ImageCache.magic
        bytes += [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 3, 0, 0, 0]  // 2^32-1 x 2^32-1 x 3
        try Data(bytes).write(to: URL(fileURLWithPath: "\(folder!)/bad.img"))
        XCTAssertNil(cache.load("bad.img"))
        XCTAssertEqual(mkfifo("\(folder!)/pipe.img", 0o600), 0)
        XCTAssertNil(cache.load("pipe.img"))
        let image = Image8(width: 2, height: 1, channels: 1, pixels: [1, 2])
        cache.store(image, key: "good.img")
        XCTAssertEqual(cache.load("good.img"), image)
    }
}
