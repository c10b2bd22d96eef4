@testable import Datasets
import Foundation
import XCTest

/// Mesh PLYs with and without vertex normals (nx ny nz after x y z) and colours.
final class MeshPLYTests: XCTestCase {
    /// A tetrahedron with awkward position and normal floats (-0, subnormal,
    /// huge, NaN payload) so the round trips compare bit patterns.
    func mesh(normals: Bool, colors: Bool) -> TriangleMesh {
        var mesh = TriangleMesh(positions: [SIMD3(0, 0, 0), SIMD3(1, 0, 0), SIMD3(0, 1, 0), SIMD3(-0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude)],
                                triangles: [SIMD3(0, 2, 1), SIMD3(0, 1, 3), SIMD3(1, 2, 3), SIMD3(2, 0, 3)])
        if normals {
            let nan = Float(bitPattern: 0x7FC0_1234)
            mesh.normals = [SIMD3(-0.57735026, -0.57735026, -0.57735026), SIMD3(1, 0, 0), SIMD3(0, 1, -0.0), SIMD3(nan, .leastNonzeroMagnitude, 1)]
        }
        if colors { mesh.colors = [SIMD3(1, 2, 3), SIMD3(255, 0, 128), SIMD3(7, 8, 9), SIMD3(0, 0, 0)] }
        return mesh
    }

    func bits(_ v: [SIMD3<Float>]) -> [[UInt32]] { v.map { [$0.x.bitPattern, $0.y.bitPattern, $0.z.bitPattern] } }

    func assertBitIdentical(_ a: TriangleMesh, _ b: TriangleMesh, _ label: String, line: UInt = #line) {
        XCTAssertEqual(bits(a.positions), bits(b.positions), label, line: line)
        XCTAssertEqual(bits(a.normals), bits(b.normals), label, line: line)
        XCTAssertEqual(a.colors, b.colors, label, line: line)
        XCTAssertEqual(a.triangles, b.triangles, label, line: line)
    }

    /// `body` throws a DatasetError for `path` whose problem contains every phrase.
    func assertError<T>(_ path: String, _ phrases: [String], _ body: () throws -> T, line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("no error, expected \(phrases)", line: line)
        } catch let error as DatasetError {
            XCTAssertEqual(error.path, path, line: line)
            XCTAssertTrue(error.description.hasPrefix(path), error.description, line: line)
            for phrase in phrases {
                XCTAssertTrue(error.problem.contains(phrase), "\"\(error.problem)\" lacks \"\(phrase)\"", line: line)
            }
        } catch {
            XCTFail("not a DatasetError: \(error)", line: line)
        }
    }

    func testRoundTripWithAndWithoutNormalsAndColours() throws {
        for normals in [false, true] {
            for colors in [false, true] {
                let label = "normals \(normals), colours \(colors)"
                let mesh = mesh(normals: normals, colors: colors)
                let data = try MeshPLY.encode(mesh)
                let header = MeshPLY.header(vertexCount: 4, faceCount: 4, colors: colors, normals: normals)
                XCTAssertTrue(data.starts(with: Array(header.utf8)), label)
                XCTAssertEqual(data.count, header.utf8.count + 4 * (12 + (normals ? 12 : 0) + (colors ? 3 : 0)) + 4 * 13, label)
                let decoded = try MeshPLY.decode(data, path: "m.ply")
                assertBitIdentical(decoded, mesh, label)
                XCTAssertEqual(decoded.normals.isEmpty, !normals, label)
                XCTAssertEqual(decoded.colors.isEmpty, !colors, label)
                // Re-encoding what was read gives the same bytes.
                XCTAssertEqual(try MeshPLY.encode(decoded), data, label)
            }
        }
        // The normals of the first vertex sit right after its position.
        let data = try MeshPLY.encode(mesh(normals: true, colors: true))
        let body = MeshPLY.header(vertexCount: 4, faceCount: 4, colors: true, normals: true).utf8.count
        let nx = data.subdata(in: body + 12 ..< body + 16).withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        XCTAssertEqual(nx, Float(-0.57735026).bitPattern)
        XCTAssertEqual(Array(data[body + 27 + 24 ..< body + 27 + 27]), [255, 0, 128])
        // A point cloud with normals (no faces) and the empty mesh.
        var cloud = mesh(normals: true, colors: false)
        cloud.triangles = []
        assertBitIdentical(try MeshPLY.decode(try MeshPLY.encode(cloud), path: "cloud.ply"), cloud, "cloud")
        XCTAssertEqual(try MeshPLY.decode(try MeshPLY.encode(TriangleMesh()), path: "empty.ply"), TriangleMesh())
    }

    func testHeaderText() {
        func expected(_ properties: [String]) -> String {
            (["ply", "format binary_little_endian 1.0", "comment written by splat", "element vertex 5",
              "property float x", "property float y", "property float z"] + properties
             + ["element face 2", "property list uchar int vertex_indices", "end_header"]).joined(separator: "\n") + "\n"
        }
        let normals = ["property float nx", "property float ny", "property float nz"]
        let colors = ["property uchar red", "property uchar green", "property uchar blue"]
        XCTAssertEqual(MeshPLY.header(vertexCount: 5, faceCount: 2, colors: false), expected([]))
        XCTAssertEqual(MeshPLY.header(vertexCount: 5, faceCount: 2, colors: true), expected(colors))
        XCTAssertEqual(MeshPLY.header(vertexCount: 5, faceCount: 2, colors: false, normals: true), expected(normals))
        XCTAssertEqual(MeshPLY.header(vertexCount: 5, faceCount: 2, colors: true, normals: true), expected(normals + colors))
    }

    func testForeignSpellingsWithNormalsRead() throws {
        // Sized type names, uint indices and comments between the properties, as other writers emit.
        let mesh = mesh(normals: true, colors: true)
        let data = try MeshPLY.encode(mesh)
        let header = MeshPLY.header(vertexCount: 4, faceCount: 4, colors: true, normals: true)
        let foreign = header.replacingOccurrences(of: "float ", with: "float32 ")
            .replacingOccurrences(of: "uchar red", with: "uint8 red")
            .replacingOccurrences(of: "property float32 nx", with: "comment normals\nproperty float32 nx")
            .replacingOccurrences(of: "uchar int", with: "uint8 uint")
        XCTAssertNotEqual(foreign, header)
        let decoded = try MeshPLY.decode(Data(foreign.utf8) + data[header.utf8.count...], path: "foreign.ply")
        assertBitIdentical(decoded, mesh, "foreign")
    }

    func testTruncatedFileWithNormals() throws {
        let data = try MeshPLY.encode(mesh(normals: true, colors: false))
        let body = MeshPLY.header(vertexCount: 4, faceCount: 4, colors: false, normals: true).utf8.count
        // 4 vertices of 24 bytes and 4 faces of 13: 148 bytes of body.
        XCTAssertEqual(data.count - body, 4 * 24 + 4 * 13)
        assertError("n.ply", ["truncated PLY", "4 vertices and 4 faces (148 bytes)", "147 bytes follow"]) {
            try MeshPLY.decode(data.prefix(data.count - 1), path: "n.ply")
        }
        // Cut inside the vertex rows: a reader that ignored the normals would see enough bytes for 4 12-byte rows.
        assertError("n.ply", ["truncated PLY", "(148 bytes)", "60 bytes follow"]) {
            try MeshPLY.decode(data.prefix(body + 60), path: "n.ply")
        }
        assertError("n.ply", ["1 unexpected bytes"]) { try MeshPLY.decode(data + [0], path: "n.ply") }
    }

    func testMalformedNormalHeadersAreRefused() throws {
        func file(_ properties: [String]) -> Data {
            Data((["ply", "format binary_little_endian 1.0", "element vertex 0",
                   "property float x", "property float y", "property float z"] + properties
                  + ["element face 0", "property list uchar int vertex_indices", "end_header"]).joined(separator: "\n").utf8) + Data("\n".utf8)
        }
        let normals = ["property float nx", "property float ny", "property float nz"]
        let colors = ["property uchar red", "property uchar green", "property uchar blue"]
        // The accepted layouts.
        for properties in [[], normals, colors, normals + colors] {
            XCTAssertEqual(try MeshPLY.decode(file(properties), path: "ok.ply"), TriangleMesh(), "\(properties)")
        }
        assertError("bad.ply", ["line 7", "'property double nx'", "expected 'property float nx'"]) {
            try MeshPLY.decode(file(["property double nx", "property float ny", "property float nz"]), path: "bad.ply")
        }
        assertError("bad.ply", ["line 8", "'property float nz'", "expected 'property float ny'"]) {
            try MeshPLY.decode(file(["property float nx", "property float nz", "property float ny"]), path: "bad.ply")
        }
        assertError("bad.ply", ["line 9", "'element face 0'", "expected 'property float nz'"]) {
            try MeshPLY.decode(file(["property float nx", "property float ny"]), path: "bad.ply")
        }
        // Normals after colours are not a layout this reader takes.
        assertError("bad.ply", ["line 10", "'property float nx'", "expected 'element face COUNT'", "normals nx ny nz go before red green blue"]) {
            try MeshPLY.decode(file(colors + normals), path: "bad.ply")
        }
        // An unknown property names every option that was still open.
        assertError("bad.ply", ["line 7", "'property float quality'", "expected 'property float nx', 'property uchar red' or 'element face COUNT'"]) {
            try MeshPLY.decode(file(["property float quality"]), path: "bad.ply")
        }
        assertError("bad.ply", ["line 10", "expected 'property uchar red' or 'element face COUNT'"]) {
            try MeshPLY.decode(file(normals + ["property float quality"]), path: "bad.ply")
        }
        assertError("bad.ply", ["line 13", "expected 'element face COUNT'"]) {
            try MeshPLY.decode(file(normals + colors + ["property uchar alpha"]), path: "bad.ply")
        }
    }

    func testNormalsCountMismatchIsRefused() throws {
        for colors in [false, true] {
            var bad = mesh(normals: true, colors: colors)
            bad.normals.removeLast()
            XCTAssertEqual(bad.shapeProblem(), "3 normals for 4 vertices (expected none or one per vertex)")
            assertError("short.ply", ["3 normals for 4 vertices"]) { try MeshPLY.encode(bad, path: "short.ply") }
            bad.normals += [SIMD3(0, 0, 1), SIMD3(0, 0, 1)]
            assertError("long.ply", ["5 normals for 4 vertices"]) { try MeshPLY.encode(bad, path: "long.ply") }
        }
        XCTAssertNil(mesh(normals: true, colors: true).shapeProblem())
        XCTAssertNil(mesh(normals: false, colors: false).shapeProblem())

        // write refuses before creating the file.
        let folder = NSTemporaryDirectory() + "splat-mesh-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var bad = mesh(normals: true, colors: false)
        bad.normals.removeFirst()
        let target = folder + "/bad.ply"
        assertError(target, ["3 normals for 4 vertices"]) { try MeshPLY.write(bad, to: target) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: target))
        // And a good one reads back from disk.
        let good = mesh(normals: true, colors: true)
        try MeshPLY.write(good, to: folder + "/good.ply")
        assertBitIdentical(try MeshPLY.read(folder + "/good.ply"), good, "disk")
    }
}
