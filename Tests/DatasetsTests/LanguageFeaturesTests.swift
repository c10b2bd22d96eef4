import Foundation
import XCTest
@testable import Datasets

/// LangSplat's per-image `_f.npy` / `_s.npy` pairs and dense maps: sampling
/// to the training size, normalisation, deduplication, and each bad file.
final class LanguageFeaturesTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("splat-language-features-tests-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    private func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    /// Writes float16 features [rows.count, D] to `name`, as LangSplat does.
    private func writeHalf(_ rows: [[Float]], to name: String) throws {
        let bits = rows.flatMap { $0.map(halfBits) }
        try npyData(descr: "<f2", shape: "(\(rows.count), \(rows.first?.count ?? 0))", payload: littleEndianBytes(bits))
            .write(to: URL(fileURLWithPath: path(name)))
    }

    private func load(_ imageName: String = "frame_001.jpg", width: Int, height: Int, levels: Int = 3) throws -> ImageFeatures? {
        try LanguageFeatureFiles.load(directory: folder.path, imageName: imageName, width: width, height: height, levels: levels)
    }

    /// Throws a DatasetError for `file` whose message holds `expected`.
    private func assertError(_ expected: String, file: String, width: Int = 4, height: Int = 3, levels: Int = 3,
                             line: UInt = #line) {
        XCTAssertThrowsError(try load(width: width, height: height, levels: levels), line: line) { error in
            guard let error = error as? DatasetError else { return XCTFail("\(error)", line: line) }
            XCTAssertEqual(error.path, path(file), line: line)
            XCTAssertTrue(error.problem.contains(expected), error.description, line: line)
        }
    }

    // A 4 x 3 image: features of the default level (row 0), s (1, 2), m (3, 4), l (5).
    private let rows: [[Float]] = [[0, 0, 2], [3, 4, 0], [0, -0.5, 0], [1, 1, 1], [0, 0.25, 0], [-2, 0, 0]]
    private let maps: [[Float]] = [
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1],
        [1, 1, 2, 2, 1, 1, 2, 2, -1, -1, -1, -1],
        [3, 3, 3, 4, 3, 3, 3, 4, 3, 3, 3, 4],
        [5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5],
    ]

    private func writePair() throws {
        try writeHalf(rows, to: "frame_001_f.npy")
        try NPY.write(maps.flatMap { $0 }, shape: [4, 3, 4], to: path("frame_001_s.npy"))
    }

    func testLangSplatPairAtTheImageSize() throws {
        try writePair()
        let features = try XCTUnwrap(try load("images/frame_001.jpg", width: 4, height: 3))
        XCTAssertEqual(features.width, 4)
        XCTAssertEqual(features.height, 3)
        XCTAssertEqual(features.rowCount, 6)
        XCTAssertEqual(features.dimension, 3)
        XCTAssertEqual(features.segments, maps.dropFirst().map { $0.map { Int32($0) } })
        XCTAssertEqual(features.source, "\(path("frame_001_f.npy")), \(path("frame_001_s.npy"))")
        let third = Float(1 / 3.0).squareRoot()
        let expected: [Float] = [0, 0, 1, 0.6, 0.8, 0, 0, -1, 0, third, third, third, 0, 1, 0, -1, 0, 0]
        for (a, b) in zip(features.features, expected) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertEqual(features.features.count, 18)

        // Fewer levels: the first ones of s, m, l.
        XCTAssertEqual(try load(width: 4, height: 3, levels: 1)?.segments, [maps[1].map { Int32($0) }])
        XCTAssertEqual(try load(width: 4, height: 3, levels: 2)?.segments.count, 2)
    }

    /// Maps 2x and 3x the image take source pixel (k*i + k/2, k*j + k/2).
    func testLangSplatPairAtAMultipleIsSampledByNearestNeighbour() throws {
        for scale in [2, 3] {
            let width = 4, height = 3, sourceWidth = width * scale, sourceHeight = height * scale
            let count = sourceWidth * sourceHeight
            // Each source pixel its own row, so the sampled index shows which pixel was taken.
            try writeHalf((0..<count).map { [Float($0 % 7 + 1), 1] }, to: "frame_001_f.npy")
            let level = (0..<count).map(Float.init)
            try NPY.write([Float](repeating: -1, count: count) + level + level.reversed() + level,
                          shape: [4, sourceHeight, sourceWidth], to: path("frame_001_s.npy"))
            let features = try XCTUnwrap(try load(width: width, height: height))
            XCTAssertEqual(features.rowCount, count)
            var expected: [Int32] = []
            for i in 0..<height {
                for j in 0..<width { expected.append(Int32((scale * i + scale / 2) * sourceWidth + scale * j + scale / 2)) }
            }
            XCTAssertEqual(features.segments[0], expected, "\(scale)x")
            XCTAssertEqual(features.segments[1], expected.map { Int32(count - 1) - $0 }, "\(scale)x")
            XCTAssertEqual(features.segments[2], expected, "\(scale)x")
        }
    }

    /// A dense map: identical rows become one, in order of first use.
    func testDenseMapIsDeduplicated() throws {
        let a: [Float] = [3, 4], b: [Float] = [0, 2], c: [Float] = [-1, 0], negativeZero: [Float] = [-0.0, 2]
        let pixels = [a, a, b, b, a, a, b, c, c, c, negativeZero, b]  // 3 x 4
        try NPY.write(pixels.flatMap { $0 }, shape: [3, 4, 2], to: path("frame_001.npy"))
        let features = try XCTUnwrap(try load("frame_001.png", width: 4, height: 3, levels: 3))
        XCTAssertEqual(features.rowCount, 4)  // -0 differs from 0 bit for bit
        XCTAssertEqual(features.segments, [[0, 0, 1, 1, 0, 0, 1, 2, 2, 2, 3, 1]])
        XCTAssertEqual(features.features, [0.6, 0.8, 0, 1, -1, 0, -0.0, 1])
        XCTAssertEqual(features.source, path("frame_001.npy"))

        // At 2x, only the sampled pixels' rows are kept.
        var large = [Float](repeating: 9, count: 6 * 8 * 2)  // a row [9, 9] no sampled pixel takes
        for i in 0..<3 { for j in 0..<4 { for k in 0..<2 { large[((2 * i + 1) * 8 + 2 * j + 1) * 2 + k] = pixels[i * 4 + j][k] } } }
        try NPY.write(large, shape: [6, 8, 2], to: path("frame_001.npy"))
        let sampled = try XCTUnwrap(try load(width: 4, height: 3, levels: 1))
        XCTAssertEqual(sampled.segments, features.segments)
        XCTAssertEqual(sampled.features, features.features)
    }

    func testMissingFilesGiveNil() throws {
        XCTAssertNil(try load(width: 4, height: 3))
        try writePair()
        XCTAssertNil(try load("frame_002.jpg", width: 4, height: 3))
    }

    func testOneOfThePairMissingIsAnError() throws {
        try writePair()
        try FileManager.default.removeItem(atPath: path("frame_001_s.npy"))
        assertError("frame_001_s.npy do not", file: "frame_001_s.npy")
        try writePair()
        try FileManager.default.removeItem(atPath: path("frame_001_f.npy"))
        assertError("frame_001_f.npy do not", file: "frame_001_f.npy")
    }

    func testBadFeatureFiles() throws {
        try writePair()
        try NPY.write([1, .nan, 0, 1], shape: [2, 2], to: path("frame_001_f.npy"))
        assertError("NaN in features at row 0, element 1", file: "frame_001_f.npy")
        try NPY.write([1, 0, 0, -.infinity], shape: [2, 2], to: path("frame_001_f.npy"))
        assertError("infinite value in features at row 1, element 1", file: "frame_001_f.npy")
        try NPY.write([Float](repeating: 1, count: 18), shape: [18], to: path("frame_001_f.npy"))
        assertError("expected features of shape [M, D] (2-D), found [18]", file: "frame_001_f.npy")
        // Row 4 is used by level m.
        var zeroed = rows
        zeroed[4] = [0, 0, 0]
        try writeHalf(zeroed, to: "frame_001_f.npy")
        assertError("feature row 4 has length 0 and cannot be normalised", file: "frame_001_f.npy")
        // ... but not by levels s only: then it stays zero.
        let features = try XCTUnwrap(try load(width: 4, height: 3, levels: 1))
        XCTAssertEqual(Array(features.features[12..<15]), [0, 0, 0])
    }

    func testBadSegmentMaps() throws {
        try writePair()
        let cases: [(Int, Float, String)] = [
            (1, 1.5, "segment map 1 at (row 0, column 1) holds 1.5, not a feature row index in -1..<6"),
            (2, 6, "segment map 2 at (row 0, column 1) holds 6.0"),
            (3, -2, "segment map 3 at (row 0, column 1) holds -2.0"),
            (3, .nan, "segment map 3 at (row 0, column 1) holds nan"),
        ]
        for (level, value, expected) in cases {
            var bad = maps
            bad[level][1] = value
            try NPY.write(bad.flatMap { $0 }, shape: [4, 3, 4], to: path("frame_001_s.npy"))
            assertError(expected, file: "frame_001_s.npy")
        }
        // Row 0 (SAM's default level) is not read.
        var defaultLevel = maps
        defaultLevel[0][1] = 100
        try NPY.write(defaultLevel.flatMap { $0 }, shape: [4, 3, 4], to: path("frame_001_s.npy"))
        XCTAssertNotNil(try load(width: 4, height: 3))

        try NPY.write(maps.dropLast().flatMap { $0 }, shape: [3, 3, 4], to: path("frame_001_s.npy"))
        assertError("expected [4, 3, 4] (or an integer multiple of 3 x 4), found [3, 3, 4]", file: "frame_001_s.npy")
        try NPY.write(maps.flatMap { $0 }, shape: [4, 12], to: path("frame_001_s.npy"))
        assertError("found [4, 12]", file: "frame_001_s.npy")
        try NPY.write([Float](repeating: -1, count: 4 * 50 * 50), shape: [4, 50, 50], to: path("frame_001_s.npy"))
        assertError("expected [4, 64, 80] (or an integer multiple of 64 x 80), found [4, 50, 50]",
                    file: "frame_001_s.npy", width: 80, height: 64)
        // 2x the height but 3x the width.
        try NPY.write([Float](repeating: -1, count: 4 * 6 * 12), shape: [4, 6, 12], to: path("frame_001_s.npy"))
        assertError("do not match the image: expected [4, 3, 4]", file: "frame_001_s.npy")
    }

    func testBadDenseMaps() throws {
        try NPY.write([1, 0, 0, 1, .nan, 1], shape: [1, 3, 2], to: path("frame_001.npy"))
        assertError("NaN in features at pixel (row 0, column 2), element 0", file: "frame_001.npy", width: 3, height: 1)
        try NPY.write([1, 0, 0, 0, 1, 1], shape: [1, 3, 2], to: path("frame_001.npy"))
        assertError("the feature of pixel (row 0, column 1) has length 0", file: "frame_001.npy", width: 3, height: 1)
        try NPY.write([1, 0, 0, 1, 1, 1], shape: [3, 2], to: path("frame_001.npy"))
        assertError("expected [1, 3, D] (or an integer multiple of 1 x 3), found [3, 2]", file: "frame_001.npy",
                    width: 3, height: 1)
        try NPY.write([Float](repeating: 1, count: 2 * 5 * 2), shape: [2, 5, 2], to: path("frame_001.npy"))
        assertError("does not match the image", file: "frame_001.npy", width: 3, height: 1)
        try Data("not npy".utf8).write(to: URL(fileURLWithPath: path("frame_001.npy")))
        assertError("not an NPY file", file: "frame_001.npy", width: 3, height: 1)
    }

    func testBadArguments() throws {
        try writePair()
        for levels in [0, 4] {
            XCTAssertThrowsError(try load(width: 4, height: 3, levels: levels)) { XCTAssertTrue($0 is DatasetError) }
        }
        XCTAssertThrowsError(try load(width: 0, height: 3)) { XCTAssertTrue($0 is DatasetError) }
        XCTAssertThrowsError(try load(width: 1 << 40, height: 1 << 40)) { XCTAssertTrue($0 is DatasetError) }
    }
}
