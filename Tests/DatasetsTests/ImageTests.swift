import CJPEG
import Foundation
import Geometry
import XCTest
@testable import Datasets

/// The image layer: Image8, PNG/JPEG reading, PNG writing, downscaling,
/// compositing, and the errors bad files give.
final class ImageTests: XCTestCase {
    private var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("splat-image-tests-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    private func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    private func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let p = path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    /// Deterministic pseudo-random bytes.
    private func noise(_ count: Int, seed: UInt64) -> [UInt8] {
        var g = SplitMix64(seed: seed)
        return (0 ..< count).map { _ in UInt8(truncatingIfNeeded: g.next()) }
    }

    /// `body` must throw a DatasetError naming `file` whose problem contains `phrase`.
    private func assertDatasetError<T>(_ file: String, _ phrase: String, _ body: () throws -> T,
                                       line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("\(file): no error, expected one containing \"\(phrase)\"", line: line)
        } catch let error as DatasetError {
            XCTAssertEqual(error.path, file, line: line)
            XCTAssertTrue(error.problem.contains(phrase), "\"\(error.problem)\" lacks \"\(phrase)\"", line: line)
        } catch {
            XCTFail("\(file): not a DatasetError: \(error)", line: line)
        }
    }

    // MARK: - Image8

    func testPixelRGBGreyReplicationAndAlphaMask() {
        let grey = Image8(width: 3, height: 2, channels: 1, pixels: [0, 10, 20, 30, 40, 50])
        XCTAssertEqual(grey.pixel(x: 2, y: 1), [50])
        XCTAssertFalse(grey.hasAlpha)
        XCTAssertNil(grey.alphaMask())
        let rgb = grey.rgb()
        XCTAssertEqual(rgb.channels, 3)
        XCTAssertEqual(rgb.pixels, [0, 0, 0, 10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40, 50, 50, 50])
        XCTAssertEqual(rgb.rgb(), rgb)

        let rgba = Image8(width: 2, height: 1, channels: 4, pixels: [1, 2, 3, 4, 5, 6, 7, 8])
        XCTAssertTrue(rgba.hasAlpha)
        XCTAssertEqual(rgba.pixel(x: 1, y: 0), [5, 6, 7, 8])
        XCTAssertEqual(rgba.rgb().pixels, [1, 2, 3, 5, 6, 7])
        XCTAssertEqual(rgba.alphaMask(), Image8(width: 2, height: 1, channels: 1, pixels: [4, 8]))
    }

    func testCompositingOverWhiteAndBlack() {
        // Opaque, transparent, half, and a quarter-ish alpha.
        let image = Image8(width: 4, height: 1, channels: 4, pixels: [
            200, 100, 50, 255,
            200, 100, 50, 0,
            200, 100, 50, 128,
            10, 20, 30, 64,
        ])
        func expected(_ c: Int, _ a: Int, _ b: Int) -> UInt8 {
            UInt8((Double(c * a + b * (255 - a)) / 255).rounded())
        }
        let white = image.composited(over: .white)
        let black = image.composited(over: .black)
        XCTAssertEqual(white.channels, 3)
        XCTAssertEqual(white.pixel(x: 0, y: 0), [200, 100, 50])
        XCTAssertEqual(white.pixel(x: 1, y: 0), [255, 255, 255])
        XCTAssertEqual(black.pixel(x: 1, y: 0), [0, 0, 0])
        XCTAssertEqual(white.pixel(x: 2, y: 0), [expected(200, 128, 255), expected(100, 128, 255), expected(50, 128, 255)])
        XCTAssertEqual(white.pixel(x: 2, y: 0), [227, 177, 152])  // 57985 / 255 = 227.4, ...
        XCTAssertEqual(black.pixel(x: 2, y: 0), [100, 50, 25])
        XCTAssertEqual(black.pixel(x: 3, y: 0), [expected(10, 64, 0), expected(20, 64, 0), expected(30, 64, 0)])
        XCTAssertEqual(white.pixel(x: 3, y: 0), [expected(10, 64, 255), expected(20, 64, 255), expected(30, 64, 255)])

        // Without alpha: the RGB image, grey replicated.
        let grey = Image8(width: 1, height: 1, channels: 1, pixels: [7])
        XCTAssertEqual(grey.composited(over: .white).pixels, [7, 7, 7])
    }

    func testCompositingOverRandomIsSeededAndPerPixel() {
        let transparent = Image8(width: 64, height: 64, channels: 4, filledWith: 0)
        let a = transparent.composited(over: .random, seed: 1)
        XCTAssertEqual(a, transparent.composited(over: .random, seed: 1))
        XCTAssertNotEqual(a, transparent.composited(over: .random, seed: 2))
        // Transparent pixels show the background: many different colours, mean near 127.5.
        XCTAssertGreaterThan(Set(stride(from: 0, to: a.pixels.count, by: 3).map { a.pixels[$0] }).count, 200)
        let mean = Double(a.pixels.reduce(0) { $0 + Int($1) }) / Double(a.pixels.count)
        XCTAssertEqual(mean, 127.5, accuracy: 5)
        // Opaque pixels ignore it.
        let opaque = Image8(width: 2, height: 2, channels: 4, pixels: [UInt8](repeating: 255, count: 16))
        XCTAssertEqual(opaque.composited(over: .random, seed: 3).pixels, [UInt8](repeating: 255, count: 12))
    }

    // MARK: - Downscaling

    /// Area-average reference in Double: each output pixel covers
    /// [i * W / w, (i + 1) * W / w) source pixels.
    private func referenceDownscale(_ image: Image8, _ w: Int, _ h: Int) -> [Double] {
        func overlaps(_ source: Int, _ output: Int, _ i: Int) -> [(Int, Double)] {
            let scale = Double(source) / Double(output)
            let start = Double(i) * scale, end = Double(i + 1) * scale
            return (0 ..< source).compactMap { j in
                let o = min(end, Double(j + 1)) - max(start, Double(j))
                return o > 1e-12 ? (j, o) : nil
            }
        }
        var out: [Double] = []
        for oy in 0 ..< h {
            for ox in 0 ..< w {
                for c in 0 ..< image.channels {
                    var sum = 0.0, weight = 0.0
                    for (y, wy) in overlaps(image.height, h, oy) {
                        for (x, wx) in overlaps(image.width, w, ox) {
                            sum += Double(image.pixels[(y * image.width + x) * image.channels + c]) * wx * wy
                            weight += wx * wy
                        }
                    }
                    out.append(sum / weight)
                }
            }
        }
        return out
    }

    func testDownscaleByTwoIsTheBlockAverage() {
        let image = Image8(width: 4, height: 2, channels: 1, pixels: [
            0, 10, 100, 101,
            20, 30, 102, 104,
        ])
        let half = image.downscaled(by: 2)
        XCTAssertEqual(half.width, 2)
        XCTAssertEqual(half.height, 1)
        // (0 + 10 + 20 + 30) / 4 = 15; (100 + 101 + 102 + 104) / 4 = 101.75 -> 102.
        XCTAssertEqual(half.pixels, [15, 102])
    }

    func testDownscaleByThreeAveragesEveryChannelAlphaIncluded() {
        let image = Image8(width: 6, height: 3, channels: 4, pixels: noise(6 * 3 * 4, seed: 7))
        let third = image.downscaled(by: 3)
        XCTAssertEqual(third.width, 2)
        XCTAssertEqual(third.height, 1)
        for ox in 0 ..< 2 {
            for c in 0 ..< 4 {
                var sum = 0
                for y in 0 ..< 3 { for x in 0 ..< 3 { sum += Int(image.pixel(x: ox * 3 + x, y: y)[c]) } }
                XCTAssertEqual(Int(third.pixel(x: ox, y: 0)[c]), (sum + 4) / 9, "pixel \(ox) channel \(c)")
            }
        }
    }

    func testDownscaleWeighsPartialPixelsWhenTheSizeDoesNotDivide() {
        // 3 -> round(1.5) = 2 columns, each covering 1.5 pixels; 1 row -> 1 (at least 1).
        let row = Image8(width: 3, height: 1, channels: 1, pixels: [0, 90, 180])
        let half = row.downscaled(by: 2)
        XCTAssertEqual(half.width, 2)
        XCTAssertEqual(half.height, 1)
        XCTAssertEqual(half.pixels, [30, 150])  // (0 + 45) / 1.5 and (45 + 180) / 1.5

        // Larger sizes against the Double reference: every value a correct rounding.
        for (w, h, c, k) in [(7, 5, 3, 2), (11, 9, 4, 3), (10, 7, 1, 4), (13, 13, 3, 5), (17, 6, 3, 8)] {
            let image = Image8(width: w, height: h, channels: c, pixels: noise(w * h * c, seed: UInt64(w * 100 + k)))
            let small = image.downscaled(by: k)
            let size = Image8.downscaledSize(width: w, height: h, by: k)
            XCTAssertEqual(small.width, size.width)
            XCTAssertEqual(small.height, size.height)
            let reference = referenceDownscale(image, small.width, small.height)
            for (i, value) in small.pixels.enumerated() {
                XCTAssertLessThanOrEqual(abs(Double(value) - reference[i]), 0.5 + 1e-9,
                                         "\(w)x\(h)x\(c) by \(k), value \(i): \(value) vs \(reference[i])")
            }
        }
    }

    func testDownscaledSizeRoundsLikePython() {
        // Python's round (halves to even), as 3DGS sizes its images.
        XCTAssertTrue(Image8.downscaledSize(width: 1280, height: 720, by: 2) == (640, 360))
        XCTAssertTrue(Image8.downscaledSize(width: 358, height: 354, by: 4) == (90, 88))  // 89.5 -> 90, 88.5 -> 88
        XCTAssertTrue(Image8.downscaledSize(width: 1297, height: 840, by: 8) == (162, 105))  // 162.125, 105
        XCTAssertTrue(Image8.downscaledSize(width: 1, height: 3, by: 8) == (1, 1))
        let image = Image8(width: 5, height: 5, channels: 3, filledWith: 9)
        XCTAssertEqual(image.downscaled(by: 1), image)
        XCTAssertEqual(image.downscaled(by: 2).pixels, [UInt8](repeating: 9, count: 2 * 2 * 3))
    }

    // MARK: - PNG

    func testPNGRoundTripsOneThreeAndFourChannels() throws {
        for channels in [1, 3, 4] {
            let image = Image8(width: 37, height: 23, channels: channels,
                               pixels: noise(37 * 23 * channels, seed: UInt64(channels)))
            let file = path("round-trip-\(channels).png")
            try ImageIO.writePNG(image, to: file)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            XCTAssertEqual(ImageIO.detect(bytes), .png)
            let back = try ImageIO.read(path: file)
            XCTAssertEqual(back, image, "\(channels) channels")
            XCTAssertTrue(try ImageIO.readSize(path: file) == (37, 23))
        }
        // No temporary file is left beside it.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(),
                       ["round-trip-1.png", "round-trip-3.png", "round-trip-4.png"])
    }

    func testPNGDetectedByContentNotExtension() throws {
        let image = Image8(width: 2, height: 2, channels: 3, pixels: noise(12, seed: 5))
        let file = path("really-a-png.jpg")
        try ImageIO.writePNG(image, to: file)
        XCTAssertEqual(try ImageIO.read(path: file), image)
    }

    func testEightBitPNGKinds() throws {
        // Grey + alpha becomes RGBA.
        let ga = try write(TestPNG.make(width: 2, height: 1, bitDepth: 8, colourType: 4,
                                        rows: [[10, 200, 30, 0]]), "ga.png")
        let gaImage = try ImageIO.read(path: ga)
        XCTAssertEqual(gaImage.channels, 4)
        XCTAssertEqual(gaImage.pixels, [10, 10, 10, 200, 30, 30, 30, 0])

        // Palette without and with transparency.
        let palette: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255]
        let plte = TestPNG.chunk("PLTE", palette)
        let indexed = try write(TestPNG.make(width: 3, height: 1, bitDepth: 8, colourType: 3, rows: [[2, 0, 1]],
                                             before: [plte]), "palette.png")
        let rgb = try ImageIO.read(path: indexed)
        XCTAssertEqual(rgb.channels, 3)
        XCTAssertEqual(rgb.pixels, [0, 0, 255, 255, 0, 0, 0, 255, 0])
        let transparent = try write(TestPNG.make(width: 3, height: 1, bitDepth: 8, colourType: 3, rows: [[2, 0, 1]],
                                                 before: [plte, TestPNG.chunk("tRNS", [128])]), "palette-trns.png")
        let rgba = try ImageIO.read(path: transparent)
        XCTAssertEqual(rgba.channels, 4)
        XCTAssertEqual(rgba.pixels, [0, 0, 255, 255, 255, 0, 0, 128, 0, 255, 0, 255])

        // 2-bit grey is expanded to 8 bits (v * 85).
        let low = try write(TestPNG.make(width: 4, height: 1, bitDepth: 2, colourType: 0, rows: [[0b00_01_10_11]]),
                            "grey2.png")
        XCTAssertEqual(try ImageIO.read(path: low).pixels, [0, 85, 170, 255])
    }

    func testColourChunksDoNotChangeValues() throws {
        // A linear gAMA (1.0) and cHRM would make libpng re-encode to sRGB; the
        // values must come back as stored.
        let gamma = TestPNG.chunk("gAMA", TestPNG.bigEndian32(100_000))
        let chrm = TestPNG.chunk("cHRM", [31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000].flatMap(TestPNG.bigEndian32))
        let row: [UInt8] = [0, 64, 128, 192, 255, 1]
        let file = try write(TestPNG.make(width: 2, height: 1, bitDepth: 8, colourType: 2, rows: [row],
                                          before: [gamma, chrm]), "linear.png")
        XCTAssertEqual(try ImageIO.read(path: file).pixels, row)
        let srgb = try write(TestPNG.make(width: 2, height: 1, bitDepth: 8, colourType: 2, rows: [row],
                                          before: [TestPNG.chunk("sRGB", [0])]), "srgb.png")
        XCTAssertEqual(try ImageIO.read(path: srgb).pixels, row)
    }

    func testSixteenBitPNGsAreScaledTo8Bits() throws {
        // Values chosen around rounding boundaries of v * 255 / 65535.
        let values: [UInt16] = [0, 1, 128, 129, 257, 385, 386, 32767, 32768, 32896, 65150, 65407, 65408, 65534, 65535]
        func expected(_ v: UInt16) -> UInt8 { UInt8((Double(v) * 255 / 65535).rounded()) }
        func be(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }
        let gamma = TestPNG.chunk("gAMA", TestPNG.bigEndian32(100_000))  // "linear": must be ignored

        // Grey, one value per pixel.
        let grey = try write(TestPNG.make(width: values.count, height: 1, bitDepth: 16, colourType: 0,
                                          rows: [values.flatMap(be)], before: [gamma]), "grey16.png")
        let greyImage = try ImageIO.read(path: grey)
        XCTAssertEqual(greyImage.channels, 1)
        XCTAssertEqual(greyImage.pixels, values.map(expected))

        // RGB without a gAMA chunk (libpng would otherwise take it as linear).
        let rgbValues = values + [100, 200, 300]  // 18 values: 6 pixels
        let rgb = try write(TestPNG.make(width: 6, height: 1, bitDepth: 16, colourType: 2,
                                         rows: [rgbValues.flatMap(be)]), "rgb16.png")
        XCTAssertEqual(try ImageIO.read(path: rgb).pixels, rgbValues.map(expected))

        // RGBA with partial alpha: straight alpha, not premultiplied.
        let rgbaValues: [UInt16] = [65535, 32768, 0, 32768, 1000, 2000, 3000, 0, 12345, 54321, 65535, 65535]
        let rgba = try write(TestPNG.make(width: 3, height: 1, bitDepth: 16, colourType: 6,
                                          rows: [rgbaValues.flatMap(be)], before: [gamma]), "rgba16.png")
        let rgbaImage = try ImageIO.read(path: rgba)
        XCTAssertEqual(rgbaImage.channels, 4)
        XCTAssertEqual(rgbaImage.pixels, rgbaValues.map(expected))

        // Grey + alpha -> RGBA.
        let gaValues: [UInt16] = [40000, 30000, 257, 65535]
        let ga = try write(TestPNG.make(width: 2, height: 1, bitDepth: 16, colourType: 4,
                                        rows: [gaValues.flatMap(be)]), "ga16.png")
        let g0 = expected(40000), a0 = expected(30000), g1 = expected(257)
        XCTAssertEqual(try ImageIO.read(path: ga).pixels, [g0, g0, g0, a0, g1, g1, g1, 255])
    }

    // MARK: - JPEG

    func testJPEGReadsRGBAndGrey() throws {
        let (w, h) = (48, 32)
        var pixels: [UInt8] = []
        for y in 0 ..< h { for x in 0 ..< w { pixels += [UInt8(x * 5), UInt8(y * 7), UInt8(128)] } }
        let rgb = try write(TestJPEG.encode(width: w, height: h, rgb: pixels), "smooth.jpg")
        let image = try ImageIO.read(path: rgb)
        XCTAssertEqual(image.width, w)
        XCTAssertEqual(image.height, h)
        XCTAssertEqual(image.channels, 3)
        let worst = zip(image.pixels, pixels).map { abs(Int($0) - Int($1)) }.max()!
        XCTAssertLessThanOrEqual(worst, 6, "quality-100 4:4:4 JPEG of a smooth ramp")
        XCTAssertTrue(try ImageIO.readSize(path: rgb) == (w, h))

        let grey = try write(TestJPEG.encode(width: w, height: h, grey: (0 ..< w * h).map { UInt8($0 % 200) }), "grey.jpg")
        let greyImage = try ImageIO.read(path: grey)
        XCTAssertEqual(greyImage.channels, 1)
        XCTAssertEqual(greyImage.pixels.count, w * h)
    }

    func testEXIFOrientationIsIgnoredWithAWarning() throws {
        let (w, h) = (24, 16)
        let jpeg = TestJPEG.encode(width: w, height: h, rgb: noise(w * h * 3, seed: 11))
        let plain = try ImageIO.decode(Data(jpeg), path: "plain.jpg")
        for (bigEndian, orientation) in [(false, 6), (true, 8), (false, 1)] {
            let file = try write(TestJPEG.withEXIF(jpeg, orientation: orientation, bigEndian: bigEndian),
                                 "exif-\(orientation).jpg")
            let (image, warnings) = try Diagnostics.collecting { try ImageIO.read(path: file) }
            XCTAssertEqual(image.pixels, plain.pixels, "not rotated")
            XCTAssertTrue(try ImageIO.readSize(path: file) == (w, h))
            if orientation == 1 {
                XCTAssertEqual(warnings, [])
            } else {
                XCTAssertEqual(warnings, ["\(file): EXIF orientation \(orientation) is ignored (as COLMAP does)"])
            }
        }
        XCTAssertEqual(Diagnostics.collecting { ImageIO.exifOrientation(jpeg: UnsafeRawBufferPointer(start: nil, count: 0)) }.0, nil)
    }

    func testRealSceneJPEG() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let file = root.appendingPathComponent("../shared/scenes/beer/images/0000.jpg").standardizedFileURL.path
        guard FileManager.default.fileExists(atPath: file) else {
            let message = "\(file) is absent (the shared/ folder beside the repository): real-JPEG test not run"
            if ProcessInfo.processInfo.environment["CI"] == "true" {
                XCTFail(message + "; CI must have it")
                return
            }
            throw XCTSkip(message)
        }
        let image = try ImageIO.read(path: file)
        XCTAssertEqual(image.width, 720)
        XCTAssertEqual(image.height, 1280)
        XCTAssertEqual(image.channels, 3)
        XCTAssertTrue(try ImageIO.readSize(path: file) == (720, 1280))
        let mean = Double(image.pixels.reduce(0) { $0 + Int($1) }) / Double(image.pixels.count)
        XCTAssertGreaterThan(mean, 10)
        XCTAssertLessThan(mean, 245)
        XCTAssertGreaterThan(Set(image.pixels).count, 100)
        let half = image.downscaled(by: 2)
        XCTAssertEqual(half.width, 360)
        XCTAssertEqual(half.height, 640)
    }

    // MARK: - Bad input

    func testMissingFileAndFolder() {
        let missing = path("no-such-image.png")
        assertDatasetError(missing, "no such file") { try ImageIO.read(path: missing) }
        assertDatasetError(missing, "no such file") { try ImageIO.readSize(path: missing) }
        let dir = folder.path
        assertDatasetError(dir, "folder") { try ImageIO.read(path: dir) }
        assertDatasetError(dir, "folder") { try ImageIO.readSize(path: dir) }
    }

    func testEmptyFile() throws {
        let file = try write([], "empty.png")
        assertDatasetError(file, "empty file") { try ImageIO.read(path: file) }
        assertDatasetError(file, "empty file") { try ImageIO.readSize(path: file) }
    }

    func testFilesThatAreNotImages() throws {
        let text = try write(Array("# COLMAP cameras.txt\n1 PINHOLE 640 480 500 500 320 240\n".utf8), "cameras.png")
        let random = try write(noise(4096, seed: 3), "random.jpg")
        for file in [text, random] {
            assertDatasetError(file, "not a PNG or JPEG image") { try ImageIO.read(path: file) }
            assertDatasetError(file, "not a PNG or JPEG image") { try ImageIO.readSize(path: file) }
        }
        // The right signature followed by garbage.
        let fakePNG = try write(ImageIO.pngSignature + noise(200, seed: 4), "fake.png")
        assertDatasetError(fakePNG, "PNG") { try ImageIO.read(path: fakePNG) }
        let fakeJPEG = try write([0xFF, 0xD8, 0xFF] + noise(200, seed: 5), "fake.jpg")
        assertDatasetError(fakeJPEG, "JPEG") { try ImageIO.read(path: fakeJPEG) }
    }

    func testTruncatedPNGs() throws {
        let image = Image8(width: 40, height: 30, channels: 3, pixels: noise(40 * 30 * 3, seed: 9))
        let bytes = [UInt8](try ImageIO.encodePNG(image, path: "x.png"))
        let iend = bytes.count - 12  // the IEND chunk is the last 12 bytes
        let file = path("truncated.png")
        // Every cut, decoded from memory (what read(path:) does after reading the file).
        for length in 1 ..< bytes.count {
            let cut = Data(bytes[0 ..< length])
            if length < iend {
                // Image data missing: always an error naming the file.
                if length < 8 {
                    assertDatasetError(file, "not a PNG or JPEG image") { try ImageIO.decode(cut, path: file) }
                } else {
                    assertDatasetError(file, "PNG") { try ImageIO.decode(cut, path: file) }
                }
            } else if let read = try? ImageIO.decode(cut, path: file) {
                // Only (part of) IEND is missing: the pixels are all there.
                XCTAssertEqual(read, image)
            }
        }
        // Half a file, the usual case, with its message.
        try Data(bytes[0 ..< bytes.count / 2]).write(to: URL(fileURLWithPath: file))
        assertDatasetError(file, "invalid or truncated PNG") { try ImageIO.read(path: file) }
        // Size reading needs only the first 24 bytes.
        try Data(bytes[0 ..< 20]).write(to: URL(fileURLWithPath: file))
        assertDatasetError(file, "truncated PNG") { try ImageIO.readSize(path: file) }
    }

    func testTruncatedJPEGs() throws {
        let (w, h) = (40, 24)
        let bytes = TestJPEG.encode(width: w, height: h, rgb: noise(w * h * 3, seed: 10))
        let file = path("truncated.jpg")
        // Every cut, decoded from memory (what read(path:) does after reading the file).
        for length in 1 ..< bytes.count {
            let cut = Data(bytes[0 ..< length])
            let (result, _) = Diagnostics.collecting { Result { try ImageIO.decode(cut, path: file) } }
            switch result {
            case .success:
                XCTFail("\(file) truncated to \(length) of \(bytes.count) bytes was read without error")
            case .failure(let error as DatasetError):
                XCTAssertEqual(error.path, file)
                if length < 3 {
                    XCTAssertTrue(error.problem.contains("not a PNG or JPEG image"), error.problem)
                } else {
                    XCTAssertTrue(error.problem.contains("JPEG"), error.problem)
                }
            case .failure(let error):
                XCTFail("not a DatasetError: \(error)")
            }
        }
        // Cut in the middle of the image data: "truncated".
        try Data(bytes[0 ..< bytes.count * 3 / 4]).write(to: URL(fileURLWithPath: file))
        assertDatasetError(file, "truncated JPEG") { try ImageIO.read(path: file) }
        // Cut before the frame header: readSize says so.
        try Data(bytes[0 ..< 30]).write(to: URL(fileURLWithPath: file))
        assertDatasetError(file, "JPEG") { try ImageIO.readSize(path: file) }
    }
}

// MARK: - Test files

/// Builds PNG files by hand (zlib stored blocks), for bit depths, colour
/// types and chunks the 8-bit writer does not make.
enum TestPNG {
    static func bigEndian32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    static let crcTable: [UInt32] = (0 ..< 256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0 ..< 8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return bigEndian32(UInt32(data.count)) + body + bigEndian32(crc32(body))
    }

    /// A zlib stream of stored (uncompressed) blocks.
    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var i = 0
        repeat {
            let n = min(65535, data.count - i)
            let last: UInt8 = i + n == data.count ? 1 : 0
            out += [last, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[i ..< i + n]
            i += n
        } while i < data.count
        var a: UInt32 = 1, b: UInt32 = 0
        for v in data { a = (a + UInt32(v)) % 65521; b = (b + a) % 65521 }
        return out + bigEndian32(b << 16 | a)
    }

    /// `rows` are the packed scanlines without filter bytes.
    static func make(width: Int, height: Int? = nil, bitDepth: UInt8, colourType: UInt8,
                     rows: [[UInt8]], before: [[UInt8]] = []) -> [UInt8] {
        let ihdr = bigEndian32(UInt32(width)) + bigEndian32(UInt32(height ?? rows.count)) + [bitDepth, colourType, 0, 0, 0]
        let raw: [UInt8] = rows.flatMap { row -> [UInt8] in [0] + row }
        var file = ImageIO.pngSignature + chunk("IHDR", ihdr)
        for extra in before { file += extra }
        return file + chunk("IDAT", zlibStored(raw)) + chunk("IEND", [])
    }
}

/// JPEG files made with TurboJPEG's compressor (quality 100, no subsampling).
enum TestJPEG {
    static func encode(width: Int, height: Int, rgb: [UInt8]) -> [UInt8] {
        compress(width, height, rgb, pixelFormat: Int32(TJPF_RGB.rawValue), subsampling: Int32(TJSAMP_444.rawValue))
    }

    static func encode(width: Int, height: Int, grey: [UInt8]) -> [UInt8] {
        compress(width, height, grey, pixelFormat: Int32(TJPF_GRAY.rawValue), subsampling: Int32(TJSAMP_GRAY.rawValue))
    }

    private static func compress(_ width: Int, _ height: Int, _ pixels: [UInt8],
                                 pixelFormat: Int32, subsampling: Int32) -> [UInt8] {
        let handle = tjInitCompress()!
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let status = pixels.withUnsafeBufferPointer { p in
            tjCompress2(handle, p.baseAddress, Int32(width), 0, Int32(height), pixelFormat,
                        &buffer, &size, subsampling, 100, 0)
        }
        precondition(status == 0, String(cString: tjGetErrorStr2(handle)))
        defer { tjFree(buffer) }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
    }

    /// `jpeg` with an APP1 Exif segment (IFD0 holding only Orientation) after SOI.
    static func withEXIF(_ jpeg: [UInt8], orientation: Int, bigEndian: Bool) -> [UInt8] {
        func u16(_ v: Int) -> [UInt8] { bigEndian ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func u32(_ v: Int) -> [UInt8] { bigEndian ? u16(v >> 16) + u16(v & 0xFFFF) : u16(v & 0xFFFF) + u16(v >> 16) }
        let tiff = (bigEndian ? [0x4D, 0x4D] : [0x49, 0x49]) + u16(42) + u32(8)
            + u16(1) + u16(0x0112) + u16(3) + u32(1) + u16(orientation) + u16(0) + u32(0)
        let payload = Array("Exif".utf8) + [0, 0] + tiff
        let length = payload.count + 2
        let segment: [UInt8] = [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload
        return Array(jpeg[0 ..< 2]) + segment + Array(jpeg[2...])
    }
}
