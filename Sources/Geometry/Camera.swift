/// Pinhole intrinsics in pixels. Pixel (i, j) is sampled at (i + 0.5, j + 0.5)
/// in these coordinates; cx, cy are measured from the image's top-left edge.
public struct Intrinsics: Equatable, Codable {
    public var width: Int
    public var height: Int
    public var fx: Double
    public var fy: Double
    public var cx: Double
    public var cy: Double

    public init(width: Int, height: Int, fx: Double, fy: Double, cx: Double, cy: Double) {
        self.width = width
        self.height = height
        self.fx = fx
        self.fy = fy
        self.cx = cx
        self.cy = cy
    }

    /// The same camera for an image downscaled from (width, height) to (w, h).
    public func scaled(toWidth w: Int, height h: Int) -> Intrinsics {
        let sx = Double(w) / Double(width), sy = Double(h) / Double(height)
        return Intrinsics(width: w, height: h, fx: fx * sx, fy: fy * sy, cx: cx * sx, cy: cy * sy)
    }

    public var fovX: Double { 2 * atan2(Double(width) / 2, fx) }
    public var fovY: Double { 2 * atan2(Double(height) / 2, fy) }
}

/// Lens distortion of normalised image coordinates (x/z, y/z).
public enum Distortion: Equatable, Codable {
    case none
    /// OpenCV's model: radial k1 k2 k3, tangential p1 p2 (COLMAP's
    /// SIMPLE_RADIAL, RADIAL and OPENCV are special cases).
    case opencv(k1: Double, k2: Double, k3: Double, p1: Double, p2: Double)
    /// OpenCV's fisheye (equidistant) model, k1..k4.
    case fisheye(k1: Double, k2: Double, k3: Double, k4: Double)

    public var isNone: Bool {
        switch self {
        case .none: return true
        case let .opencv(k1, k2, k3, p1, p2): return k1 == 0 && k2 == 0 && k3 == 0 && p1 == 0 && p2 == 0
        case let .fisheye(k1, k2, k3, k4): return k1 == 0 && k2 == 0 && k3 == 0 && k4 == 0
        }
    }

    /// Distorted normalised coordinates of the undistorted (x, y).
    public func distort(_ x: Double, _ y: Double) -> (Double, Double) {
        switch self {
        case .none:
            return (x, y)
        case let .opencv(k1, k2, k3, p1, p2):
            let r2 = x * x + y * y
            let radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
            let dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
            let dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
            return (x * radial + dx, y * radial + dy)
        case let .fisheye(k1, k2, k3, k4):
            let r = (x * x + y * y).squareRoot()
            guard r > 1e-12 else { return (x, y) }
            let theta = atan(r)
            let t2 = theta * theta
            let thetaD = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
            let s = thetaD / r
            return (x * s, y * s)
        }
    }

    /// Undistorted normalised coordinates of the distorted (x, y), by Newton
    /// iteration on `distort` (nil where it does not converge).
    public func undistort(_ xd: Double, _ yd: Double) -> (Double, Double)? {
        if isNone { return (xd, yd) }
        var x = xd, y = yd
        for _ in 0..<30 {
            let (fx, fy) = distort(x, y)
            let ex = fx - xd, ey = fy - yd
            if ex * ex + ey * ey < 1e-24 { return (x, y) }
            // Numerical Jacobian of distort.
            let h = 1e-7
            let (ax, ay) = distort(x + h, y), (bx, by) = distort(x, y + h)
            let j00 = (ax - fx) / h, j10 = (ay - fy) / h, j01 = (bx - fx) / h, j11 = (by - fy) / h
            let det = j00 * j11 - j01 * j10
            guard abs(det) > 1e-12 else { return nil }
            x -= (j11 * ex - j01 * ey) / det
            y -= (-j10 * ex + j00 * ey) / det
        }
        let (fx, fy) = distort(x, y)
        return (fx - xd) * (fx - xd) + (fy - yd) * (fy - yd) < 1e-16 ? (x, y) : nil
    }
}

/// A camera pose: world-to-camera rotation and translation in OpenCV axes
/// (x right, y down, z forward): p_camera = R p_world + t.
public struct Pose: Equatable, Codable {
    public var rotation: Matrix3
    public var translation: Vector3

    public init(rotation: Matrix3, translation: Vector3) {
        self.rotation = rotation
        self.translation = translation
    }

    /// The pose of a camera-to-world matrix given in OpenGL axes (x right,
    /// y up, z backward), as transforms.json stores it: columns 1 and 2 negated.
    public init(cameraToWorldOpenGL c2w: Matrix3, position: Vector3) {
        let c2wCV = Matrix3(columns: [c2w.column(0), -c2w.column(1), -c2w.column(2)])
        rotation = c2wCV.transposed
        translation = -(rotation * position)
    }

    /// The pose of a camera at `position` with camera-to-world rotation (OpenCV axes).
    public init(position: Vector3, cameraToWorld: Matrix3) {
        rotation = cameraToWorld.transposed
        translation = -(rotation * position)
    }

    /// Camera centre in world coordinates: -R^T t.
    public var position: Vector3 { -(rotation.transposed * translation) }
    /// Viewing direction (camera +z) in world coordinates.
    public var forward: Vector3 { rotation.transposed.column(2) }
    /// Camera "up" in world coordinates (camera -y).
    public var up: Vector3 { -rotation.transposed.column(1) }
    public var right: Vector3 { rotation.transposed.column(0) }
}

import Foundation

extension Pose {
    /// The point nearest to every camera's optical axis (least squares:
    /// sum over cameras of (I - d d^T) x = (I - d d^T) c, with d the unit
    /// forward axis and c the centre): where an object-centric capture keeps
    /// its subject. Nil when the axes are (nearly) parallel and no such point
    /// is defined: the system's determinant, which grows as n^3 for n
    /// cameras, is below 1e-6 n^3.
    public static func lookAtPoint(_ poses: [Pose]) -> Vector3? {
        guard !poses.isEmpty else { return nil }
        var a = Matrix3(rows: [.zero, .zero, .zero]), b = Vector3.zero
        for p in poses {
            let d = p.forward.normalized
            let m = Matrix3(rows: [Vector3(1, 0, 0) - d * d.x, Vector3(0, 1, 0) - d * d.y, Vector3(0, 0, 1) - d * d.z])
            a = Matrix3(rows: (0..<3).map { a.rows[$0] + m.rows[$0] })
            b += m * p.position
        }
        let n = Double(poses.count)
        let det = a.determinant
        guard det.isFinite, abs(det) > 1e-6 * n * n * n else { return nil }
        // Cramer's rule.
        func replaced(_ k: Int) -> Matrix3 { Matrix3(columns: (0..<3).map { $0 == k ? b : a.column($0) }) }
        let x = Vector3(replaced(0).determinant / det, replaced(1).determinant / det, replaced(2).determinant / det)
        return x.x.isFinite && x.y.isFinite && x.z.isFinite ? x : nil
    }
}
