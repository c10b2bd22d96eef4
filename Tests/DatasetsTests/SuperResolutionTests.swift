import Datasets
import Foundation
import XCTest

/// Pillow-compatible bicubic resampling and the super-resolution metrics:
/// properties on synthetic images, and the shared Set5 figures (made with
/// Pillow) reproduced to the hundredth of a dB.
final class SuperResolutionTests: XCTestCase {
    func gradient(_ w: Int, _ h: Int, channels: Int = 3) -> Image8 {
        Image8(width: w, height: h, channels: channels, pixels: (0..<(w * h * channels)).map { i in
            let p = i / channels, c = i % channels
            return UInt8((p % w * 7 + p / w * 3 + c * 40) % 256)
        })
    }

    func testKernelAndWeights() {
        // Keys' kernel at a = -0.5: interpolating (1 at 0, 0 at the other integers).
        XCTAssertEqual(BicubicResize.kernel(0), 1)
        for x in [1.0, 2.0, -1.0, 2.5] { XCTAssertEqual(BicubicResize.kernel(x), 0, accuracy: 1e-15) }
        XCTAssertEqual(BicubicResize.kernel(0.5), 0.5625, accuracy: 1e-15)
        XCTAssertEqual(BicubicResize.kernel(1.5), -0.0625, accuracy: 1e-15)
        for (inSize, outSize) in [(10, 30), (30, 10), (7, 5), (5, 17)] {
            let w = BicubicResize.weights(inSize: inSize, outSize: outSize)
            for row in w.weights { XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-12) }
            // Shrinking widens the support with the factor (antialiasing).
            let widest = w.weights.map(\.count).max()!
            XCTAssertLessThanOrEqual(widest, 2 * Int(ceil(2 * max(1, Double(inSize) / Double(outSize)))) + 1)
        }
    }

    func testResizeProperties() {
        let flat = Image8(width: 9, height: 7, channels: 3, pixels: [UInt8](repeating: 77, count: 9 * 7 * 3))
        XCTAssertEqual(BicubicResize.resize(flat, width: 20, height: 15).pixels, [UInt8](repeating: 77, count: 20 * 15 * 3))
        XCTAssertEqual(BicubicResize.resize(flat, width: 4, height: 3).pixels, [UInt8](repeating: 77, count: 4 * 3 * 3))
        let g = gradient(12, 8, channels: 1)
        XCTAssertEqual(BicubicResize.resize(g, width: 12, height: 8), g)
        // Upscaling by 2 then sampling the output pixels whose centres fall on
        // input centres' midpoints stays near the input (interpolating kernel).
        let ramp: [UInt8] = (0..<256).map { (p: Int) -> UInt8 in UInt8((p % 16) * 8 + (p / 16) * 4) }
        let smooth = Image8(width: 16, height: 16, channels: 1, pixels: ramp)
        let big = BicubicResize.resize(smooth, width: 32, height: 32)
        let back = BicubicResize.resize(big, width: 16, height: 16)
        let worst = zip(back.pixels, smooth.pixels).map { abs(Int($0) - Int($1)) }.max()!
        XCTAssertLessThanOrEqual(worst, 2)
    }

    func testMetrics() {
        let a = Image8(width: 40, height: 30, channels: 3, pixels: gradient(40, 30).pixels.map { $0 % 200 })
        XCTAssertEqual(SuperResolutionMetrics.psnr(a, a, border: 2), .infinity)
        XCTAssertEqual(SuperResolutionMetrics.ssim(a, a, border: 2), 1, accuracy: 1e-12)
        // One level brighter in R, G and B: Y moves by 219 / 255.
        let b = Image8(width: 40, height: 30, channels: 3, pixels: a.pixels.map { $0 + 1 })
        XCTAssertEqual(SuperResolutionMetrics.psnr(b, a, border: 2), 20 * log10(255 / (219.0 / 255)), accuracy: 1e-9)
        XCTAssertLessThan(SuperResolutionMetrics.ssim(b, a, border: 2), 1)
        // Grey is R = G = B.
        let grey = gradient(20, 20, channels: 1)
        let rgb = Image8(width: 20, height: 20, channels: 3, pixels: grey.pixels.flatMap { [$0, $0, $0] })
        XCTAssertEqual(SuperResolutionMetrics.luma(grey), SuperResolutionMetrics.luma(rgb))
    }

    /// ../shared/images/README.md: Pillow's bicubic on Set5's LR images gives
    /// 28.40 dB at x4 (Y, border 4).
    func testSet5BicubicFigureIsReproduced() throws {
        let set = "\(Repository.shared)/images/sr/Set5"
        guard FileManager.default.fileExists(atPath: set) else {
            if ProcessInfo.processInfo.environment["CI"] == "true" { XCTFail("\(set) is missing: CI must have ../shared") }
            throw XCTSkip("\(set) is absent (a user's clone has no ../shared); this test needs it")
        }
        var sum = 0.0, count = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: set + "/HR").sorted() where name.hasSuffix(".png") {
            let hr = try ImageIO.read(path: "\(set)/HR/\(name)")
            let lr = try ImageIO.read(path: "\(set)/LR_bicubic/X4/\((name as NSString).deletingPathExtension)x4.png")
            // The LR image itself is Pillow's antialiased bicubic of the HR one.
            let made = BicubicResize.resize(hr, width: lr.width, height: lr.height)
            XCTAssertEqual(made.pixels, lr.pixels, name)
            sum += SuperResolutionMetrics.psnr(BicubicResize.resize(lr, width: hr.width, height: hr.height), hr, border: 4)
            count += 1
        }
        XCTAssertEqual(count, 5)
        XCTAssertEqual(sum / Double(count), 28.40, accuracy: 0.005)
    }
}
