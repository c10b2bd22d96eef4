@testable import Datasets
import Foundation
import XCTest

/// The .spz reader and writer (SPZFile): a fixture built byte by byte, a
/// PLY -> SPZ -> PLY round trip with the format's error bounds, version-2
/// rotations, and bad input.
final class SPZTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("splat-spz-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// A 16-byte header: magic "NGSP", version, count, SH degree, fractional bits, flags.
    func header(version: UInt32 = 3, count: UInt32, degree: UInt8, bits: UInt8 = 12, flags: UInt8 = 0,
                magic: [UInt8] = [0x4e, 0x47, 0x53, 0x50]) -> [UInt8] {
        func le(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        return magic + le(version) + le(count) + [degree, bits, flags, 0]
    }

    func gzip(_ bytes: [UInt8]) throws -> Data { try Gzip.deflate(Data(bytes), path: "<test>") }

    /// Two Gaussians, SH degree 1, version 3, every value chosen by hand.
    var fixture: [UInt8] {
        header(count: 2, degree: 1)
            // Positions, 24-bit little-endian, 12 fractional bits, RUB:
            // (1, -2, 0.5) = (4096, -8192, 2048) and (-0.25, 0, -3) = (-1024, 0, -12288).
            + [0x00, 0x10, 0x00, 0x00, 0xe0, 0xff, 0x00, 0x08, 0x00]
            + [0x00, 0xfc, 0xff, 0x00, 0x00, 0x00, 0x00, 0xd0, 0xff]
            // Alphas: 128/255 and 51/255 = 0.2.
            + [128, 51]
            // Colours.
            + [166, 64, 230, 128, 128, 128]
            // Scales: (b / 16 - 10): 0, -2, 1 and -10, 5.9375, 0.
            + [160, 128, 176, 0, 255, 160]
            // Rotations, smallest three. Gaussian 0: largest w (index 3),
            // x = +0, y = -300 (-300/511 sqrt(1/2)), z = +0: 0xC00CB000.
            // Gaussian 1: largest x (index 0), the rest 0: 0x00000000.
            + [0x00, 0xb0, 0x0c, 0xc0, 0x00, 0x00, 0x00, 0x00]
            // SH degree 1, per Gaussian 3 coefficients x (R, G, B).
            + [192, 128, 64, 160, 96, 128, 128, 136, 120]
            + [128, 128, 128, 128, 128, 128, 255, 128, 128]
    }

    func assertClose(_ a: [Float], _ b: [Float], _ tol: Float, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        for (i, (x, y)) in zip(a, b).enumerated() where !(abs(x - y) <= tol) {
            XCTFail("\(what)[\(i)]: \(x) vs \(y) (tolerance \(tol))", file: file, line: line)
            return
        }
    }

    func testHandBuiltFixtureDecodes() throws {
        let file = path("fixture.spz")
        try gzip(fixture).write(to: URL(fileURLWithPath: file))
        let m = try GaussianModelFile.read(path: file)
        XCTAssertEqual(m.count, 2)
        XCTAssertEqual(m.shDegree, 1)
        // RUB -> RDF: y and z negated.
        assertClose(m.positions, [1, 2, -0.5, -0.25, 0, 3], 0, "positions")
        assertClose(m.opacities, [0.0078431775, -1.3862944], 1e-6, "opacities")
        assertClose(m.shDC, [1.0065359, -1.6601307, 2.6797386, 0.013071895, 0.013071895, 0.013071895], 1e-5, "shDC")
        assertClose(m.scales, [0, -2, 1, -10, 5.9375, 0], 0, "scales")
        // Gaussian 0: RUB (x 0, y -0.415131, z 0, w 0.909762) -> RDF
        // (w 0.909762, x 0, y 0.415131, z 0): 49 degrees about +y.
        // Gaussian 1: RUB x = 1 -> RDF (0, 1, 0, 0).
        assertClose(m.rotations, [0.9097616, 0, 0.4151312, 0, 0, 1, 0, 0], 1e-6, "rotations")
        // Channel-major per Gaussian: R of coefficients 1-3, then G, then B;
        // coefficients 1 (y) and 2 (z) change sign, 3 (x) does not.
        assertClose(m.shRest, [-0.5, -0.25, 0, 0, 0.25, 0.0625, 0.5, 0, -0.0625,
                               0, 0, 0.9921875, 0, 0, 0, 0, 0, 0], 0, "shRest")
        // And writing it back gives the same bytes.
        XCTAssertEqual([UInt8](try SPZFile.pack(m, path: file)), fixture)
    }

    func testVersion2Rotations() throws {
        var bytes = header(version: 2, count: 1, degree: 0)
        bytes += [0, 0, 0, 0, 0, 0, 0, 0, 0]  // position 0
        bytes += [255, 128, 128, 128, 160, 160, 160]  // alpha, colour, scales
        bytes += [191, 64, 128]  // x, y, z = b / 127.5 - 1 (RUB), w >= 0
        let m = try SPZFile.decode(try gzip(bytes), path: "v2.spz")
        // RUB (0.498039, -0.498039, 0.003922) -> RDF (w, x, -y, -z).
        assertClose(m.rotations, [0.7098581, 0.49803922, 0.49803922, -0.0039215684], 1e-6, "rotations")
        XCTAssertEqual(m.opacities[0], log(254.75 / 0.25), accuracy: 1e-4)  // 255 clamps to stay finite
    }

    func makeModel(count: Int, degree: Int) -> GaussianModel {
        var state: UInt64 = 7
        func uniform(_ lo: Float, _ hi: Float) -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return lo + (hi - lo) * Float(state >> 40) / Float(1 << 24)
        }
        var m = GaussianModel(count: count, shDegree: degree)
        for i in m.positions.indices { m.positions[i] = uniform(-20, 20) }
        for i in m.shDC.indices { m.shDC[i] = uniform(-2, 2) }
        for i in m.shRest.indices { m.shRest[i] = uniform(-0.9, 0.9) }
        for i in m.opacities.indices { m.opacities[i] = uniform(-5, 5) }
        for i in m.scales.indices { m.scales[i] = uniform(-8, 2) }
        for i in m.rotations.indices { m.rotations[i] = uniform(-1, 1) }
        return m
    }

    func testPLYToSPZToPLYRoundTrip() throws {
        let original = makeModel(count: 300, degree: 3)
        try GaussianModelFile.write(original, to: path("a.ply"))
        try GaussianModelFile.write(try GaussianModelFile.read(path: path("a.ply")), to: path("a.spz"))
        try GaussianModelFile.write(try GaussianModelFile.read(path: path("a.spz")), to: path("b.ply"))
        let back = try GaussianModelFile.read(path: path("b.ply"))
        XCTAssertEqual(back.shDegree, 3)
        assertClose(back.positions, original.positions, 0.5 / 4096 + 1e-5, "positions")
        assertClose(back.scales, original.scales, 1 / 32 + 1e-5, "scales")
        assertClose(back.shDC, original.shDC, Float(0.5 / (0.15 * 255)) + 1e-5, "shDC")
        func sigmoid(_ x: [Float]) -> [Float] { x.map { 1 / (1 + exp(-$0)) } }
        assertClose(sigmoid(back.opacities), sigmoid(original.opacities), 0.5 / 255 + 1e-5, "opacity")
        // SH: bucket 8 (degree 1) or 16 (above) of 1/128 steps, plus rounding.
        let k1 = 15
        for i in 0..<original.count {
            for c in 0..<3 {
                for j in 0..<k1 {
                    let idx = i * 3 * k1 + c * k1 + j
                    let tol: Float = (j < 3 ? 4.5 : 8.5) / 128 + 1e-5
                    XCTAssertEqual(back.shRest[idx], original.shRest[idx], accuracy: tol, "shRest \(i) \(c) \(j)")
                }
            }
            let a = SIMD4(original.rotations[(i * 4)..<(i * 4 + 4)].map { $0 })
            let b = SIMD4(back.rotations[(i * 4)..<(i * 4 + 4)].map { $0 })
            let dot = abs((a * b).sum()) / ((a * a).sum().squareRoot() * (b * b).sum().squareRoot())
            XCTAssertGreaterThan(dot, 0.99999, "rotation \(i)")
        }
        // Reading is exact: writing what was read gives the same bytes.
        let spz = try Data(contentsOf: URL(fileURLWithPath: path("a.spz")))
        let raw = try Gzip.inflate(spz, path: "a.spz") { _ in nil }
        let again = try SPZFile.pack(try SPZFile.decode(spz, path: "a.spz"), path: "a.spz")
        for (k, (x, y)) in zip(raw, again).enumerated() where x != y { XCTFail("byte \(k): \(x) vs \(y)"); break }
    }

    func testLargeModelsUseFewerFractionalBits() throws {
        XCTAssertEqual(SPZFile.fractionalBits(maxAbs: 2047), 12)
        XCTAssertEqual(SPZFile.fractionalBits(maxAbs: 3000), 11)
        XCTAssertNil(SPZFile.fractionalBits(maxAbs: 9e6))
        var m = GaussianModel(count: 1, shDegree: 0)
        m.positions = [5000, -4000.5, 0.25]
        let back = try SPZFile.decode(try SPZFile.encode(m), path: "big.spz")
        assertClose(back.positions, m.positions, 0, "positions")
        m.positions[0] = 1e7
        XCTAssertThrowsError(try SPZFile.encode(m, path: "x.spz"))
    }

    func assertBad(_ data: Data, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        let p = path("bad.spz")
        try? data.write(to: URL(fileURLWithPath: p))
        XCTAssertThrowsError(try GaussianModelFile.read(path: p), file: file, line: line) { error in
            guard let e = error as? DatasetError else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertEqual(e.path, p, file: file, line: line)
            XCTAssertTrue(e.problem.contains(fragment), "'\(e.problem)' lacks '\(fragment)'", file: file, line: line)
        }
    }

    func testBadInput() throws {
        let good = try gzip(fixture)
        var v4 = fixture
        v4[4] = 4
        assertBad(try gzip(v4), "version 4 is not supported")
        var v1 = fixture
        v1[4] = 1
        assertBad(try gzip(v1), "version 1 is not supported")
        assertBad(try gzip(header(count: 0, degree: 0, magic: Array("PLY\n".utf8))), "not an .spz file: magic")
        assertBad(good.prefix(good.count - 12), "truncated")
        assertBad(good.prefix(5), "truncated")
        assertBad(Data(), "truncated")
        assertBad(Data("ply\nformat binary_little_endian 1.0\n".utf8), "corrupt .spz: not a valid gzip stream")
        var flipped = good
        flipped[flipped.count - 6] ^= 0xff  // in the CRC-32 trailer
        assertBad(flipped, "corrupt .spz")
        assertBad(try gzip(Array(fixture.dropLast(3))), "truncated .spz")
        assertBad(try gzip(fixture + [0]), "more than")
        assertBad(try gzip(header(count: 0, degree: 0, flags: 2)), "extensions")
        assertBad(try gzip(header(count: 0, degree: 4)), "SH degree 4")
        // A small file that claims many Gaussians inflates only what it holds.
        assertBad(try gzip(header(count: 1_000_000, degree: 3) + [UInt8](repeating: 0, count: 1000)), "truncated .spz")
        // Zero Gaussians is a valid (empty) model.
        let empty = try SPZFile.decode(try gzip(header(count: 0, degree: 2)), path: "e.spz")
        XCTAssertEqual(empty.count, 0)
        XCTAssertEqual(empty.shDegree, 2)
    }

    func testWriterRejects4DAnd2D() {
        XCTAssertThrowsError(try SPZFile.encode(GaussianModel(count: 1, shDegree: 0, hasTime: true), path: "x.spz"))
        XCTAssertThrowsError(try SPZFile.encode(.image2D(count: 1), path: "x.spz"))
    }
}
