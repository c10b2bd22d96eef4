import Geometry
import XCTest

final class GeometryTests: XCTestCase {
    func testQuaternionMatrixRoundTrip() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let q = Quaternion(w: .random(in: -1...1, using: &rng), x: .random(in: -1...1, using: &rng),
                               y: .random(in: -1...1, using: &rng), z: .random(in: -1...1, using: &rng)).normalized
            let m = q.matrix
            XCTAssertEqual(m.determinant, 1, accuracy: 1e-12)
            let back = Quaternion(matrix: m)
            let sign: Double = q.w < 0 ? -1 : 1
            XCTAssertEqual(back.w, sign * q.w, accuracy: 1e-9)
            XCTAssertEqual(back.x, sign * q.x, accuracy: 1e-9)
            XCTAssertEqual(back.y, sign * q.y, accuracy: 1e-9)
            XCTAssertEqual(back.z, sign * q.z, accuracy: 1e-9)
        }
    }

    func testPoseFromOpenGLCameraToWorld() {
        // instant-ngp/NeRF camera at (0, -4, 0) looking at the origin, z up.
        let back = Vector3(0, -1, 0), right = Vector3(1, 0, 0), up = Vector3(0, 0, 1)
        let pose = Pose(cameraToWorldOpenGL: Matrix3(columns: [right, up, back]), position: Vector3(0, -4, 0))
        XCTAssertEqual(pose.position, Vector3(0, -4, 0))
        XCTAssertEqual(pose.forward, Vector3(0, 1, 0))
        XCTAssertEqual(pose.up, up)
        // The origin is straight ahead at depth 4.
        XCTAssertEqual(pose.rotation * Vector3.zero + pose.translation, Vector3(0, 0, 4))
    }

    func testDistortionInverts() {
        let models: [Distortion] = [
            .opencv(k1: -0.1, k2: 0.02, k3: 0, p1: 0.001, p2: -0.002),
            .opencv(k1: 0.05, k2: 0, k3: 0, p1: 0, p2: 0),
            .fisheye(k1: 0.05, k2: 0.01, k3: 0, k4: 0),
        ]
        for d in models {
            for (x, y) in [(0.0, 0.0), (0.3, -0.2), (-0.5, 0.4), (0.6, 0.6)] {
                let (xd, yd) = d.distort(x, y)
                let back = d.undistort(xd, yd)
                XCTAssertNotNil(back)
                XCTAssertEqual(back!.0, x, accuracy: 1e-9, "\(d)")
                XCTAssertEqual(back!.1, y, accuracy: 1e-9, "\(d)")
            }
        }
    }

    func testIntrinsicsScaling() {
        let i = Intrinsics(width: 1280, height: 720, fx: 1000, fy: 1001, cx: 640, cy: 360)
        let s = i.scaled(toWidth: 320, height: 180)
        XCTAssertEqual(s.fx, 250)
        XCTAssertEqual(s.cy, 90)
    }
}
