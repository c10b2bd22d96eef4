/// 3-vectors and 3x3 matrices in Double: scene geometry (poses, bounds,
/// camera paths) is computed on the CPU in double precision; kernels get Float.
public typealias Vector3 = SIMD3<Double>

extension SIMD3 where Scalar == Double {
    public func dot(_ other: Vector3) -> Double { (self * other).sum() }
    public func cross(_ o: Vector3) -> Vector3 {
        Vector3(y * o.z - z * o.y, z * o.x - x * o.z, x * o.y - y * o.x)
    }
    public var length: Double { dot(self).squareRoot() }
    public var normalized: Vector3 { let l = length; return l > 0 ? self / l : self }
}

/// A 3x3 matrix, row-major: `rows[i][j]` is row i, column j.
public struct Matrix3: Equatable, Codable {
    public var rows: [Vector3]

    public init(rows: [Vector3]) {
        precondition(rows.count == 3, "Matrix3 needs 3 rows")
        self.rows = rows
    }

    public init(columns c: [Vector3]) {
        rows = [Vector3(c[0].x, c[1].x, c[2].x), Vector3(c[0].y, c[1].y, c[2].y), Vector3(c[0].z, c[1].z, c[2].z)]
    }

    public static let identity = Matrix3(rows: [Vector3(1, 0, 0), Vector3(0, 1, 0), Vector3(0, 0, 1)])

    public subscript(row: Int, column: Int) -> Double {
        get { rows[row][column] }
        set { rows[row][column] = newValue }
    }

    public func column(_ j: Int) -> Vector3 { Vector3(rows[0][j], rows[1][j], rows[2][j]) }

    public var transposed: Matrix3 { Matrix3(columns: rows) }

    public static func * (m: Matrix3, v: Vector3) -> Vector3 {
        Vector3(m.rows[0].dot(v), m.rows[1].dot(v), m.rows[2].dot(v))
    }

    public static func * (a: Matrix3, b: Matrix3) -> Matrix3 {
        let bt = b.transposed
        return Matrix3(rows: a.rows.map { r in Vector3(r.dot(bt.rows[0]), r.dot(bt.rows[1]), r.dot(bt.rows[2])) })
    }

    public var determinant: Double { rows[0].dot(rows[1].cross(rows[2])) }

    public var isFinite: Bool { rows.allSatisfy { $0.x.isFinite && $0.y.isFinite && $0.z.isFinite } }
}

/// A rotation quaternion, w first (COLMAP's and 3DGS's order).
public struct Quaternion: Equatable, Codable {
    public var w, x, y, z: Double

    public init(w: Double, x: Double, y: Double, z: Double) {
        (self.w, self.x, self.y, self.z) = (w, x, y, z)
    }

    public var norm: Double { (w * w + x * x + y * y + z * z).squareRoot() }
    public var normalized: Quaternion { let n = norm; return Quaternion(w: w / n, x: x / n, y: y / n, z: z / n) }

    /// The rotation matrix of the normalised quaternion.
    public var matrix: Matrix3 {
        let q = normalized
        let (w, x, y, z) = (q.w, q.x, q.y, q.z)
        return Matrix3(rows: [
            Vector3(1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)),
            Vector3(2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)),
            Vector3(2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)),
        ])
    }

    /// The quaternion of a rotation matrix (Shepperd's method), w >= 0.
    public init(matrix m: Matrix3) {
        let trace = m[0, 0] + m[1, 1] + m[2, 2]
        var q: Quaternion
        if trace > 0 {
            let s = (trace + 1).squareRoot() * 2
            q = Quaternion(w: 0.25 * s, x: (m[2, 1] - m[1, 2]) / s, y: (m[0, 2] - m[2, 0]) / s, z: (m[1, 0] - m[0, 1]) / s)
        } else if m[0, 0] > m[1, 1] && m[0, 0] > m[2, 2] {
            let s = (1 + m[0, 0] - m[1, 1] - m[2, 2]).squareRoot() * 2
            q = Quaternion(w: (m[2, 1] - m[1, 2]) / s, x: 0.25 * s, y: (m[0, 1] + m[1, 0]) / s, z: (m[0, 2] + m[2, 0]) / s)
        } else if m[1, 1] > m[2, 2] {
            let s = (1 + m[1, 1] - m[0, 0] - m[2, 2]).squareRoot() * 2
            q = Quaternion(w: (m[0, 2] - m[2, 0]) / s, x: (m[0, 1] + m[1, 0]) / s, y: 0.25 * s, z: (m[1, 2] + m[2, 1]) / s)
        } else {
            let s = (1 + m[2, 2] - m[0, 0] - m[1, 1]).squareRoot() * 2
            q = Quaternion(w: (m[1, 0] - m[0, 1]) / s, x: (m[0, 2] + m[2, 0]) / s, y: (m[1, 2] + m[2, 1]) / s, z: 0.25 * s)
        }
        if q.w < 0 { q = Quaternion(w: -q.w, x: -q.x, y: -q.y, z: -q.z) }
        self = q.normalized
    }
}
