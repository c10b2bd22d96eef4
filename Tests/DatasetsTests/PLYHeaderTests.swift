@testable import Datasets
import Foundation
import XCTest

/// PLY headers with any line ending, and header lines that are not text
/// (quoted escaped and cut, never as raw bytes) (issue 20).
final class PLYHeaderTests: XCTestCase {
    func model() -> GaussianModel {
        var model = GaussianModel(count: 2, shDegree: 1)
        for i in model.positions.indices { model.positions[i] = Float(i) * 0.5 }
        for i in model.rotations.indices { model.rotations[i] = i % 4 == 0 ? 1 : 0 }
        return model
    }

    /// `data` with the header's "\n" endings replaced by `ending` (the body is kept).
    func withHeaderEndings(_ data: Data, _ ending: String) -> Data {
        let marker = Data("end_header\n".utf8)
        let end = data.range(of: marker)!.upperBound
        let header = String(decoding: data[..<end], as: UTF8.self).replacingOccurrences(of: "\n", with: ending)
        return Data(header.utf8) + data[end...]
    }

    /// `body` throws a DatasetError whose problem contains every phrase and no
    /// character outside printable ASCII.
    func assertError<T>(_ phrases: [String], _ body: () throws -> T, line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("no error, expected \(phrases)", line: line)
        } catch let error as DatasetError {
            for phrase in phrases {
                XCTAssertTrue(error.problem.contains(phrase), "\"\(error.problem)\" lacks \"\(phrase)\"", line: line)
            }
            XCTAssertTrue(error.problem.unicodeScalars.allSatisfy { (0x20...0x7E).contains($0.value) },
                          "raw bytes in \(error.problem.debugDescription)", line: line)
        } catch {
            XCTFail("not a DatasetError: \(error)", line: line)
        }
    }

    func testGaussianPLYHeadersWithCRLFAndCRRead() throws {
        let model = model()
        let data = try GaussianPLY.encode(model)
        let reference = try GaussianPLY.decode(data, path: "lf.ply")
        for ending in ["\r\n", "\r"] {
            let (decoded, warnings) = try Diagnostics.collecting {
                try GaussianPLY.decode(withHeaderEndings(data, ending), path: "crlf.ply")
            }
            XCTAssertEqual(decoded, reference, ending.debugDescription)
            XCTAssertEqual(warnings, [], ending.debugDescription)
        }
    }

    func testMeshPLYHeadersWithCRLFAndCRRead() throws {
        let mesh = TriangleMesh(positions: [SIMD3(0, 0, 0), SIMD3(1, 0, 0), SIMD3(0, 1, 0)],
                                colors: [SIMD3(1, 2, 3), SIMD3(4, 5, 6), SIMD3(7, 8, 9)], triangles: [SIMD3(0, 1, 2)])
        let data = try MeshPLY.encode(mesh)
        for ending in ["\n", "\r\n", "\r"] {
            XCTAssertEqual(try MeshPLY.decode(withHeaderEndings(data, ending), path: "m.ply"), mesh, ending.debugDescription)
        }
    }

    func testBinaryHeaderLineIsQuotedEscapedAndCut() {
        var bytes = Array("ply\nformat binary_little_endian 1.0\n".utf8)
        bytes += [0x00, 0x01, 0xFF, 0xFE, 0x1B] + Array(repeating: 0x41, count: 100) + [0x0A]
        bytes += Array("end_header\n".utf8)
        assertError(["PLY header line 3 is not text", "\\x00\\x01\\xff\\xfe\\x1b", "...", "(105 bytes)"]) {
            try GaussianPLY.decode(Data(bytes), path: "bad.ply")
        }
        var mesh = Array("ply\nformat binary_little_endian 1.0\n".utf8)
        mesh += [0x80, 0x07] + Array("element vertex 0\n".utf8) + Array("end_header\n".utf8)
        assertError(["PLY header line 3 is not text", "\\x80\\x07element vertex 0"]) {
            try MeshPLY.decode(Data(mesh), path: "bad.ply")
        }
    }

    func testMalformedHeaderLineIsEscapedAndCut() {
        let long = "elephant " + String(repeating: "é", count: 200)
        let text = "ply\nformat binary_little_endian 1.0\n\(long)\nend_header\n"
        assertError(["malformed PLY header line 3", "elephant \\u{e9}", "..."]) {
            try GaussianPLY.decode(Data(text.utf8), path: "bad.ply")
        }
    }

    func testSplatDecodeEntryPointRefusesBadSizes() {
        assertError(["not a multiple of 32"]) { try SplatFile.decode(Data(count: 33), path: "x.splat") }
        XCTAssertEqual(try SplatFile.decode(Data(), path: "empty.splat").count, 0)
    }

    func testModelFileThatIsAFIFOIsRefused() throws {
        let folder = NSTemporaryDirectory() + "splat-ply-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for name in ["pipe.ply", "pipe.splat"] {
            XCTAssertEqual(mkfifo("\(folder)/\(name)", 0o600), 0)
            assertError(["not a regular file"]) { try GaussianModelFile.read(path: "\(folder)/\(name)") }
        }
        assertError(["not a regular file"]) { try MeshPLY.read("\(folder)/pipe.ply") }
    }
}
