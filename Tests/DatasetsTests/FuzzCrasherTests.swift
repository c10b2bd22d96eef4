@testable import Datasets
import Foundation
import XCTest

/// The fuzzers' findings as regression tests (Fuzz/README.md): every file in
/// `Fuzz/Crashers/TARGET/` (inputs that once trapped or hung a reader) and in
/// `Fuzz/Corpus/TARGET/` (the seeds) goes through the same entry point as the
/// fuzz target, which must return or throw a `DatasetError`, never trap.
/// The seeds must also decode without error.
final class FuzzCrasherTests: XCTestCase {
    /// `Fuzz/` of this checkout.
    static let fuzz = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    /// The files of `Fuzz/KIND/TARGET` (none when the folder is missing), sorted.
    static func files(_ kind: String, _ target: String) -> [URL] {
        let folder = fuzz.appendingPathComponent(kind).appendingPathComponent(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { folder.appendingPathComponent($0) }
    }

    /// Replays the crashers and seeds of `target` through `decode`.
    func replay(_ target: String, _ decode: (Data) throws -> Void, file: StaticString = #filePath, line: UInt = #line) throws {
        for (kind, mustDecode) in [("Crashers", false), ("Corpus", true)] {
            for url in Self.files(kind, target) {
                let data = try Data(contentsOf: url)
                _ = Diagnostics.collecting {
                    do {
                        try decode(data)
                    } catch let error as DatasetError {
                        if mustDecode { XCTFail("seed \(url.path) does not decode: \(error)", file: file, line: line) }
                    } catch {
                        XCTFail("\(url.path): threw \(type(of: error)), not a DatasetError: \(error)", file: file, line: line)
                    }
                }
            }
        }
    }

    func testGaussianPLY() throws {
        try replay("GaussianPLY") { _ = try GaussianPLY.decode($0, path: "fuzz.ply") }
    }

    func testSplatFile() throws {
        try replay("SplatFile") { _ = try SplatFile.decode($0, path: "fuzz.splat") }
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
            let url = Self.fuzz.appendingPathComponent("Crashers/PNG/\(name)")
            let data = try Data(contentsOf: url)
            XCTAssertThrowsError(try ImageIO.decode(data, path: name)) { error in
                XCTAssertTrue("\(error)".contains("cannot fit in \(data.count) bytes"), "\(error)")
            }
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

    /// Every target has seeds (a missing folder would make its test vacuous).
    func testEveryTargetHasSeeds() {
        for target in ["GaussianPLY", "SplatFile", "COLMAPText", "COLMAPBinary", "TransformsJSON", "CamerasJSON", "PNG", "JPEG"] {
            XCTAssertFalse(Self.files("Corpus", target).isEmpty, "no seeds in Fuzz/Corpus/\(target)")
        }
    }
}
