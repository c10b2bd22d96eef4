import Datasets
import Foundation
import XCTest

/// `splat render` and `splat bench render`, run as a user runs them.
final class RenderCLITests: XCTestCase {
    private var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "splat-render-cli-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    private static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    private var demo: String { "\(Self.repository)/Scenes/demo" }

    private func runSplat(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        try SplatProcess.run(arguments, environment: environment)
    }

    private func parseJSON(_ text: String) throws -> [String: Any] { try SplatProcess.json(text) }

    private func tinyModel(count: Int = 50) -> GaussianModel { SplatProcess.tinyModel(count: count) }

    /// A training output folder: point_cloud.ply and, when given, model.json.
    private func modelFolder(_ model: GaussianModel, modelJSON: String? = nil) throws -> String {
        let path = "\(folder!)/model-\(UUID().uuidString)"
        try GaussianPLY.write(model, to: "\(path)/point_cloud.ply")
        if let modelJSON { try Data(modelJSON.utf8).write(to: URL(fileURLWithPath: "\(path)/model.json")) }
        return path
    }

    private func pngs(in dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir)
            .filter { $0.hasSuffix(".png") && !$0.hasSuffix("_depth.png") }.sorted()
    }

    func testRendersTheDemoSceneTestCameras() throws {
        let model = try modelFolder(tinyModel())
        let out = "\(folder!)/renders"
        let result = try runSplat(["render", model, "--cameras", demo, "--split", "test", "--out", out])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout, "", "render prints nothing on stdout")
        let files = try pngs(in: out)
        XCTAssertEqual(files, (0..<8).map { String(format: "%05d.png", $0) })
        let scene = try SceneLoader.load(demo)
        let test = scene.testFrames
        var covered = 0
        for (file, frame) in zip(files, test) {
            let image = try ImageIO.read(path: "\(out)/\(file)")
            let truth = try ImageIO.readSize(path: frame.imagePath)
            XCTAssertEqual(image.width, truth.width)
            XCTAssertEqual(image.height, truth.height)
            XCTAssertEqual(image.channels, 3)
            covered += image.pixels.contains { $0 != 0 } ? 1 : 0
        }
        XCTAssertEqual(covered, 8, "every test view sees the Gaussians at the origin")
        let cameras = try CamerasJSON.read("\(out)/cameras.json")
        XCTAssertEqual(cameras.map(\.name), test.map(\.name))
        XCTAssertTrue(cameras.allSatisfy { $0.split == .test })
        // No temporary files left behind.
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: out).contains { $0.hasPrefix(".") })
    }

    func testDownscaleAlphaAndDepth() throws {
        let model = "\(folder!)/tiny.ply"
        try GaussianPLY.write(tinyModel(), to: model)
        let out = "\(folder!)/renders"
        let result = try runSplat(["render", model, "--cameras", "\(demo)/transforms_test.json", "--downscale", "2",
                                   "--out", out, "--alpha", "--depth"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let files = try pngs(in: out)
        XCTAssertEqual(files.count, 8)
        for index in 0..<files.count {
            let stem = String(format: "%@/%05d", out, index)
            let image = try ImageIO.read(path: stem + ".png")
            XCTAssertEqual([image.width, image.height, image.channels], [32, 32, 4])
            let alphas = (0..<(32 * 32)).map { image.pixels[$0 * 4 + 3] }
            XCTAssertTrue(alphas.contains { $0 > 0 } && alphas.contains(0), "alpha covers part of the frame")
            // Straight alpha over a black background: transparent pixels have no colour.
            for i in 0..<(32 * 32) where alphas[i] == 0 {
                XCTAssertEqual(Array(image.pixels[i * 4 ..< i * 4 + 3]), [0, 0, 0])
            }

            let npy = [UInt8](try Data(contentsOf: URL(fileURLWithPath: stem + "_depth.npy")))
            XCTAssertEqual(Array(npy[0..<8]), [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
            let headerLength = Int(npy[8]) | Int(npy[9]) << 8
            let header = String(decoding: npy[10..<(10 + headerLength)], as: UTF8.self)
            XCTAssertTrue(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (32, 32), }"), header)
            XCTAssertEqual(npy.count, 10 + headerLength + 32 * 32 * 4)
            let depths = (0..<(32 * 32)).map { i -> Float in
                let b = npy[(10 + headerLength + i * 4)...].prefix(4).map(UInt32.init)
                return Float(bitPattern: b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24)
            }
            // The demo cameras are about 4 units from the origin.
            let covered = depths.indices.filter { alphas[$0] > 0 && depths[$0] > 0 }
            XCTAssertFalse(covered.isEmpty)
            for i in covered { XCTAssertTrue((2...6).contains(depths[i]), "depth \(depths[i])") }

            let depthPNG = try ImageIO.read(path: stem + "_depth.png")
            XCTAssertEqual([depthPNG.width, depthPNG.height, depthPNG.channels], [32, 32, 1])
        }
    }

    func testStraightAlphaDoesNotDependOnTheBackground() throws {
        let model = "\(folder!)/tiny.ply"
        try GaussianPLY.write(tinyModel(), to: model)
        var images: [Image8] = []
        for background in ["black", "white"] {
            let out = "\(folder!)/\(background)"
            let result = try runSplat(["render", model, "--cameras", demo, "--split", "test", "--out", out,
                                       "--alpha", "--background", background])
            XCTAssertEqual(result.status, 0, result.stderr)
            images.append(try ImageIO.read(path: "\(out)/00003.png"))
        }
        let (black, white) = (images[0], images[1])
        XCTAssertEqual(black.pixels.count, white.pixels.count)
        var compared = 0
        for i in 0..<(black.width * black.height) {
            XCTAssertEqual(black.pixels[i * 4 + 3], white.pixels[i * 4 + 3], "alpha at pixel \(i)")
            guard black.pixels[i * 4 + 3] >= 32 else { continue }
            compared += 1
            for c in 0..<3 {
                XCTAssertLessThanOrEqual(abs(Int(black.pixels[i * 4 + c]) - Int(white.pixels[i * 4 + c])), 2, "pixel \(i)")
            }
        }
        XCTAssertGreaterThan(compared, 100)
    }

    func testOrbit() throws {
        let model = try modelFolder(tinyModel())
        let out = "\(folder!)/orbit"
        let result = try runSplat(["render", model, "--orbit", "3", "--width", "64", "--height", "48", "--out", out])
        XCTAssertEqual(result.status, 0, result.stderr)
        let files = try pngs(in: out)
        XCTAssertEqual(files, ["00000.png", "00001.png", "00002.png"])
        for file in files {
            let image = try ImageIO.read(path: "\(out)/\(file)")
            XCTAssertEqual([image.width, image.height, image.channels], [64, 48, 3])
            XCTAssertTrue(image.pixels.contains { $0 != 0 }, "the orbit looks at the model")
        }
        let cameras = try CamerasJSON.read("\(out)/cameras.json")
        XCTAssertEqual(cameras.count, 3)
        XCTAssertEqual(cameras[0].width, 64)
        XCTAssertEqual(cameras[0].fx, 32 / tan(25 * Double.pi / 180), accuracy: 1e-9)
    }

    func testOrbitUsesTheTrainingCameras() throws {
        // cameras.json in the model folder: the orbit takes its radius and height.
        let model = try modelFolder(tinyModel())
        let scene = try SceneLoader.load(demo)
        let entries = try CameraPaths.cameras(of: scene, split: .train).enumerated().map { i, c in
            CameraEntry(id: i, name: c.name, intrinsics: c.intrinsics, pose: c.pose, split: .train)
        }
        try CamerasJSON.write(entries, to: "\(model)/cameras.json")
        let out = "\(folder!)/orbit"
        let result = try runSplat(["render", model, "--orbit", "4", "--width", "40", "--height", "30", "--out", out])
        XCTAssertEqual(result.status, 0, result.stderr)
        let rendered = try CamerasJSON.read("\(out)/cameras.json")
        XCTAssertEqual(rendered.count, 4)
        let trainingDistance = entries.map { $0.pose.position.length }.reduce(0, +) / Double(entries.count)
        for camera in rendered {
            XCTAssertEqual(camera.pose.position.length, trainingDistance, accuracy: 0.3)
        }
    }

    func testEmptyModelRendersTheBackground() throws {
        let model = try modelFolder(GaussianModel(count: 0, shDegree: 0), modelJSON: #"{"kind": "gaussians", "background": "white"}"#)
        let out = "\(folder!)/empty"
        let result = try runSplat(["render", model, "--orbit", "2", "--width", "24", "--height", "16", "--out", out])
        XCTAssertEqual(result.status, 0, result.stderr)
        for file in try pngs(in: out) {
            let image = try ImageIO.read(path: "\(out)/\(file)")
            XCTAssertTrue(image.pixels.allSatisfy { $0 == 255 }, "white background from model.json")
        }
        // --background overrides model.json.
        let black = try runSplat(["render", model, "--orbit", "1", "--width", "8", "--height", "8", "--out", out, "--background", "black"])
        XCTAssertEqual(black.status, 0, black.stderr)
        XCTAssertTrue(try ImageIO.read(path: "\(out)/00000.png").pixels.allSatisfy { $0 == 0 })
    }

    func testUnwritableOutputFolderIsAUserError() throws {
        let model = "\(folder!)/tiny.ply"
        try GaussianPLY.write(tinyModel(), to: model)
        let file = "\(folder!)/a-file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let out = "\(file)/renders"
        let result = try runSplat(["render", model, "--orbit", "2", "--width", "16", "--height", "16", "--out", out])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains(out), result.stderr)
        XCTAssertFalse(result.stderr.contains("Gaussians from"), "nothing was rendered: \(result.stderr)")
    }

    func testBadInputIsAUserError() throws {
        let missing = try runSplat(["render", "\(folder!)/nothing.ply", "--orbit", "1", "--out", "\(folder!)/o"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("nothing.ply"), missing.stderr)
        let both = try runSplat(["render", "\(folder!)/nothing.ply", "--orbit", "1", "--cameras", demo, "--out", "\(folder!)/o"])
        XCTAssertEqual(both.status, 1)
        XCTAssertTrue(both.stderr.contains("--cameras"), both.stderr)
    }

    func testVideo() throws {
        let model = "\(folder!)/tiny.ply"
        try GaussianPLY.write(tinyModel(), to: model)
        // Without ffmpeg on PATH: a clear message before anything renders.
        let empty = "\(folder!)/empty-bin"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let out = "\(folder!)/video-frames"
        let missing = try runSplat(["render", model, "--orbit", "2", "--width", "16", "--height", "12", "--out", out,
                                    "--video", "\(folder!)/orbit.mp4"], environment: ["PATH": empty])
        XCTAssertEqual(missing.status, 1, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("ffmpeg"), missing.stderr)
        XCTAssertTrue(try pngs(in: out).isEmpty)

        // A stand-in ffmpeg that stores the raw frames it is given in the output file.
        let bin = "\(folder!)/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let fake = "#!/bin/sh\nfor last; do :; done\necho \"$@\" > \"\(folder!)/ffmpeg-args\"\ncat > \"$last\"\n"
        try Data(fake.utf8).write(to: URL(fileURLWithPath: "\(bin)/ffmpeg"))
        chmod("\(bin)/ffmpeg", 0o755)
        let result = try runSplat(["render", model, "--orbit", "3", "--width", "16", "--height", "12", "--out", out,
                                   "--video", "\(folder!)/orbit.mp4"], environment: ["PATH": "\(bin):/usr/bin:/bin"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let video = try Data(contentsOf: URL(fileURLWithPath: "\(folder!)/orbit.mp4"))
        XCTAssertEqual(video.count, 3 * 16 * 12 * 3, "three raw RGB frames")
        let firstFrame = try ImageIO.read(path: "\(out)/00000.png")
        XCTAssertEqual([UInt8](video.prefix(16 * 12 * 3)), firstFrame.pixels)
        let arguments = try String(contentsOfFile: "\(folder!)/ffmpeg-args", encoding: .utf8)
        XCTAssertTrue(arguments.contains("-f rawvideo -pix_fmt rgb24 -s 16x12 -r 30 -i -"), arguments)
        XCTAssertTrue(arguments.contains("-pix_fmt yuv420p"), arguments)
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: folder).contains { $0.hasSuffix(".tmp.mp4") })
    }

    func testBenchRenderJSON() throws {
        let result = try runSplat(["bench", "render", "--count", "2000", "--width", "128", "--height", "96", "--repeat", "2", "--json"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let object = try parseJSON(result.stdout)
        for key in ["device", "gaussians", "width", "height", "ms", "fps", "stages_ms", "intersections", "tiles_per_gaussian",
                    "gaussians_per_pixel", "baseline", "baseline_ms", "speedup", "max_abs_error"] {
            XCTAssertNotNil(object[key], "missing \(key)")
        }
        XCTAssertEqual(object["baseline"] as? String, "swift-tiled-reference")
        XCTAssertEqual(object["gaussians"] as? Int, 2000)
        XCTAssertEqual(object["width"] as? Int, 128)
        XCTAssertEqual(object["height"] as? Int, 96)
        let stages = try XCTUnwrap(object["stages_ms"] as? [String: Double])
        for stage in ["prepare", "bin", "sort", "blend"] { XCTAssertNotNil(stages[stage], "missing stage \(stage)") }
        XCTAssertGreaterThan(object["intersections"] as? Int ?? 0, 0)
        XCTAssertLessThan(object["max_abs_error"] as? Double ?? 1, 0.02)
        XCTAssertEqual(object["verified"] as? Bool, true)
    }

    /// A payload render (dense and sparse channels, additive) against the RGB render of the same frame.
    func testBenchRenderPayloadJSON() throws {
        for options in [["--channels", "16"], ["--sparse", "4/64", "--blend", "additive"]] {
            let result = try runSplat(["bench", "render", "--count", "1000", "--width", "64", "--height", "48", "--repeat", "1", "--json"] + options)
            XCTAssertEqual(result.status, 0, result.stderr)
            let object = try parseJSON(result.stdout)
            XCTAssertEqual(object["baseline"] as? String, "rgb-render-same-model-and-camera", "\(options)")
            XCTAssertEqual(object["channels"] as? Int, options[0] == "--channels" ? 16 : 64)
            XCTAssertEqual(object["sparse_pairs"] as? Int, options[0] == "--sparse" ? 4 : 0)
            XCTAssertGreaterThan(object["ratio"] as? Double ?? 0, 0)
            XCTAssertEqual(object["verified"] as? Bool, true)
        }
    }

    func testWriteSyntheticModel() throws {
        let path = "\(folder!)/synthetic.ply"
        let result = try runSplat(["bench", "render", "--write-model", path, "--count", "300"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let model = try GaussianPLY.read(path: path)
        XCTAssertEqual(model.count, 300)
        XCTAssertEqual(model.shDegree, 3)
    }
}
