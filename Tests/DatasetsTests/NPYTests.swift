import Foundation
import XCTest
@testable import Datasets

/// The .npy writer: NumPy's version 1.0 header, byte for byte, and the data.
final class NPYTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("splat-npy-tests-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    func testHeaderAndDataOfA2DArray() throws {
        let path = folder.appendingPathComponent("depth.npy").path
        let values: [Float] = [0, 1.5, -2, 3.25, .greatestFiniteMagnitude, 1e-7]  // 2 x 3
        try NPY.write(values, shape: [2, 3], to: path)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))

        // Magic, version 1.0.
        XCTAssertEqual(Array(bytes[0..<8]), [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
        // Header length (little-endian uint16) and the dict, padded to 64 bytes in all.
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        XCTAssertEqual((10 + headerLength) % 64, 0)
        XCTAssertEqual(headerLength, 118)  // 10 + 118 = 128: the dict (59 bytes) + newline does not fit in 64
        let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
        let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
        XCTAssertEqual(header, dict + String(repeating: " ", count: headerLength - dict.utf8.count - 1) + "\n")

        // Data: little-endian float32, C order.
        let data = Array(bytes[(10 + headerLength)...])
        XCTAssertEqual(data.count, values.count * 4)
        for (i, v) in values.enumerated() {
            let b = data[(i * 4)..<(i * 4 + 4)].map(UInt32.init)
            XCTAssertEqual(Float(bitPattern: b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24), v)
        }
        // Written atomically: no temporary file is left.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["depth.npy"])
    }

    func testHeaderExactBytes() {
        // As numpy.lib.format.write_array writes np.zeros((720, 1280), '<f4') (numpy >= 1.x, version 1.0).
        let expected = "\u{93}NUMPY".unicodeScalars.map { UInt8($0.value) } + [1, 0, 118, 0]
            + Array("{'descr': '<f4', 'fortran_order': False, 'shape': (720, 1280), }".utf8)
            + [UInt8](repeating: 0x20, count: 128 - 10 - 64 - 1) + [0x0A]
        XCTAssertEqual([UInt8](NPY.header(shape: [720, 1280])), expected)
        XCTAssertEqual(NPY.header(shape: [720, 1280]).count, 128)
        // One dimension: numpy writes (N,).
        let oneD = String(decoding: NPY.header(shape: [5]).dropFirst(10), as: UTF8.self)
        XCTAssertTrue(oneD.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }"), oneD)
        XCTAssertEqual(NPY.header(shape: [5]).count % 64, 0)
    }

    func testShapeMismatchIsAnError() {
        XCTAssertThrowsError(try NPY.write([1, 2, 3], shape: [2, 2], to: folder.appendingPathComponent("x.npy").path)) { error in
            XCTAssertTrue(error is DatasetError, "\(error)")
        }
    }
}
