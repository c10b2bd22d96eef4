import Datasets
import Foundation
import XCTest

/// NeuS (the fields engine's SDF field) through the commands a user runs, on
/// the shipped synthetic sphere (Scenes/sdf-sphere, NeuS/IDR layout with
/// masks and a scale_mat): train, info, eval, mesh with its Chamfer distance
/// to the analytic sphere, render --normals, resume, and bad input. A short
/// run keeps the suite fast; longer runs are in docs/neus.md.
final class NeusCLITests: XCTestCase {
    static var repository: String { CLITests.repository }

    func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) { try SplatProcess.run(arguments) }

    func json(_ path: String) throws -> [String: Any] {
        try SplatProcess.json(String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self))
    }

    func testTrainMeshRenderEvalAndResume() throws {
        let out = NSTemporaryDirectory() + "splat-neus-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let sphere = "\(Self.repository)/Scenes/sdf-sphere"
        let train = try run(["train", sphere, "--method", "neus", "--eval", "--iterations", "120", "--save-every", "60", "--out", out])
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stderr.contains("NeuS (SDF field)") && train.stderr.contains("masks for 32 of 32 images"), train.stderr)
        XCTAssertEqual(try json(out + "/model.json")["kind"] as? String, "neus")
        let metrics = try json(out + "/metrics.json")
        let masked = try XCTUnwrap(metrics["test_masked_psnr"] as? Double, "\(metrics)")
        XCTAssertGreaterThan(masked, 20, "masked test PSNR after 120 steps")

        // info: the SDF field and its sharpness.
        let info = try run(["info", out, "--json"])
        XCTAssertEqual(info.status, 0, info.stderr)
        let described = try SplatProcess.json(info.stdout)
        XCTAssertEqual(described["kind"] as? String, "neus")
        XCTAssertGreaterThan(described["inverse_scale"] as? Double ?? 0, 20, "inv_s grows from exp(3) as the surface sharpens")

        // eval: the masked PSNR training reported.
        let eval = try run(["eval", out, sphere, "--json"])
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertEqual(try SplatProcess.json(eval.stdout)["masked_psnr"] as? Double ?? 0, masked, accuracy: 0.01)

        // mesh: the zero level set in the world frame, with normals, near the analytic sphere.
        let mesh = try run(["mesh", out, "--resolution", "96", "--out", out + "/mesh.ply", "--reference", sphere + "/shape.json"])
        XCTAssertEqual(mesh.status, 0, mesh.stderr)
        let ply = try MeshPLY.read(out + "/mesh.ply")
        XCTAssertEqual(ply.normals.count, ply.positions.count)
        XCTAssertEqual(ply.colors.count, ply.positions.count)
        let shape = try AnalyticShape.read(sphere + "/shape.json")
        let chamfer = shape.chamfer(vertices: ply.positions)
        // The world frame (centre (0.3, -0.2, 0.1), radius 0.9): scale_mat applied.
        XCTAssertLessThan(chamfer.chamfer / shape.size, 0.03, "Chamfer \(chamfer) after 120 steps")
        XCTAssertTrue(mesh.stderr.contains("Chamfer distance"), mesh.stderr)
        // Normals point outwards (away from the centre) on a sphere.
        let outward = zip(ply.positions, ply.normals).filter { p, n in
            let q = SIMD3<Double>(Double(p.x) - 0.3, Double(p.y) + 0.2, Double(p.z) - 0.1)
            return (q * SIMD3<Double>(n)).sum() > 0
        }.count
        XCTAssertGreaterThan(Double(outward), 0.95 * Double(ply.positions.count))

        // A level the field never reaches: a clear error, no file.
        let none = try run(["mesh", out, "--resolution", "16", "--threshold", "10", "--out", out + "/none.ply"])
        XCTAssertEqual(none.status, 1)
        XCTAssertTrue(none.stderr.contains("never crosses 10"), none.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/none.ply"))

        // render --normals: a normal map; refused for models without an SDF.
        let normals = try run(["render", out, "--orbit", "1", "--width", "48", "--height", "48", "--normals", "--out", out + "/normals"])
        XCTAssertEqual(normals.status, 0, normals.stderr)
        let image = try ImageIO.read(path: out + "/normals/00000.png")
        // The sphere's centre pixel faces the camera: blue in the normal map.
        let centre = 3 * (24 * 48 + 24)
        XCTAssertGreaterThan(image.pixels[centre + 2], 200, "normal facing the camera")
        let refused = try run(["render", "\(Self.repository)/Scenes/toy/toy.ply", "--orbit", "1", "--normals", "--out", out + "/bad"])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("--normals needs a NeuS model"), refused.stderr)

        // The viewer's N key switches to normal shading (under Xvfb, as ViewCLITests).
        if let xvfb = ["/usr/bin/xvfb-run", "/usr/local/bin/xvfb-run"].first(where: FileManager.default.isExecutableFile) {
            let script = out + "/script.txt", shot = out + "/shot.png"
            try "key N\nwait 1\n".write(toFile: script, atomically: true, encoding: .utf8)
            let viewed = try SplatProcess.run(["view", out, "--width", "48", "--height", "48", "--exit-after", "3", "--input-script", script,
                                               "--screenshot", shot], environment: ["SPLAT_VALIDATION": "1"],
                                              launcher: [xvfb, "-a", "-s", "-screen 0 1024x768x24"])
            XCTAssertEqual(viewed.status, 0, viewed.stderr)
            XCTAssertFalse(viewed.stderr.contains("Vulkan validation"), viewed.stderr)
            XCTAssertTrue(viewed.stderr.contains("normals"), viewed.stderr)
        } else if ProcessInfo.processInfo.environment["CI"] == "true" {
            XCTFail("xvfb-run is missing; CI must install xvfb")
        }

        // resume from the checkpoint to more steps.
        let resumed = try run(["train", sphere, "--method", "neus", "--eval", "--iterations", "130", "--resume", out])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try json(out + "/metrics.json")["iterations"] as? Int, 130)
    }

    /// A mask of another size than its image: the error names the mask file.
    func testMaskOfAnotherSizeIsNamed() throws {
        let scene = NSTemporaryDirectory() + "splat-neus-scene-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: scene) }
        try FileManager.default.copyItem(atPath: "\(Self.repository)/Scenes/sdf-sphere", toPath: scene)
        try ImageIO.writePNG(Image8(width: 8, height: 8, channels: 1, filledWith: 255), to: scene + "/mask/003.png")
        let train = try run(["train", scene, "--method", "neus", "--iterations", "1", "--out", scene + "/out"])
        XCTAssertEqual(train.status, 1)
        XCTAssertTrue(train.stderr.contains("mask/003.png"), train.stderr)
    }
}
