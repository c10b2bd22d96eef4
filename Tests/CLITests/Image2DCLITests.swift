import Datasets
import Foundation
import XCTest

/// 2D image Gaussians as a user meets them: `splat fit` writes a model that
/// `splat render --scale` and `--width/--height` draw at any size and
/// `splat info` describes; bad inputs are one-line errors.
final class Image2DCLITests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "splat-image2d-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testFitRenderInfoAndBadInput() throws {
        // A 48x32 RGBA image: a ramp, a disc, alpha 255 except one corner.
        var pixels: [UInt8] = []
        for y in 0..<32 { for x in 0..<48 {
            let disc = (x - 30) * (x - 30) + (y - 14) * (y - 14) < 64
            pixels += [UInt8(x * 5), UInt8(y * 7), disc ? 230 : 40, x < 4 && y < 4 ? 0 : 255]
        } }
        let image = folder + "/card.png"
        try ImageIO.writePNG(Image8(width: 48, height: 32, channels: 4, pixels: pixels), to: image)
        let out = folder + "/fit"
        let fitted = try SplatProcess.run(["fit", image, "--gaussians", "600", "--iterations", "150", "--out", out, "--json"])
        XCTAssertEqual(fitted.status, 0, fitted.stderr)
        let metrics = try SplatProcess.json(fitted.stdout)
        XCTAssertGreaterThan(try XCTUnwrap(metrics["psnr"] as? Double), 25)
        XCTAssertEqual(try ImageIO.read(path: out + "/render.png").width, 48)

        let scaled = try SplatProcess.run(["render", out, "--scale", "2.5", "--out", folder + "/x2.5"])
        XCTAssertEqual(scaled.status, 0, scaled.stderr)
        let big = try ImageIO.read(path: folder + "/x2.5/00000.png")
        XCTAssertEqual([big.width, big.height], [120, 80])
        let sized = try SplatProcess.run(["render", out, "--width", "24", "--height", "16", "--out", folder + "/half"])
        XCTAssertEqual(sized.status, 0, sized.stderr)
        XCTAssertEqual(try ImageIO.read(path: folder + "/half/00000.png").width, 24)
        let info = try SplatProcess.run(["info", out + "/model.ply"])
        XCTAssertTrue(info.stdout.contains("2D image Gaussians") && info.stdout.contains("600"), info.stdout)

        // Grey 16-bit input: fitted as RGB.
        let grey = folder + "/grey16.png"
        let samples: [UInt16] = (0..<(40 * 24)).map { (p: Int) -> UInt16 in UInt16((p % 40) * 1500 + (p / 40) * 200) }
        try ImageIO.writePNG16(gray: samples, width: 40, height: 24, to: grey)
        let greyFit = try SplatProcess.run(["fit", grey, "--gaussians", "300", "--iterations", "60", "--out", folder + "/grey", "--json"])
        XCTAssertEqual(greyFit.status, 0, greyFit.stderr)
        XCTAssertGreaterThan(try XCTUnwrap(try SplatProcess.json(greyFit.stdout)["psnr"] as? Double), 20)

        // Bad input: not an image, a scale below the range, --scale for a 3D model, cameras for a 2D one.
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: folder + "/text.png"))
        let notImage = try SplatProcess.run(["fit", folder + "/text.png", "--out", folder + "/bad"])
        XCTAssertEqual(notImage.status, 1)
        XCTAssertTrue(notImage.stderr.contains("text.png") && notImage.stderr.contains("not a PNG or JPEG"), notImage.stderr)
        for bad in ["0", "nan", "-2"] {
            let result = try SplatProcess.run(["render", out, "--scale", bad, "--out", folder + "/s"])
            XCTAssertEqual(result.status, 1, bad)
            XCTAssertTrue(result.stderr.contains("--scale"), result.stderr)
        }
        let threeD = folder + "/tiny.ply"
        try GaussianPLY.write(SplatProcess.tinyModel(), to: threeD)
        let scale3D = try SplatProcess.run(["render", threeD, "--scale", "2", "--out", folder + "/t"])
        XCTAssertEqual(scale3D.status, 1)
        XCTAssertTrue(scale3D.stderr.contains("2D image models"), scale3D.stderr)
        let orbit2D = try SplatProcess.run(["render", out, "--orbit", "2", "--out", folder + "/o"])
        XCTAssertEqual(orbit2D.status, 1)
        XCTAssertTrue(orbit2D.stderr.contains("renders at a scale"), orbit2D.stderr)
    }

    /// Upscaling an image of known continuous content (sinusoids and a soft
    /// disc, sampled at pixel centres) beats Pillow's bicubic on it.
    func testUpscaleBeatsBicubicOnContinuousContent() throws {
        let size = 96
        var pixels: [UInt8] = []
        for y in 0..<size { for x in 0..<size {
            let u = (Double(x) + 0.5) / Double(size), v = (Double(y) + 0.5) / Double(size)
            let disc = 1 / (1 + exp(((u - 0.55) * (u - 0.55) + (v - 0.45) * (v - 0.45) - 0.06) * 2000))
            let r = 0.5 + 0.3 * sin(45 * u + 20 * v) + 0.15 * disc
            let g = 0.45 + 0.25 * cos(50 * v - 15 * u) - 0.2 * disc
            let b = 0.5 + 0.2 * sin(35 * (u + v)) + 0.25 * disc
            pixels += [r, g, b].map { UInt8(max(0, min(255, ($0 * 255).rounded()))) }
        } }
        let hr = Image8(width: size, height: size, channels: 3, pixels: pixels)
        let lr = BicubicResize.resize(hr, width: size / 2, height: size / 2)
        try ImageIO.writePNG(lr, to: folder + "/lr.png")
        let result = try SplatProcess.run(["upscale", folder + "/lr.png", "--scale", "2", "--iterations", "300", "--out", folder + "/sr.png"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let sr = try ImageIO.read(path: folder + "/sr.png")
        let bicubic = BicubicResize.resize(lr, width: size, height: size)
        let ours = SuperResolutionMetrics.psnr(sr, hr, border: 2), theirs = SuperResolutionMetrics.psnr(bicubic, hr, border: 2)
        XCTAssertGreaterThan(ours, theirs, "splat \(ours) dB, bicubic \(theirs) dB")
        print("upscale x2 on continuous content: splat \(ours) dB, bicubic \(theirs) dB")

        let bad = try SplatProcess.run(["upscale", folder + "/lr.png", "--scale", "0.5", "--out", folder + "/x.png"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("--scale"), bad.stderr)
    }

    func testBenchImage() throws {
        let result = try SplatProcess.run(["bench", "image", "--gaussians", "300", "--width", "64", "--height", "48", "--repeat", "2",
                                           "--steps", "3", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let report = try SplatProcess.json(result.stdout)
        XCTAssertEqual(report["verified"] as? Bool, true, result.stdout)
        for key in ["ms", "fps", "baseline_ms", "speedup", "fit_iterations_per_second"] { XCTAssertNotNil(report[key] as? Double, key) }
    }
}
