import Compute
import ComputeTestSupport
@testable import Fields
import Geometry
import XCTest

final class SphericalHarmonicsEncodingTests: GPUTestCase {
    func testMatchesTheTwinIntoAWiderRow() throws {
        let sh = try SphericalHarmonicsEncoding(device: device)
        var rng = SplitMix64(seed: 21)
        // Random directions of any length, the axes, and the zero vector.
        var dirs: [Float] = (0..<(500 * 3)).map { _ in rng.uniform(-3, 3) }
        dirs += [1, 0, 0, 0, -1, 0, 0, 0, 1, 0, 0, 0]
        let n = dirs.count / 3, stride = 32, column = 16
        let dirB = try GPUBuffer(device: device, dirs)
        let outB = try GPUBuffer(device: device, [Float](repeating: 7, count: n * stride))
        let stream = try CommandStream(device: device)
        try sh.encode(stream, directions: dirB, encoded: outB, count: n, stride: stride, column: column)
        try stream.run()
        let gpu = try outB.read(Float.self, count: n * stride, device: device)
        let twin = SphericalHarmonicsEncoding.reference(directions: dirs)
        for i in 0..<n {
            for k in 0..<16 { XCTAssertEqual(gpu[i * stride + column + k], twin[i * 16 + k], accuracy: 2e-6, "direction \(i) value \(k)") }
            // The other columns are untouched.
            for k in 0..<column { XCTAssertEqual(gpu[i * stride + k], 7) }
        }
        // Orthonormality check of the basis: the sum of squares of the 16
        // values is 16 / (4 pi) for every unit direction (addition theorem).
        for i in 0..<n where i < 500 {
            let s = (0..<16).map { Double(twin[i * 16 + $0]) }.map { $0 * $0 }.reduce(0, +)
            XCTAssertEqual(s, 16 / (4 * Double.pi), accuracy: 1e-5)
        }
        XCTAssertThrowsError(try sh.encode(stream, directions: dirB, encoded: outB, count: n, stride: 20, column: 8))
    }
}
