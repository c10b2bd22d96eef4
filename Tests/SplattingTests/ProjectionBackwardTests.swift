import Geometry
@testable import Splatting
import XCTest

/// The projection backward twin against central finite differences in Double.
/// The Gaussians are placed where the projection is smooth: in front of the
/// camera, either well inside the frustum or well outside the EWA clamp
/// (the clamp's edge is a kink), with colours far from the clamp at 0.
final class ProjectionBackwardTests: XCTestCase {
    let camera = ProjectionBackward.Camera(RasterCamera(
        width: 80, height: 60, fx: 70, fy: 72, cx: 41, cy: 29,
        rotation: Quaternion(w: 0.95, x: 0.1, y: -0.2, z: 0.15).matrix.rows.flatMap { [Float($0.x), Float($0.y), Float($0.z)] },
        translation: [0.2, -0.1, 0.3]))

    func gaussians(degree: Int) -> [GaussianParametersD] {
        var rng = SplitMix64(seed: 21)
        let k = (degree + 1) * (degree + 1)
        func sh() -> [SIMD3<Double>] {
            (0..<k).map { i in i == 0 ? SIMD3(1.2, 0.9, 1.1) : SIMD3(Double(rng.uniform(-0.2, 0.2)), Double(rng.uniform(-0.2, 0.2)), Double(rng.uniform(-0.2, 0.2))) }
        }
        // A point straight ahead of the camera, and one far off to the side (clamped).
        let centre = camera.applyTransposed(SIMD3(0.1, -0.05, 3) - camera.t)
        let side = camera.applyTransposed(SIMD3(9, 4, 3) - camera.t)
        return [
            GaussianParametersD(position: centre, logScale: SIMD3(-1.2, -1.6, -0.9), rotation: SIMD4(0.8, 0.3, -0.4, 0.2), logit: 0.4, sh: sh()),
            GaussianParametersD(position: centre + SIMD3(0.3, 0.2, 0.5), logScale: SIMD3(-2.5, -1.0, -1.8), rotation: SIMD4(0.2, 0.9, 0.1, -0.3), logit: -0.7, sh: sh()),
            GaussianParametersD(position: side, logScale: SIMD3(-1.0, -1.3, -1.1), rotation: SIMD4(0.6, -0.2, 0.5, 0.4), logit: 1.1, sh: sh()),
        ]
    }

    func check(degree: Int, antialias: Bool) {
        var rng = SplitMix64(seed: 8)
        var up = SplatGradientD()
        up.mean = SIMD2(Double(rng.uniform(-1, 1)), Double(rng.uniform(-1, 1)))
        up.conic = SIMD3(Double(rng.uniform(-50, 50)), Double(rng.uniform(-50, 50)), Double(rng.uniform(-50, 50)))
        up.opacity = Double(rng.uniform(-1, 1))
        up.payload = [Double(rng.uniform(-1, 1)), Double(rng.uniform(-1, 1)), Double(rng.uniform(-1, 1))]
        up.depth = Double(rng.uniform(-1, 1))
        func loss(_ g: GaussianParametersD) -> Double {
            let p = ProjectionBackward.forward(g, camera: camera, degree: degree, antialias: antialias)
            return (p.mean * up.mean).sum() + (p.conic * up.conic).sum() + p.opacity * up.opacity
                + (p.color * SIMD3(up.payload[0], up.payload[1], up.payload[2])).sum() + p.depth * up.depth
        }
        for (n, g) in gaussians(degree: degree).enumerated() {
            let analytic = ProjectionBackward.backward(g, camera: camera, degree: degree, antialias: antialias, gradient: up)
            func fd(_ name: String, _ expected: Double, _ perturb: (inout GaussianParametersD, Double) -> Void) {
                let h = 1e-6
                var plus = g, minus = g
                perturb(&plus, h)
                perturb(&minus, -h)
                let numeric = (loss(plus) - loss(minus)) / (2 * h)
                XCTAssertEqual(expected, numeric, accuracy: 2e-5 * max(1, abs(numeric)),
                               "Gaussian \(n) \(name), degree \(degree), antialias \(antialias)")
            }
            for k in 0..<3 {
                fd("position[\(k)]", analytic.position[k]) { $0.position[k] += $1 }
                fd("logScale[\(k)]", analytic.logScale[k]) { $0.logScale[k] += $1 }
            }
            for k in 0..<4 { fd("rotation[\(k)]", analytic.rotation[k]) { $0.rotation[k] += $1 } }
            fd("logit", analytic.logit) { $0.logit += $1 }
            for c in g.sh.indices {
                for ch in 0..<3 { fd("sh[\(c)][\(ch)]", analytic.sh[c][ch]) { $0.sh[c][ch] += $1 } }
            }
        }
    }

    func testMatchesFiniteDifferences() {
        for degree in 0...3 {
            for antialias in [false, true] { check(degree: degree, antialias: antialias) }
        }
    }
}
