import Foundation
import Geometry

/// The viewer's camera and the controls 3DGS viewers have: orbit around a
/// target (left drag), pan (right or middle drag), zoom (scroll), fly (WASD,
/// Q/E down/up, mouse look), and jumping to a training camera. Pure math on
/// an OpenCV-axes pose (x right, y down, z forward), so that it is tested
/// without a window and a training camera is reproduced exactly (roll
/// included) until the user moves.
public struct CameraController: Equatable {
    /// Camera centre in the world.
    public var eye: Vector3
    /// Camera-to-world rotation: columns right, down, forward.
    public var orientation: Matrix3
    /// Distance from the eye to the orbit target along the view direction.
    public var focusDistance: Double
    /// The world's up (yaw turns about it; Q/E move along it).
    public var worldUp: Vector3
    /// Horizontal field of view (radians); the vertical one follows from the window's aspect.
    public var fovX: Double
    /// Radians per pixel of mouse drag.
    public var dragRadiansPerPixel = 0.005
    /// Focus-distance factor per scroll step (zoom in for positive steps).
    public var zoomPerStep = 0.85

    public init(eye: Vector3, orientation: Matrix3, focusDistance: Double, worldUp: Vector3, fovX: Double) {
        self.eye = eye
        self.orientation = orientation
        self.focusDistance = max(focusDistance, 1e-6)
        self.worldUp = worldUp.normalized
        self.fovX = fovX
    }

    /// A camera at `eye` looking at `target` with `worldUp` up (no roll).
    public init(lookingAt target: Vector3, from eye: Vector3, worldUp: Vector3, fovX: Double) {
        let forward = (target - eye).normalized
        var right = forward.cross(worldUp.normalized)
        if right.length < 1e-9 { right = forward.cross(Self.perpendicular(to: forward)) }
        right = right.normalized
        let down = forward.cross(right)
        self.init(eye: eye, orientation: Matrix3(columns: [right, down, forward]), focusDistance: (target - eye).length,
                  worldUp: worldUp, fovX: fovX)
    }

    /// A training camera's pose exactly; the target lies `focusDistance` ahead.
    public init(pose: Pose, focusDistance: Double, worldUp: Vector3, fovX: Double) {
        self.init(eye: pose.position, orientation: pose.rotation.transposed, focusDistance: focusDistance,
                  worldUp: worldUp, fovX: fovX)
    }

    public var right: Vector3 { orientation.column(0) }
    public var down: Vector3 { orientation.column(1) }
    public var forward: Vector3 { orientation.column(2) }
    public var target: Vector3 { eye + forward * focusDistance }

    /// World-to-camera pose for the rasterizer.
    public var pose: Pose { Pose(position: eye, cameraToWorld: orientation) }

    /// Pinhole intrinsics for a `width` x `height` window (square pixels, centred).
    public func intrinsics(width: Int, height: Int) -> Intrinsics {
        let f = Double(width) / 2 / tan(fovX / 2)
        return Intrinsics(width: width, height: height, fx: f, fy: f, cx: Double(width) / 2, cy: Double(height) / 2)
    }

    /// Orbits about the target: dragging right turns the camera to the left
    /// about the world's up (the scene follows the mouse), dragging down
    /// raises it; the distance to the target stays, and the camera never
    /// passes over the poles.
    public mutating func orbit(dx: Double, dy: Double) {
        let center = target
        rotate(about: worldUp, angle: -dx * dragRadiansPerPixel, pivot: center)
        rotate(about: right, angle: -dy * dragRadiansPerPixel, pivot: center, guardPoles: true)
    }

    /// Turns the camera in place (fly mode's mouse look: right looks right,
    /// down looks down); the target moves with it.
    public mutating func look(dx: Double, dy: Double) {
        rotate(about: worldUp, angle: -dx * dragRadiansPerPixel, pivot: eye)
        rotate(about: right, angle: -dy * dragRadiansPerPixel, pivot: eye, guardPoles: true)
    }

    /// Moves camera and target in the view plane so that the point at the
    /// target's depth follows the mouse (`windowHeight`: pixels of the view).
    public mutating func pan(dx: Double, dy: Double, windowWidth: Int) {
        let metersPerPixel = focusDistance * 2 * tan(fovX / 2) / Double(max(windowWidth, 1))
        eye = eye - right * (dx * metersPerPixel) - down * (dy * metersPerPixel)
    }

    /// Moves toward the target (positive steps) or away, keeping it.
    public mutating func zoom(steps: Double) {
        let center = target
        focusDistance = max(focusDistance * pow(zoomPerStep, steps), 1e-4)
        eye = center - forward * focusDistance
    }

    /// Fly mode: moves by `amount` world units along right, world up and forward.
    public mutating func fly(right r: Double, up u: Double, forward f: Double) {
        eye = eye + right * r + worldUp * u + forward * f
    }

    /// Rotates the camera (orientation and position) by `angle` about `axis`
    /// through `pivot`. With `guardPoles`, a step that would bring the view
    /// direction within ~3 degrees of the world's up or down is not taken.
    mutating func rotate(about axis: Vector3, angle: Double, pivot: Vector3, guardPoles: Bool = false) {
        guard angle != 0 else { return }
        let r = Self.rotation(axis: axis.normalized, angle: angle)
        let turned = r * orientation
        if guardPoles && abs(turned.column(2).dot(worldUp)) > 0.9986 { return }
        orientation = Self.orthonormalized(turned)
        eye = pivot + r * (eye - pivot)
    }

    /// Rodrigues' rotation matrix.
    static func rotation(axis k: Vector3, angle: Double) -> Matrix3 {
        let c = cos(angle), s = sin(angle), t = 1 - c
        return Matrix3(rows: [
            Vector3(t * k.x * k.x + c, t * k.x * k.y - s * k.z, t * k.x * k.z + s * k.y),
            Vector3(t * k.x * k.y + s * k.z, t * k.y * k.y + c, t * k.y * k.z - s * k.x),
            Vector3(t * k.x * k.z - s * k.y, t * k.y * k.z + s * k.x, t * k.z * k.z + c),
        ])
    }

    /// Re-orthonormalises (Gram-Schmidt from the view direction) so that
    /// rounding does not accumulate over thousands of small rotations.
    static func orthonormalized(_ m: Matrix3) -> Matrix3 {
        let f = m.column(2).normalized
        var d = m.column(1) - f * m.column(1).dot(f)
        d = d.normalized
        let r = d.cross(f)
        return Matrix3(columns: [r, d, f])
    }

    static func perpendicular(to v: Vector3) -> Vector3 {
        abs(v.x) < 0.9 ? Vector3(1, 0, 0).cross(v).normalized : Vector3(0, 1, 0).cross(v).normalized
    }
}
