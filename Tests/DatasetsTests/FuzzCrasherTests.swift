@testable import Datasets
import Foundation
import ReaderTestSupport
import XCTest

/// The Datasets fuzz targets' crashers and seeds (`FuzzReplay`).
final class FuzzCrasherTests: XCTestCase {
    func replay(_ target: String, file: StaticString = #filePath, line: UInt = #line, _ decode: (Data) throws -> Void) throws {
        try FuzzReplay.replay(target, file: file, line: line, decode)
    }

    func testGaussianPLY() throws {
        try replay("GaussianPLY") { _ = try GaussianPLY.decode($0, path: "fuzz.ply") }
    }

    func testSplatFile() throws {
        try replay("SplatFile") { _ = try SplatFile.decode($0, path: "fuzz.splat") }
    }

    func testSPZFile() throws {
        try replay("SPZFile") { _ = try SPZFile.decode($0, path: "fuzz.spz") }
    }

    /// The first byte chooses the file, modulo 3: cameras, images, points3D.
    func testCOLMAPText() throws {
        try replay("COLMAPText") { data in
            guard let selector = data.first else { return }
            let file = Data(data.dropFirst())
            switch selector % 3 {
            case 0: _ = try COLMAP.decodeCamerasText(file, path: "cameras.txt")
            case 1: _ = try COLMAP.decodeImagesText(file, path: "images.txt")
            default: _ = try COLMAP.decodePointsText(file, path: "points3D.txt")
            }
        }
    }

    func testCOLMAPBinary() throws {
        try replay("COLMAPBinary") { data in
            guard let selector = data.first else { return }
            let file = Data(data.dropFirst())
            switch selector % 3 {
            case 0: _ = try COLMAP.decodeCamerasBinary(file, path: "cameras.bin")
            case 1: _ = try COLMAP.decodeImagesBinary(file, path: "images.bin")
            default: _ = try COLMAP.decodePointsBinary(file, path: "points3D.bin")
            }
        }
    }

    func testTransformsJSON() throws {
        try replay("TransformsJSON") { _ = try TransformsJSON.decode($0, path: "transforms.json") }
    }

    func testCamerasJSON() throws {
        try replay("CamerasJSON") { _ = try CamerasJSON.decode($0, path: "cameras.json") }
    }

    /// The PNG and JPEG targets read the header-only size, then decode.
    func testPNG() throws {
        try replay("PNG") { data in
            let size = try ImageIO.readSize(data: data, path: "fuzz.png")
            let image = try ImageIO.decode(data, path: "fuzz.png")
            XCTAssertEqual(size.width, image.width)
            XCTAssertEqual(size.height, image.height)
        }
    }

    /// A 68-byte PNG whose IHDR claims 16384x16384 RGBA once made the reader
    /// allocate (and zero) 1 GiB before finding the data missing (the PNG
    /// target's out-of-memory); it is refused from its length now.
    func testTruncatedHugePNGIsRefusedBeforeAllocating() throws {
        for name in ["oom-truncated-16384x16384-rgba.png", "oom-truncated-16384x16384-rgba16.png"] {
            let url = FuzzReplay.fuzz.appendingPathComponent("Crashers/PNG/\(name)")
            let data = try Data(contentsOf: url)
            XCTAssertThrowsError(try ImageIO.decode(data, path: name)) { error in
                XCTAssertTrue("\(error)".contains("cannot fit in \(data.count) bytes"), "\(error)")
            }
        }
    }

    /// A 48-byte PNG whose second chunk declares 1.9 GB made libpng allocate
    /// that much (the PNG target's out-of-memory); chunk lengths are checked first.
    func testPNGChunkLongerThanTheFileIsRefused() throws {
        let name = "oom-text-chunk-1.9GB.png"
        let data = try Data(contentsOf: FuzzReplay.fuzz.appendingPathComponent("Crashers/PNG/\(name)"))
        XCTAssertThrowsError(try ImageIO.decode(data, path: name)) { error in
            XCTAssertTrue("\(error)".contains("declares 1883789683 bytes"), "\(error)")
        }
    }

    /// A JPEG of a few hundred bytes whose header claims 16384x16384 once cost
    /// 800 MB of zeroed pixels and seconds before "premature end"; the decoder
    /// now stops at its first warning for such sizes, before touching the rows.
    func testTruncatedHugeJPEGIsRefused() throws {
        let name = "slow-truncated-16384x16384.jpg"
        let data = try Data(contentsOf: FuzzReplay.fuzz.appendingPathComponent("Crashers/JPEG/\(name)"))
        XCTAssertEqual(try ImageIO.readSize(data: data, path: name).width, 16384)
        XCTAssertThrowsError(try ImageIO.decode(data, path: name)) { error in
            XCTAssertTrue("\(error)".contains("16384x16384"), "\(error)")
        }
    }

    func testJPEG() throws {
        try replay("JPEG") { data in
            let size = try ImageIO.readSize(data: data, path: "fuzz.jpg")
            let image = try ImageIO.decode(data, path: "fuzz.jpg")
            XCTAssertEqual(size.width, image.width)
            XCTAssertEqual(size.height, image.height)
        }
    }
}
