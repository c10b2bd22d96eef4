@testable import Datasets
import Foundation
import Geometry
import XCTest

final class CameraTests: TemporaryFolderTestCase {
    func testUndistortionPlanCropsToValidPixels() throws {
        let source = Intrinsics(width: 200, height: 100, fx: 120, fy: 120, cx: 100, cy: 50)
        for d in [Distortion.opencv(k1: -0.2, k2: 0.05, k3: 0, p1: 0.001, p2: 0), .opencv(k1: 0.1, k2: 0, k3: 0, p1: 0, p2: 0)] {
            let plan = try UndistortionPlan(source: source, distortion: d)
            XCTAssertEqual(plan.target.fx, source.fx)
            // Every corner of the target maps inside the source image.
            let t = plan.target
            for (u, v) in [(0.5, 0.5), (Double(t.width) - 0.5, 0.5), (0.5, Double(t.height) - 0.5), (Double(t.width) - 0.5, Double(t.height) - 0.5)] {
                let (xd, yd) = d.distort((u - t.cx) / t.fx, (v - t.cy) / t.fy)
                let su = source.fx * xd + source.cx, sv = source.fy * yd + source.cy
                XCTAssertTrue(su >= 0 && su <= 200 && sv >= 0 && sv <= 100, "\(d): (\(u), \(v)) -> (\(su), \(sv))")
            }
        }
    }

    func testUndistortionOfAKnownPattern() throws {
        // A source image rendered through the distortion from a smooth
        // undistorted pattern: undistorting it gives the pattern back.
        let source = Intrinsics(width: 160, height: 120, fx: 100, fy: 100, cx: 80, cy: 60)
        let d = Distortion.opencv(k1: -0.08, k2: 0, k3: 0, p1: 0, p2: 0)
        let pattern = { (x: Double, y: Double) -> Double in 128 + 100 * sin(3 * x) * cos(2 * y) }
        var pixels = [UInt8](repeating: 0, count: 160 * 120)
        for j in 0..<120 {
            for i in 0..<160 {
                let xd = (Double(i) + 0.5 - 80) / 100, yd = (Double(j) + 0.5 - 60) / 100
                let (x, y) = d.undistort(xd, yd)!
                pixels[j * 160 + i] = UInt8(pattern(x, y).rounded())
            }
        }
        let plan = try UndistortionPlan(source: source, distortion: d)
        let out = plan.apply(Image8(width: 160, height: 120, channels: 1, pixels: pixels))
        var worst = 0.0
        for j in 0..<out.height {
            for i in 0..<out.width {
                let x = (Double(i) + 0.5 - plan.target.cx) / plan.target.fx, y = (Double(j) + 0.5 - plan.target.cy) / plan.target.fy
                worst = max(worst, abs(Double(out.pixels[j * out.width + i]) - pattern(x, y)))
            }
        }
        XCTAssertLessThan(worst, 6, "largest deviation from the undistorted pattern")
    }

    func testCamerasJSONRoundTrip() throws {
        let pose = Pose(rotation: Quaternion(w: 0.9, x: 0.1, y: -0.3, z: 0.2).matrix, translation: Vector3(1, 2, 3))
        let entry = CameraEntry(id: 0, name: "images/a.png", intrinsics: Intrinsics(width: 64, height: 48, fx: 50, fy: 51, cx: 32, cy: 24),
                                pose: pose, split: .test)
        try CamerasJSON.write([entry], to: "\(folder!)/cameras.json")
        let back = try CamerasJSON.read("\(folder!)/cameras.json")
        XCTAssertEqual(back.count, 1)
        XCTAssertEqual(back[0].split, .test)
        XCTAssertEqual(back[0].intrinsics, entry.intrinsics)
        XCTAssertEqual((back[0].pose.translation - pose.translation).length, 0, accuracy: 1e-12)
        try write("[{\"id\": 1}]", "bad.json")
        XCTAssertTrue(errorText { _ = try CamerasJSON.read("\(folder!)/bad.json") }.contains("bad.json"))
    }

    func testOrbitLooksAtTheCentre() throws {
        let scene = try SceneLoader.load("\(Repository.root)/Scenes/demo")
        let intr = scene.frames[0].intrinsics
        let orbit = CameraPaths.orbit(count: 12, around: scene.trainFrames.map(\.pose), center: .zero, intrinsics: intr)
        XCTAssertEqual(orbit.count, 12)
        for c in orbit {
            XCTAssertEqual(c.pose.forward.dot((Vector3.zero - c.pose.position).normalized), 1, accuracy: 1e-9)
            XCTAssertEqual(c.pose.position.length, 4, accuracy: 1e-6)  // the demo cameras are 4 from the origin
            XCTAssertGreaterThan(c.pose.up.z, 0)  // mean camera up is +z
        }
    }

    func testSmoothPathPassesThroughCameras() throws {
        let scene = try SceneLoader.load("\(Repository.root)/Scenes/demo")
        let cameras = try CameraPaths.cameras(of: scene, split: .train)
        let path = CameraPaths.smooth(through: Array(cameras.prefix(4)), perSegment: 5)
        XCTAssertEqual(path.count, 16)
        for k in 0..<4 {
            XCTAssertEqual((path[k * 5].pose.position - cameras[k].pose.position).length, 0, accuracy: 1e-9)
        }
    }
}

final class SharedSceneTests: XCTestCase {
    func testFoxTransformsWithDistortion() throws {
        let path = try Repository.sharedScene("fox")
        let scene = try SceneLoader.load(path)
        XCTAssertEqual(scene.format, .transforms)
        XCTAssertEqual(scene.frames.count, 67)
        XCTAssertEqual(scene.ngp?.aabbScale, 4)
        XCTAssertNil(scene.points)
        XCTAssertTrue(scene.frames.allSatisfy { !$0.distortion.isNone })
        // Undistort and downscale two images.
        let cache = ImageCache(folder: NSTemporaryDirectory() + "splat-fox-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: cache.folder) }
        let (frames, _) = try SceneImages.load(Array(scene.frames.prefix(2)), root: scene.root, downscale: 8, cache: cache)
        XCTAssertEqual(frames[0].image.channels, 3)
        XCTAssertEqual(frames[0].image.width, frames[0].intrinsics.width)
        XCTAssertLessThan(frames[0].intrinsics.width, 1080 / 8 + 2)
    }

    func testBeerCOLMAPBinary() throws {
        let path = try Repository.sharedScene("beer")
        let scene = try SceneLoader.load(path, options: SceneOptions(eval: true))
        XCTAssertEqual(scene.format, .colmap)
        XCTAssertEqual(scene.frames.count, 71)
        XCTAssertEqual(scene.points?.count, 4414)
        XCTAssertEqual(Set(scene.frames.map(\.cameraModel)), ["SIMPLE_RADIAL"])
        XCTAssertEqual(scene.testFrames.count, 9)  // indices 0, 8, ..., 64
        let cache = ImageCache(folder: NSTemporaryDirectory() + "splat-beer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: cache.folder) }
        let (frames, _) = try SceneImages.load(Array(scene.frames.prefix(2)), root: scene.root, downscale: 4, cache: cache)
        XCTAssertEqual(frames.count, 2)
        XCTAssertEqual(frames[0].image.width, frames[0].intrinsics.width)
    }
}
