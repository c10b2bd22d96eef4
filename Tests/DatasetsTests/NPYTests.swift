import Foundation
import XCTest
@testable import Datasets

/// The bytes of an `.npy` file with the given header fields, as NumPy writes
/// them (the header padded to 64 bytes); `shape` is the Python text, e.g. `(2, 3)`.
/// The reader's tests and the language feature tests build files with it.
func npyData(descr: String, shape: String, fortranOrder: String = "False", payload: [UInt8], version: UInt8 = 1) -> Data {
    var dict = "{'descr': '\(descr)', 'fortran_order': \(fortranOrder), 'shape': \(shape), }"
    let prefix = version == 1 ? 10 : 12
    dict += String(repeating: " ", count: (64 - (prefix + dict.utf8.count + 1) % 64) % 64) + "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [version, 0])
    let length = dict.utf8.count
    data.append(contentsOf: (0..<(prefix - 8)).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) })
    data.append(contentsOf: Array(dict.utf8))
    data.append(contentsOf: payload)
    return data
}

/// The little-endian bytes of `values`.
func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { value in withUnsafeBytes(of: value.littleEndian) { Array($0) } }
}

/// binary16 bits of a Float that a half holds exactly (normal values and
/// zero only: what the tests use), so the tests need no `Float16`.
func halfBits(_ x: Float) -> UInt16 {
    if x == 0 { return x.sign == .minus ? 0x8000 : 0 }
    let bits = x.bitPattern
    precondition(bits & 0x1fff == 0, "\(x) is not exact in half precision")
    let exponent = Int((bits >> 23) & 0xff) - 127 + 15
    precondition((1...30).contains(exponent), "\(x) is outside the normal half range")
    return UInt16((bits >> 16) & 0x8000) | UInt16(exponent) << 10 | UInt16((bits >> 13) & 0x3ff)
}

/// The .npy writer: NumPy's version 1.0 header, byte for byte, and the data;
/// the reader: versions, dtypes, and every kind of bad input as a `DatasetError`.
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

    // MARK: Reader

    func testRoundTripFromTheWriter() throws {
        let cases: [([Int], [Float])] = [
            ([2, 3], [0, 1.5, -2, 3.25, .greatestFiniteMagnitude, 1e-7]),
            ([5], [1, 2, 3, 4, 5]),
            ([], [42]),  // a scalar: shape ()
            ([0, 4], []),
            ([2, 1, 2], [-0.0, .infinity, .leastNonzeroMagnitude, -1]),
        ]
        for (shape, values) in cases {
            let path = folder.appendingPathComponent("round-trip.npy").path
            try NPY.write(values, shape: shape, to: path)
            let array = try NPY.read(path: path)
            XCTAssertEqual(array.shape, shape)
            XCTAssertEqual(array.values.map(\.bitPattern), values.map(\.bitPattern), "\(shape)")
        }
    }

    func testFloat16() throws {
        let bits: [UInt16] = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x8000, 0x7c00, 0xfc00, 0x3555]
        let data = npyData(descr: "<f2", shape: "(3, 3)", payload: littleEndianBytes(bits))
        let array = try NPY.decode(data, path: "half.npy")
        XCTAssertEqual(array.shape, [3, 3])
        XCTAssertEqual(array.values, [1, -2, 65504, 0x1p-24, 0x3ffp-24, -0.0, .infinity, -.infinity, 0.333251953125])
        XCTAssertEqual(array.values[5].sign, .minus)
        XCTAssertTrue(try NPY.decode(npyData(descr: "<f2", shape: "(1,)", payload: littleEndianBytes([UInt16(0x7e00)])),
                                     path: "nan.npy").values[0].isNaN)
    }

    #if !(os(macOS) && arch(x86_64))
    /// Every half against Swift's own conversion.
    func testFloat16AllBitPatterns() {
        for bits in UInt16.min...UInt16.max {
            let expected = Float(Float16(bitPattern: bits)), actual = NPY.floatFromHalf(bits)
            if expected.isNaN {
                XCTAssertTrue(actual.isNaN, "\(bits)")
            } else {
                XCTAssertEqual(actual.bitPattern, expected.bitPattern, "\(bits)")
            }
        }
    }
    #endif

    func testOtherDtypes() throws {
        let doubles: [Double] = [1.5, -1e300, 0.1]
        let f8 = try NPY.decode(npyData(descr: "<f8", shape: "(3,)", payload: littleEndianBytes(doubles.map(\.bitPattern))),
                                path: "f8.npy")
        XCTAssertEqual(f8.values, [1.5, -.infinity, Float(0.1)])

        let i4 = try NPY.decode(npyData(descr: "<i4", shape: "(2, 2)", payload: littleEndianBytes([Int32(-1), .max, 0, -7])),
                                path: "i4.npy")
        XCTAssertEqual(i4, NPY.NPYArray(shape: [2, 2], values: [-1, Float(Int32.max), 0, -7]))

        let u1 = try NPY.decode(npyData(descr: "|u1", shape: "(3,)", payload: [0, 255, 7]), path: "u1.npy")
        XCTAssertEqual(u1, NPY.NPYArray(shape: [3], values: [0, 255, 7]))

        let rest: [(String, [UInt8], [Float])] = [
            ("|i1", [0xff, 0x80], [-1, -128]),
            ("<i2", littleEndianBytes([Int16(-300), 300]), [-300, 300]),
            ("<i8", littleEndianBytes([Int64(-5), 1 << 40]), [-5, 0x1p40]),
            ("<u2", littleEndianBytes([UInt16(65535), 1]), [65535, 1]),
            ("<u4", littleEndianBytes([UInt32.max, 2]), [Float(UInt32.max), 2]),
            ("<u8", littleEndianBytes([UInt64(3), 4]), [3, 4]),
            ("|b1", [0, 1], [0, 1]),
        ]
        for (descr, payload, expected) in rest {
            XCTAssertEqual(try NPY.decode(npyData(descr: descr, shape: "(2,)", payload: payload), path: "x.npy").values,
                           expected, descr)
        }
    }

    func testVersions2And3AndHeaderVariants() throws {
        let payload = littleEndianBytes([Float(1), 2, 3, 4, 5, 6].map(\.bitPattern))
        for version: UInt8 in [2, 3] {
            let data = npyData(descr: "<f4", shape: "(2, 3)", payload: payload, version: version)
            XCTAssertEqual(try NPY.decode(data, path: "v\(version).npy"),
                           NPY.NPYArray(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]))
        }
        // Key order, double quotes, no trailing comma, Python 2 longs.
        let header = "{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"<f4\"}\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0])
        data.append(contentsOf: Array(header.utf8) + payload)
        XCTAssertEqual(try NPY.decode(data, path: "variant.npy").shape, [2, 3])
        // A scalar: shape ().
        XCTAssertEqual(try NPY.decode(npyData(descr: "<f4", shape: "()", payload: Array(payload.prefix(4))), path: "s.npy"),
                       NPY.NPYArray(shape: [], values: [1]))
    }

    /// Each bad input is a DatasetError naming the file and the problem.
    func testBadInputsAreErrors() throws {
        let four = littleEndianBytes([Float(1), 2, 3, 4].map(\.bitPattern))
        let good = npyData(descr: "<f4", shape: "(2, 2)", payload: four)
        let cases: [(String, Data, String)] = [
            ("empty", Data(), "truncated"),
            ("magic only", good.prefix(6), "truncated"),
            ("bad magic", Data("PK\u{3}\u{4}junkjunkjunk".utf8), "not an NPY file"),
            ("version", { var d = good; d[6] = 4; return d }(), "unsupported NPY format version 4.0"),
            ("header cut", good.prefix(40), "truncated"),
            ("data cut", good.dropLast(1), "truncated"),
            ("extra data", good + Data([0]), "extra bytes"),
            ("fortran", npyData(descr: "<f4", shape: "(2, 2)", fortranOrder: "True", payload: four),
             "Fortran-ordered arrays are not supported; save with np.ascontiguousarray"),
            ("big-endian", npyData(descr: ">f4", shape: "(2, 2)", payload: four), "big-endian"),
            ("complex", npyData(descr: "<c8", shape: "(2,)", payload: four), "unsupported NPY dtype '<c8'"),
            ("one-byte order", npyData(descr: "|f4", shape: "(2, 2)", payload: four), "byte order '|'"),
            ("negative", npyData(descr: "<f4", shape: "(-2, -2)", payload: four), "negative dimension"),
            ("list shape", npyData(descr: "<f4", shape: "[2, 2]", payload: four), "'shape' is not a tuple"),
            ("int shape", npyData(descr: "<f4", shape: "(4)", payload: four), "'shape' is not a tuple"),
            ("string in shape", npyData(descr: "<f4", shape: "('a',)", payload: four), "'shape' is not a tuple"),
            ("float in shape", npyData(descr: "<f4", shape: "(2.0, 2)", payload: four), "malformed NPY header"),
            ("too large", npyData(descr: "<f4", shape: "(3, 2)", payload: four), "truncated: NPY shape [3, 2]"),
            ("overflow", npyData(descr: "<f4", shape: "(4611686018427387904, 4)", payload: four), "more elements than"),
            ("bytes overflow", npyData(descr: "<f8", shape: "(2305843009213693952,)", payload: four), "truncated"),
            ("huge integer", npyData(descr: "<f4", shape: "(99999999999999999999,)", payload: four), "integer too large"),
            ("fortran not bool", npyData(descr: "<f4", shape: "(2, 2)", fortranOrder: "0", payload: four), "'fortran_order'"),
            ("deep", npyData(descr: "<f4", shape: String(repeating: "(", count: 5000), payload: four), "nested too deeply"),
            ("unterminated", npyData(descr: "<f4", shape: "(2, 2)", fortranOrder: "'abc", payload: four), "malformed NPY header"),
        ]
        for (name, data, expected) in cases {
            XCTAssertThrowsError(try NPY.decode(data, path: "/data/\(name).npy"), name) { error in
                guard let error = error as? DatasetError else { return XCTFail("\(name): \(error)") }
                XCTAssertEqual(error.path, "/data/\(name).npy")
                XCTAssertTrue(error.description.contains("/data/\(name).npy"), error.description)
                XCTAssertTrue(error.problem.contains(expected), "\(name): \(error.problem)")
            }
        }
        // Header dicts with missing, extra, duplicate keys or trailing text.
        let dicts: [(String, String)] = [
            ("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (4,)}", "unsupported NPY dtype: 'descr' is not a string"),
            ("{'descr': '<f4', 'shape': (4,), }", "malformed NPY header: no 'fortran_order' key"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", "malformed NPY header: unexpected key 'x'"),
            ("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", "malformed NPY header: duplicate key 'descr'"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (4,)} junk", "malformed NPY header: unexpected text after the dict"),
            ("{'descr': '<f4' 'fortran_order': False, 'shape': (4,)}", "malformed NPY header: expected ',' or '}'"),
            ("['descr', '<f4']", "malformed NPY header: expected '{'"),
            ("{'descr': '<f4', 'fortran_order': false, 'shape': (4,)}", "malformed NPY header: unknown name 'false'"),
            ("", "malformed NPY header: expected '{'"),
        ]
        for (dict, expected) in dicts {
            let header = dict + "\n"
            var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0])
            data.append(contentsOf: Array(header.utf8) + four)
            XCTAssertThrowsError(try NPY.decode(data, path: "dict.npy"), dict) { error in
                XCTAssertTrue("\(error)".hasPrefix("dict.npy: \(expected)"), "\(error)")
            }
        }
    }

    func testReadErrorsNameThePath() throws {
        let path = folder.appendingPathComponent("fortran.npy").path
        try npyData(descr: "<f4", shape: "(1,)", fortranOrder: "True", payload: [0, 0, 0, 0]).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try NPY.read(path: path)) { error in
            XCTAssertEqual("\(error)", "\(path): Fortran-ordered arrays are not supported; save with np.ascontiguousarray")
        }
        XCTAssertThrowsError(try NPY.read(path: folder.appendingPathComponent("missing.npy").path)) { error in
            XCTAssertTrue("\(error)".hasSuffix("missing.npy: no such file"), "\(error)")
        }
        XCTAssertThrowsError(try NPY.read(path: folder.path)) { error in
            XCTAssertTrue("\(error)".contains("not a regular file"), "\(error)")
        }
    }

    /// A file over 8 GiB is refused from its size alone (a sparse file: no disk used, nothing read).
    func testHugeFileIsRefusedBeforeReading() throws {
        let path = folder.appendingPathComponent("huge.npy").path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(NPY.maximumFileSize) + (1 << 29))
        try handle.close()
        XCTAssertThrowsError(try NPY.read(path: path)) { error in
            XCTAssertEqual("\(error)", "\(path): NPY file of 8.5 GiB is larger than the 8 GiB this reader accepts")
        }
    }
}
