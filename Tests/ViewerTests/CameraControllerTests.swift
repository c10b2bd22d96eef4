import Geometry
import XCTest
@testable import Viewer

final class CameraControllerTests: XCTestCase {
    let up = Vector3(0, 0, 1)

    func make() -> CameraController {
        CameraController(lookingAt: Vector3(1, 2, 0.5), from: Vector3(5, 2, 1.5), worldUp: up, fovX: 50 * .pi / 180)
    }

    func assertOrthonormal(_ c: CameraController, file: StaticString = #filePath, line: UInt = #line) {
        let m = c.orientation
        for i in 0..<3 {
            XCTAssertEqual(m.column(i).length, 1, accuracy: 1e-9, file: file, line: line)
            for j in (i + 1)..<3 { XCTAssertEqual(m.column(i).dot(m.column(j)), 0, accuracy: 1e-9, file: file, line: line) }
        }
        XCTAssertEqual(m.determinant, 1, accuracy: 1e-9, file: file, line: line)  // right-handed (OpenCV axes)
    }

    func testLookAtFacesTheTargetWithoutRoll() {
        let c = make()
        XCTAssertEqual((c.target - Vector3(1, 2, 0.5)).length, 0, accuracy: 1e-9)
        XCTAssertEqual(c.right.dot(up), 0, accuracy: 1e-9)   // no roll: right is horizontal
        XCTAssertLessThan(c.down.dot(up), 0)                  // image down points down
        assertOrthonormal(c)
    }

    func testOrbitKeepsTargetAndDistance() {
        var c = make()
        let target = c.target, distance = c.focusDistance
        c.orbit(dx: 120, dy: -40)
        XCTAssertEqual((c.target - target).length, 0, accuracy: 1e-9)
        XCTAssertEqual((c.eye - target).length, distance, accuracy: 1e-9)
        XCTAssertGreaterThan((c.eye - make().eye).length, 0.1)
        assertOrthonormal(c)
        // Dragging right moves the camera to its left (the scene turns with the mouse).
        var d = make()
        let before = d.eye
        d.orbit(dx: 50, dy: 0)
        XCTAssertLessThan((d.eye - before).dot(make().right), 0)
        // Dragging down raises the camera.
        var e = make()
        e.orbit(dx: 0, dy: 50)
        XCTAssertGreaterThan(e.eye.dot(up), make().eye.dot(up))
    }

    func testOrbitStopsShortOfThePoles() {
        var c = make()
        for _ in 0..<200 { c.orbit(dx: 0, dy: 40) }
        XCTAssertLessThan(abs(c.forward.dot(up)), 0.999)
        assertOrthonormal(c)
    }

    func testZoomMovesTowardTheTarget() {
        var c = make()
        let target = c.target, distance = c.focusDistance
        c.zoom(steps: 2)
        XCTAssertEqual(c.focusDistance, distance * 0.85 * 0.85, accuracy: 1e-9)
        XCTAssertEqual((c.target - target).length, 0, accuracy: 1e-9)
        c.zoom(steps: -4)
        XCTAssertGreaterThan(c.focusDistance, distance)
    }

    func testPanFollowsTheMouse() {
        var c = make()
        let target = c.target
        c.pan(dx: 100, dy: 0, windowWidth: 1000)
        // The scene moves right, so the camera (and target) move left.
        XCTAssertLessThan((c.target - target).dot(make().right), 0)
        // 100 of 1000 px at the target's depth: a tenth of the view's width there.
        let width = 2 * make().focusDistance * tan(c.fovX / 2)
        XCTAssertEqual((c.target - target).length, width / 10, accuracy: 1e-9)
    }

    func testFlyAndLook() {
        var c = make()
        let eye = c.eye, forward = c.forward
        c.fly(right: 0, up: 0, forward: 1)
        XCTAssertEqual((c.eye - eye - forward).length, 0, accuracy: 1e-9)
        c.fly(right: 0, up: 2, forward: 0)
        XCTAssertEqual(c.eye.z - eye.z - forward.z, 2, accuracy: 1e-9)
        let position = c.eye
        c.look(dx: 30, dy: 10)
        XCTAssertEqual((c.eye - position).length, 0, accuracy: 1e-9)  // looking turns in place
        assertOrthonormal(c)
    }

    func testTrainingPoseIsReproducedExactly() {
        // A pose with roll: the controller must not level it.
        let rotation = CameraController.rotation(axis: Vector3(0.3, -0.5, 0.8).normalized, angle: 0.7)
        let pose = Pose(position: Vector3(0.5, -1, 2), cameraToWorld: rotation)
        let c = CameraController(pose: pose, focusDistance: 3, worldUp: up, fovX: 1)
        for (a, b) in zip(c.pose.rotation.rows, pose.rotation.rows) { XCTAssertEqual((a - b).length, 0, accuracy: 1e-12) }
        XCTAssertEqual((c.pose.translation - pose.translation).length, 0, accuracy: 1e-12)
    }

    func testIntrinsicsFollowTheFieldOfView() {
        let i = make().intrinsics(width: 1280, height: 720)
        XCTAssertEqual(i.fovX, 50 * .pi / 180, accuracy: 1e-12)
        XCTAssertEqual(i.fx, i.fy)
        XCTAssertEqual(i.cx, 640)
        XCTAssertEqual(i.cy, 360)
    }
}

extension CameraControllerTests {
    func testLookTurnsTowardTheMouse() {
        var c = make()
        let before = c.forward
        c.look(dx: 40, dy: 0)
        XCTAssertGreaterThan(c.forward.dot(make().right), 0, "dragging right looks right")
        c = make()
        c.look(dx: 0, dy: 40)
        XCTAssertLessThan(c.forward.dot(up), before.dot(up), "dragging down looks down")
    }
}
