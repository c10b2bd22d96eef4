import Foundation
import Geometry

/// A shape with a known signed distance, as the synthetic SDF scenes
/// describe theirs (`shape.json`, written by Tools/make-sdf-scenes.py):
/// a sphere or a torus in the world frame. Used to score extracted meshes by
/// their Chamfer distance to the true surface.
public struct AnalyticShape: Equatable {
    public enum Kind: Equatable {
        case sphere(radius: Double)
        /// A ring of `major` radius around `axis` (unit) through the centre, tube radius `minor`.
        case torus(axis: Vector3, major: Double, minor: Double)
    }
    public var center: Vector3
    public var kind: Kind

    public init(center: Vector3, kind: Kind) {
        self.center = center
        self.kind = kind
    }

    /// Reads `shape.json`: {"kind": "sphere", "center": [x, y, z], "radius": r}
    /// or {"kind": "torus", "center", "axis", "major_radius", "minor_radius"}.
    public static func read(_ path: String) throws -> AnalyticShape {
        guard let object = try StrictJSON.object(try RegularFile.read(path, limit: 1 << 20), path: path) as? [String: Any] else {
            throw DatasetError(path, "not a JSON object")
        }
        func vector(_ key: String) throws -> Vector3 {
            guard let v = object[key] as? [Double], v.count == 3, v.allSatisfy(\.isFinite) else {
                throw DatasetError(path, "\"\(key)\" must be 3 finite numbers")
            }
            return Vector3(v[0], v[1], v[2])
        }
        func positive(_ key: String) throws -> Double {
            guard let v = object[key] as? Double, v > 0, v.isFinite else { throw DatasetError(path, "\"\(key)\" must be a positive number") }
            return v
        }
        let center = try vector("center")
        switch object["kind"] as? String {
        case "sphere"?: return AnalyticShape(center: center, kind: .sphere(radius: try positive("radius")))
        case "torus"?:
            let axis = try vector("axis")
            guard axis.length > 0 else { throw DatasetError(path, "\"axis\" must not be zero") }
            return AnalyticShape(center: center, kind: .torus(axis: axis.normalized, major: try positive("major_radius"),
                                                              minor: try positive("minor_radius")))
        default: throw DatasetError(path, "\"kind\" must be \"sphere\" or \"torus\"")
        }
    }

    /// The shape's size: the diameter of its bounding sphere.
    public var size: Double {
        switch kind {
        case .sphere(let r): return 2 * r
        case .torus(_, let major, let minor): return 2 * (major + minor)
        }
    }

    /// Signed distance of a world point (negative inside).
    public func signedDistance(_ p: Vector3) -> Double {
        let q = p - center
        switch kind {
        case .sphere(let r): return q.length - r
        case .torus(let axis, let major, let minor):
            let h = q.dot(axis)
            let radial = (q - axis * h).length
            return ((radial - major) * (radial - major) + h * h).squareRoot() - minor
        }
    }

    /// `count` points spread over the surface (deterministic; a Fibonacci
    /// lattice on the sphere, a regular grid of angles on the torus).
    public func surfacePoints(count: Int) -> [Vector3] {
        switch kind {
        case .sphere(let r):
            return (0..<count).map { i in
                let z = 1 - 2 * (Double(i) + 0.5) / Double(count), phi = Double(i) * Double.pi * (3 - 5.0.squareRoot())
                let s = (1 - z * z).squareRoot()
                return center + Vector3(s * cos(phi), s * sin(phi), z) * r
            }
        case .torus(let axis, let major, let minor):
            // An orthonormal frame (u, v, axis).
            let helper = abs(axis.x) < 0.9 ? Vector3(1, 0, 0) : Vector3(0, 1, 0)
            let u = axis.cross(helper).normalized, v = axis.cross(u)
            // Angles along the ring and around the tube, cells of about equal area.
            let around = max(3, Int((Double(count) * minor / major).squareRoot().rounded()))
            let along = max(3, count / around)
            var points: [Vector3] = []
            for i in 0..<along {
                let a = 2 * Double.pi * Double(i) / Double(along)
                let ring = u * cos(a) + v * sin(a)
                for j in 0..<around {
                    let b = 2 * Double.pi * Double(j) / Double(around)
                    points.append(center + ring * (major + minor * cos(b)) + axis * (minor * sin(b)))
                }
            }
            return points
        }
    }

    /// The symmetric Chamfer distance between mesh vertices and the surface:
    /// the mean of (mean |signed distance| of the vertices) and (mean distance
    /// from `samples` surface points to their nearest vertex), as DTU's
    /// evaluation averages accuracy and completeness. World units.
    public func chamfer(vertices: [SIMD3<Float>], samples: Int = 20_000) -> (chamfer: Double, accuracy: Double, completeness: Double) {
        guard !vertices.isEmpty else { return (.infinity, .infinity, .infinity) }
        let points = vertices.map { Vector3(Double($0.x), Double($0.y), Double($0.z)) }
        let accuracy = points.reduce(0) { $0 + abs(signedDistance($1)) } / Double(points.count)
        // Nearest vertex through a uniform grid of cells about the mean spacing.
        let lo = points.reduce(points[0]) { Vector3(min($0.x, $1.x), min($0.y, $1.y), min($0.z, $1.z)) }
        let hi = points.reduce(points[0]) { Vector3(max($0.x, $1.x), max($0.y, $1.y), max($0.z, $1.z)) }
        let cell = max((hi - lo).length / Double(max(1, Int(Double(points.count).squareRoot()))), 1e-9)
        func key(_ p: Vector3) -> SIMD3<Int> { SIMD3(Int(((p.x - lo.x) / cell).rounded(.down)), Int(((p.y - lo.y) / cell).rounded(.down)),
                                                     Int(((p.z - lo.z) / cell).rounded(.down))) }
        var grid: [SIMD3<Int>: [Int]] = [:]
        for (i, p) in points.enumerated() { grid[key(p), default: []].append(i) }
        let targets = surfacePoints(count: samples)
        var completeness = 0.0
        for t in targets {
            let k = key(t)
            var best = Double.infinity
            var ring = 0
            // Grow the search ring until a vertex is found and the ring is beyond it.
            while ring < 1 << 12 {
                for dx in -ring...ring { for dy in -ring...ring { for dz in -ring...ring
                    where max(abs(dx), abs(dy), abs(dz)) == ring {
                    for i in grid[k &+ SIMD3(dx, dy, dz)] ?? [] { best = min(best, (points[i] - t).length) }
                } } }
                if best <= Double(ring) * cell { break }
                ring += 1
            }
            completeness += best
        }
        completeness /= Double(targets.count)
        return ((accuracy + completeness) / 2, accuracy, completeness)
    }
}
