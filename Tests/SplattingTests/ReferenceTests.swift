import Foundation
import Geometry
import XCTest
import Datasets
@testable import Splatting

// MARK: - Fixtures

private func normalize(_ v: SIMD3<Float>) -> SIMD3<Float> { v / (v * v).sum().squareRoot() }
private func cross(_ a: SIMD3<Float>, _ b: SIMD3<Float>) -> SIMD3<Float> {
    SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
}

/// A camera at `eye` looking at `target` (OpenCV axes: x right, y down, z forward; world up -y).
private func lookAt(eye: SIMD3<Float>, target: SIMD3<Float>, width: Int, height: Int,
                    fx: Float, fy: Float, cx: Float, cy: Float) -> RasterCamera {
    let forward = normalize(target - eye)
    let right = normalize(cross(forward, SIMD3(0, -1, 0)))   // x = down x forward ... keeps x right
    let down = cross(forward, right)
    let rows = [right, down, forward]
    let r = rows.flatMap { [$0.x, $0.y, $0.z] }
    let t = rows.map { -($0 * eye).sum() }
    return RasterCamera(width: width, height: height, fx: fx, fy: fy, cx: cx, cy: cy, rotation: r, translation: t)
}

private func identityCamera(width: Int = 64, height: Int = 48, f: Float = 100) -> RasterCamera {
    RasterCamera(width: width, height: height, fx: f, fy: f, cx: Float(width) / 2, cy: Float(height) / 2,
                 rotation: [1, 0, 0, 0, 1, 0, 0, 0, 1], translation: [0, 0, 0])
}

/// Builds a model Gaussian by Gaussian.
private struct ModelBuilder {
    var model: GaussianModel
    init(degree: Int) { model = GaussianModel(count: 0, shDegree: degree) }

    mutating func add(position p: SIMD3<Float>, logScale s: SIMD3<Float>, rotation q: SIMD4<Float> = SIMD4(1, 0, 0, 0),
                      logit: Float, dc: SIMD3<Float>, rest: [Float]? = nil) {
        model.positions += [p.x, p.y, p.z]
        model.scales += [s.x, s.y, s.z]
        model.rotations += [q.x, q.y, q.z, q.w]
        model.opacities.append(logit)
        model.shDC += [dc.x, dc.y, dc.z]
        let n = model.restPerGaussian
        model.shRest += rest ?? [Float](repeating: 0, count: n)
    }
}

/// The mixed fixture scene: ordinary Gaussians, some behind the camera, some straddling
/// the near plane, sub-pixel tiny ones, huge ones covering the screen, flat discs at
/// grazing angles, needles along the view direction, faint and opaque ones, off-screen ones.
private func fixtureScene(count: Int, seed: UInt64, degree: Int, camera: RasterCamera, eye: SIMD3<Float>) -> GaussianModel {
    var rng = SplitMix64(seed: seed)
    var b = ModelBuilder(degree: degree)
    let forward = SIMD3<Float>(camera.rotation[6], camera.rotation[7], camera.rotation[8])
    let rest = b.model.restPerGaussian
    func randomRotation() -> SIMD4<Float> { SIMD4(rng.normal(), rng.normal(), rng.normal(), rng.normal()) }
    for i in 0..<count {
        let kind = i % 10
        var p = SIMD3<Float>(rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5), rng.uniform(-1.5, 1.5))
        var s = SIMD3<Float>(rng.uniform(-4, -2), rng.uniform(-4, -2), rng.uniform(-4, -2))
        var q = randomRotation()
        var logit = rng.normal() * 2
        switch kind {
        case 0:  // behind the camera
            p = eye - forward * rng.uniform(0.2, 3) + SIMD3(rng.normal(), rng.normal(), rng.normal()) * 0.3
            s += 1.5
        case 1:  // straddling the near plane: depth in [-0.03, 0.05], large
            let lateral = SIMD3<Float>(rng.normal(), rng.normal(), rng.normal()) * 0.05
            p = eye + forward * rng.uniform(-0.03, 0.05) + lateral
            s = SIMD3(repeating: rng.uniform(-3, 0))
        case 2:  // sub-pixel tiny
            s = SIMD3(repeating: rng.uniform(-10, -7))
            logit = rng.uniform(0, 6)
        case 3:  // huge, covering the screen
            s = SIMD3(rng.uniform(0, 1.5), rng.uniform(0, 1.5), rng.uniform(0, 1.5))
            logit = rng.uniform(-4, -1)
        case 4:  // flat discs at grazing angles (thin axis nearly perpendicular to the view)
            s = SIMD3(rng.uniform(-1.5, -0.5), -8, rng.uniform(-1.5, -0.5))
            q = SIMD4(1, rng.normal() * 0.05, rng.normal() * 0.05, rng.normal() * 0.05)
        case 5:  // needles along the view direction, some far off to the side (EWA clamp)
            s = SIMD3(-6, -6, rng.uniform(0, 1))
            q = SIMD4(1, 0, 0, 0)
            if rng.uniform() < 0.5 { p += SIMD3(rng.uniform(-6, 6), rng.uniform(-6, 6), 0) }
        case 6:  // faint or nearly opaque
            logit = rng.uniform() < 0.5 ? rng.uniform(-7, -4.5) : rng.uniform(4, 10)
        case 7:  // off to the side and large: partly or fully off screen
            p += SIMD3(rng.uniform(-5, 5), rng.uniform(-5, 5), 0)
            s += 1
        default:
            break
        }
        let dc = SIMD3<Float>(rng.uniform(-2, 2), rng.uniform(-2, 2), rng.uniform(-2, 2))
        let coefficients = (0..<rest).map { _ in rng.uniform(-0.4, 0.4) }
        b.add(position: p, logScale: s, rotation: q, logit: logit, dc: dc, rest: coefficients)
    }
    XCTAssertNil(b.model.shapeProblem())
    return b.model
}

private func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    var m: Float = 0
    for (x, y) in zip(a, b) { m = max(m, abs(x - y)) }
    return m
}

private func assertFinite(_ img: RasterImage, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
    for (name, values) in [("color", img.color), ("alpha", img.alpha), ("depth", img.depth), ("T", img.transmittance)] {
        XCTAssert(values.allSatisfy { $0.isFinite }, "\(label): non-finite \(name)", file: file, line: line)
    }
    XCTAssert(img.transmittance.allSatisfy { $0 >= RasterConstants.minTransmittance && $0 <= 1 },
              "\(label): transmittance outside [1e-4, 1]", file: file, line: line)
}

/// Brute force and tiled twin agree within 1e-5 (contributor counts exactly).
private func assertTwinsAgree(_ model: GaussianModel, _ camera: RasterCamera, _ settings: RasterSettings,
                              _ label: String, file: StaticString = #filePath, line: UInt = #line) {
    let brute = RasterizerReference.render(model, camera: camera, settings: settings)
    let tiled = RasterizerReference.renderTiled(model, camera: camera, settings: settings)
    XCTAssertEqual(brute.width, camera.width, file: file, line: line)
    XCTAssertEqual(tiled.height, camera.height, file: file, line: line)
    let n = camera.width * camera.height
    XCTAssertEqual(tiled.color.count, 3 * n, file: file, line: line)
    XCTAssertEqual(tiled.contributors.count, n, file: file, line: line)
    let err = max(maxAbsDiff(brute.color, tiled.color), maxAbsDiff(brute.alpha, tiled.alpha),
                  maxAbsDiff(brute.depth, tiled.depth), maxAbsDiff(brute.transmittance, tiled.transmittance))
    XCTAssertLessThanOrEqual(err, 1e-5, "\(label): brute force vs tiled", file: file, line: line)
    XCTAssertEqual(brute.contributors, tiled.contributors, "\(label): contributors", file: file, line: line)
    assertFinite(brute, label + " brute", file: file, line: line)
    assertFinite(tiled, label + " tiled", file: file, line: line)
    // Something was drawn, and the alpha/transmittance bookkeeping is consistent.
    XCTAssertEqual(maxAbsDiff(tiled.alpha, tiled.transmittance.map { 1 - $0 }), 0, file: file, line: line)
}

// MARK: - Brute force vs tiled twin

final class ReferenceTiledTests: XCTestCase {
    private func camera(_ w: Int, _ h: Int, eye: SIMD3<Float>) -> RasterCamera {
        lookAt(eye: eye, target: SIMD3(0.1, -0.05, 0), width: w, height: h,
               fx: 0.9 * Float(w), fy: 0.85 * Float(w), cx: 0.47 * Float(w) + 0.3, cy: 0.53 * Float(h) - 0.2)
    }

    func testMixedScenesAllDegreesAndModes() {
        let eye = SIMD3<Float>(0.3, -0.2, -3)
        for (w, h) in [(64, 48), (100, 70)] {
            let cam = camera(w, h, eye: eye)
            for degree in 0...3 {
                let model = fixtureScene(count: 300, seed: UInt64(w * 10 + degree), degree: degree, camera: cam, eye: eye)
                let visible = RasterizerReference.project(model, camera: cam, settings: RasterSettings()).compactMap { $0 }
                XCTAssertGreaterThan(visible.count, 50, "\(w)x\(h) degree \(degree): too few visible")
                XCTAssertLessThan(visible.count, model.count, "some Gaussians must be culled")
                // Every kind of the fixture except "behind the camera" reaches the image.
                let kinds = Dictionary(grouping: visible, by: { $0.index % 10 }).mapValues(\.count)
                for kind in 1..<10 { XCTAssertGreaterThan(kinds[kind] ?? 0, 0, "\(w)x\(h): kind \(kind) all culled") }
                XCTAssertLessThan(kinds[0] ?? 0, 5, "Gaussians behind the camera")
                XCTAssert(visible.contains { $0.tileCount == cam.tilesX * cam.tilesY }, "a Gaussian covers the screen")
                XCTAssert(visible.contains { $0.radius.x <= 2 && $0.radius.y <= 2 }, "a sub-pixel Gaussian (radius e sqrt(0.3) <= 2)")
                for antialias in [false, true] {
                    for bg in [SIMD3<Float>(0, 0, 0), SIMD3<Float>(0.2, 0.5, 1.0)] {
                        let settings = RasterSettings(background: bg, antialias: antialias)
                        assertTwinsAgree(model, cam, settings, "\(w)x\(h) degree \(degree) aa \(antialias) bg \(bg)")
                    }
                }
                // Lower evaluated degree.
                for d in 0..<degree {
                    assertTwinsAgree(model, cam, RasterSettings(background: SIMD3(1, 1, 1), shDegree: d),
                                     "\(w)x\(h) degree \(degree) evaluated at \(d)")
                }
            }
        }
    }

    func testPerAxisBoxGivesTheSameImage() {
        // The tile rectangle and the tighter per-axis pixel box blend the same Gaussians:
        // outside the box alpha < 1/255.
        let eye = SIMD3<Float>(0.3, -0.2, -3)
        let cam = camera(100, 70, eye: eye)
        for degree in [0, 3] {
            let model = fixtureScene(count: 300, seed: UInt64(40 + degree), degree: degree, camera: cam, eye: eye)
            for antialias in [false, true] {
                let settings = RasterSettings(background: SIMD3(0.2, 0.5, 1.0), antialias: antialias)
                XCTAssertEqual(RasterizerReference.render(model, camera: cam, settings: settings, perAxisBox: true),
                               RasterizerReference.render(model, camera: cam, settings: settings))
            }
        }
    }

    func testSettingsDegreeEqualsDroppedModel() {
        let eye = SIMD3<Float>(0.3, -0.2, -3)
        let cam = camera(64, 48, eye: eye)
        let model = fixtureScene(count: 200, seed: 7, degree: 3, camera: cam, eye: eye)
        for d in 0...3 {
            let a = RasterizerReference.renderTiled(model, camera: cam, settings: RasterSettings(shDegree: d))
            let b = RasterizerReference.renderTiled(model.droppingSH(toDegree: d), camera: cam, settings: RasterSettings())
            XCTAssertEqual(a, b, "degree \(d)")
        }
        // A degree above the model's is the model's.
        let high = RasterizerReference.renderTiled(model.droppingSH(toDegree: 1), camera: cam, settings: RasterSettings(shDegree: 3))
        let one = RasterizerReference.renderTiled(model.droppingSH(toDegree: 1), camera: cam, settings: RasterSettings())
        XCTAssertEqual(high, one)
    }

    func testDenseSceneSaturates() {
        // Many opaque Gaussians: the transmittance stop is exercised in most pixels.
        let eye = SIMD3<Float>(0, 0, -3)
        let cam = camera(100, 70, eye: eye)
        var rng = SplitMix64(seed: 99)
        var b = ModelBuilder(degree: 1)
        for _ in 0..<600 {
            b.add(position: SIMD3(rng.uniform(-1, 1), rng.uniform(-0.8, 0.8), rng.uniform(-1, 1)),
                  logScale: SIMD3(rng.uniform(-2.5, -1.5), rng.uniform(-2.5, -1.5), rng.uniform(-2.5, -1.5)),
                  rotation: SIMD4(rng.normal(), rng.normal(), rng.normal(), rng.normal()),
                  logit: rng.uniform(1, 8), dc: SIMD3(rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1)),
                  rest: (0..<9).map { _ in rng.uniform(-0.3, 0.3) })
        }
        for antialias in [false, true] {
            assertTwinsAgree(b.model, cam, RasterSettings(background: SIMD3(0.3, 0.3, 0.3), antialias: antialias), "dense aa \(antialias)")
        }
        let img = RasterizerReference.renderTiled(b.model, camera: cam, settings: RasterSettings())
        let centre = (cam.height / 2) * cam.width + cam.width / 2
        XCTAssertLessThan(img.transmittance[centre], 0.01)
        XCTAssertGreaterThanOrEqual(img.transmittance[centre], RasterConstants.minTransmittance)
    }

    func testSyntheticSceneTwins() {
        let model = SyntheticScene.make(count: 2000, seed: 3)
        let cam = SyntheticScene.defaultCamera(width: 100, height: 70)
        assertTwinsAgree(model, cam, RasterSettings(background: SIMD3(0, 0.5, 1)), "synthetic")
    }

    func testTileListsAreSortedByDepthThenIndex() {
        let eye = SIMD3<Float>(0.3, -0.2, -3)
        let cam = camera(100, 70, eye: eye)
        var model = fixtureScene(count: 300, seed: 5, degree: 0, camera: cam, eye: eye)
        // Duplicate some Gaussians so that depths tie.
        for i in 0..<50 {
            model.positions += model.positions[(i * 3)..<(i * 3 + 3)]
            model.scales += model.scales[(i * 3)..<(i * 3 + 3)]
            model.rotations += model.rotations[(i * 4)..<(i * 4 + 4)]
            model.opacities.append(model.opacities[i])
            model.shDC += [1, 0, -1]
        }
        let visible = RasterizerReference.project(model, camera: cam, settings: RasterSettings()).compactMap { $0 }
        let (ranges, entries) = RasterizerReference.tileLists(visible, camera: cam)
        XCTAssertEqual(ranges.count, cam.tilesX * cam.tilesY)
        XCTAssertEqual(entries.count, visible.reduce(0) { $0 + $1.tileCount })
        var ties = 0
        for (tile, range) in ranges.enumerated() {
            let tx = Int32(tile % cam.tilesX), ty = Int32(tile / cam.tilesX)
            var previous: ProjectedGaussian?
            for e in entries[range] {
                let g = visible[Int(e)]
                XCTAssert(g.tileMin.x <= tx && tx < g.tileMax.x && g.tileMin.y <= ty && ty < g.tileMax.y)
                if let p = previous {
                    XCTAssert((p.depth, p.index) < (g.depth, g.index), "tile \(tile) out of order")
                    if p.depth == g.depth { ties += 1 }
                }
                previous = g
            }
        }
        XCTAssertGreaterThan(ties, 0, "the fixture should contain depth ties")
    }

    func testEqualDepthBlendsLowerIndexFirst() {
        var b = ModelBuilder(degree: 0)
        let red = (1 - 0.5) / RasterConstants.shC0, off = -0.5 / RasterConstants.shC0
        b.add(position: SIMD3(0, 0, 2), logScale: SIMD3(repeating: log(0.05)), logit: 0, dc: SIMD3(red, off, off))
        b.add(position: SIMD3(0, 0, 2), logScale: SIMD3(repeating: log(0.05)), logit: 0, dc: SIMD3(off, red, off))
        let cam = identityCamera()
        let img = RasterizerReference.renderTiled(b.model, camera: cam, settings: RasterSettings())
        let p = 23 * 64 + 31
        XCTAssertGreaterThan(img.color[p * 3], img.color[p * 3 + 1], "Gaussian 0 (red) is in front")
        XCTAssertEqual(img.contributors[p], 2)
        XCTAssertEqual(img, RasterizerReference.render(b.model, camera: cam, settings: RasterSettings()))
    }
}

// MARK: - Analytic checks

final class ReferenceAnalyticTests: XCTestCase {
    func testIsotropicGaussianStraightAhead() {
        let f: Float = 100, z: Float = 2, sigma: Float = 0.05
        let dc = SIMD3<Float>(1, -1, 0.5)
        var b = ModelBuilder(degree: 0)
        b.add(position: SIMD3(0, 0, z), logScale: SIMD3(repeating: log(sigma)), rotation: SIMD4(0.3, 0, 0, 0), logit: 0, dc: dc)
        let cam = identityCamera(f: f)
        for antialias in [false, true] {
            let proj = RasterizerReference.project(b.model, camera: cam, settings: RasterSettings(antialias: antialias))
            guard let g = proj[0] else { return XCTFail("culled") }
            XCTAssertEqual(g.index, 0)
            XCTAssertEqual(g.mean.x, cam.cx, accuracy: 1e-5)
            XCTAssertEqual(g.mean.y, cam.cy, accuracy: 1e-5)
            XCTAssertEqual(g.depth, z)
            let cov = sigma * sigma * f * f / (z * z)   // 6.25 px^2
            let diag = 1 / (cov + 0.3)
            XCTAssertEqual(g.conic.x, diag, accuracy: 1e-5 * diag)
            XCTAssertEqual(g.conic.z, diag, accuracy: 1e-5 * diag)
            XCTAssertEqual(g.conic.y, 0, accuracy: 1e-9)
            let opacity: Float = antialias ? 0.5 * cov / (cov + 0.3) : 0.5
            XCTAssertEqual(g.opacity, opacity, accuracy: 1e-6)
            let expected = SIMD3<Float>(repeating: 0.5) + RasterConstants.shC0 * dc
            for c in 0..<3 { XCTAssertEqual(g.color[c], expected[c], accuracy: 1e-6) }
            // Radius: e = min(3.33, sqrt(2 ln(255 o))), ceil(e sqrt(cov + 0.3)).
            let e = min(3.33, (2 * log(255 * opacity)).squareRoot())
            let r = Int32((e * (cov + 0.3).squareRoot()).rounded(.up))
            XCTAssertEqual(g.radius, SIMD2(r, r))
            XCTAssertEqual(r, 8)
            let lo = ((cam.cx - Float(r)) / 16).rounded(.down), hi = ((cam.cx + Float(r)) / 16).rounded(.up)
            let loY = ((cam.cy - Float(r)) / 16).rounded(.down), hiY = ((cam.cy + Float(r)) / 16).rounded(.up)
            XCTAssertEqual(g.tileMin, SIMD2(Int32(lo), Int32(loY)))
            XCTAssertEqual(g.tileMax, SIMD2(Int32(hi), Int32(hiY)))

            // The pixel just up-left of the centre: alpha = o exp(-0.5 diag (0.25 + 0.25)).
            let bg = SIMD3<Float>(0.1, 0.2, 0.3)
            let img = RasterizerReference.renderTiled(b.model, camera: cam, settings: RasterSettings(background: bg, antialias: antialias))
            let p = 23 * 64 + 31
            let alpha = opacity * exp(-0.25 * diag)
            XCTAssertEqual(img.alpha[p], alpha, accuracy: 1e-6)
            XCTAssertEqual(img.depth[p], alpha * z, accuracy: 1e-5)
            for c in 0..<3 { XCTAssertEqual(img.color[p * 3 + c], expected[c] * alpha + (1 - alpha) * bg[c], accuracy: 1e-6) }
            XCTAssertEqual(img.contributors[p], 1)
            // Far corner: background only.
            XCTAssertEqual(img.color[0], bg.x)
            XCTAssertEqual(img.transmittance[0], 1)
            XCTAssertEqual(img.contributors[0], 0)
            XCTAssertEqual(img.expectedDepth[p], z, accuracy: 1e-5)
        }
    }

    func testDegreeOneSigns() {
        // -C1 y sh1 + C1 z sh2 - C1 x sh3, each checked alone along its axis direction.
        let c1 = RasterizerReference.shC1
        let cases: [(SIMD3<Float>, Int, Float)] = [
            (SIMD3(0, 1, 2), 1, -c1 * (1 / Float(5).squareRoot())),
            (SIMD3(0, 0, 2), 2, c1),
            (SIMD3(1, 0, 2), 3, -c1 * (1 / Float(5).squareRoot())),
        ]
        let cam = RasterCamera(width: 200, height: 200, fx: 100, fy: 100, cx: 100, cy: 100,
                               rotation: [1, 0, 0, 0, 1, 0, 0, 0, 1], translation: [0, 0, 0])
        for (position, k, term) in cases {
            var rest = [Float](repeating: 0, count: 9)
            rest[k - 1] = 1          // red, coefficient k
            rest[3 + k - 1] = -0.5   // green, coefficient k
            var b = ModelBuilder(degree: 1)
            b.add(position: position, logScale: SIMD3(repeating: -3), logit: 2, dc: SIMD3(0.2, 0.2, 0.2), rest: rest)
            guard let g = RasterizerReference.project(b.model, camera: cam, settings: RasterSettings())[0] else {
                XCTFail("culled"); continue
            }
            let base = 0.5 + RasterConstants.shC0 * 0.2
            XCTAssertEqual(g.color.x, base + term, accuracy: 1e-6, "k = \(k)")
            XCTAssertEqual(g.color.y, base - 0.5 * term, accuracy: 1e-6, "k = \(k)")
            XCTAssertEqual(g.color.z, base, accuracy: 1e-6, "k = \(k)")
            // Degree 0 evaluation ignores it.
            let g0 = RasterizerReference.project(b.model, camera: cam, settings: RasterSettings(shDegree: 0))[0]!
            XCTAssertEqual(g0.color.x, base, accuracy: 1e-6)
        }
    }

    func testHigherDegreesMatchEvalSH() {
        // Independent transcription of 3DGS's eval_sh (degrees 2 and 3) in Double.
        let dir = SIMD3<Double>(0.3, -0.5, 0.8) / (0.09 + 0.25 + 0.64).squareRoot()
        let (x, y, z) = (dir.x, dir.y, dir.z)
        let (xx, yy, zz, xy, yz, xz) = (x * x, y * y, z * z, x * y, y * z, x * z)
        let basis: [Double] = [
            0.28209479177387814, -0.4886025119029199 * y, 0.4886025119029199 * z, -0.4886025119029199 * x,
            1.0925484305920792 * xy, -1.0925484305920792 * yz, 0.31539156525252005 * (2 * zz - xx - yy),
            -1.0925484305920792 * xz, 0.5462742152960396 * (xx - yy),
            -0.5900435899266435 * y * (3 * xx - yy), 2.890611442640554 * xy * z,
            -0.4570457994644658 * y * (4 * zz - xx - yy), 0.3731763325901154 * z * (2 * zz - 3 * xx - 3 * yy),
            -0.4570457994644658 * x * (4 * zz - xx - yy), 1.445305721320277 * z * (xx - yy),
            -0.5900435899266435 * x * (xx - 3 * yy),
        ]
        var rng = SplitMix64(seed: 11)
        let coefficients = (0..<3).map { _ in (0..<16).map { _ in rng.uniform(-0.5, 0.5) } }
        var rest = [Float]()
        for c in 0..<3 { rest += coefficients[c][1...] }
        var b = ModelBuilder(degree: 3)
        let position = SIMD3<Float>(0.3, -0.5, 0.8) * 3
        b.add(position: position, logScale: SIMD3(repeating: -3), logit: 2,
              dc: SIMD3(coefficients[0][0], coefficients[1][0], coefficients[2][0]), rest: rest)
        let cam = RasterCamera(width: 300, height: 300, fx: 100, fy: 100, cx: 150, cy: 150,
                               rotation: [1, 0, 0, 0, 1, 0, 0, 0, 1], translation: [0, 0, 0])
        for degree in 0...3 {
            let g = RasterizerReference.project(b.model, camera: cam, settings: RasterSettings(shDegree: degree))[0]!
            let k = (degree + 1) * (degree + 1)
            for c in 0..<3 {
                var v = 0.5
                for j in 0..<k { v += basis[j] * Double(coefficients[c][j]) }
                XCTAssertEqual(Double(g.color[c]), max(0, v), accuracy: 5e-6, "degree \(degree) channel \(c)")
            }
        }
    }

    func testColourClampedAtZero() {
        var b = ModelBuilder(degree: 0)
        b.add(position: SIMD3(0, 0, 2), logScale: SIMD3(repeating: -3), logit: 0, dc: SIMD3(-5, 0, 5))
        let g = RasterizerReference.project(b.model, camera: identityCamera(), settings: RasterSettings())[0]!
        XCTAssertEqual(g.color.x, 0)
        XCTAssertEqual(g.color.y, 0.5)
        XCTAssertEqual(g.color.z, 0.5 + 5 * RasterConstants.shC0, accuracy: 1e-6)
    }

    func testAnisotropicRotatedCovariance() {
        // A Gaussian rotated 30 degrees about the view axis: the conic is the inverse of
        // R diag(sx^2, sy^2) R^T (f/z)^2 + 0.3 I.
        let angle: Float = .pi / 6, f: Float = 100, z: Float = 2
        let sx: Float = 0.08, sy: Float = 0.02
        var b = ModelBuilder(degree: 0)
        b.add(position: SIMD3(0, 0, z), logScale: SIMD3(log(sx), log(sy), -4),
              rotation: SIMD4(cos(angle / 2), 0, 0, sin(angle / 2)), logit: 1, dc: .zero)
        let g = RasterizerReference.project(b.model, camera: identityCamera(f: f), settings: RasterSettings())[0]!
        let k = f * f / (z * z), c = cos(angle), s = sin(angle)
        let a2 = k * (c * c * sx * sx + s * s * sy * sy) + 0.3
        let b2 = k * (c * s * (sx * sx - sy * sy))
        let c2 = k * (s * s * sx * sx + c * c * sy * sy) + 0.3
        let det = a2 * c2 - b2 * b2
        XCTAssertEqual(g.conic.x, c2 / det, accuracy: 1e-5 * abs(c2 / det))
        XCTAssertEqual(g.conic.y, -b2 / det, accuracy: 1e-5 * abs(b2 / det))
        XCTAssertEqual(g.conic.z, a2 / det, accuracy: 1e-5 * abs(a2 / det))
        // Per-axis radius: ceil(e min(sqrt(cov_axis), sqrt(lambda_max))), e = sqrt(2 ln(255 o)) < 3.33.
        let e: Float = min(3.33, (2 * log(255 / (1 + exp(Float(-1))))).squareRoot())
        XCTAssertLessThan(e, 3.33)
        let mid = 0.5 * (a2 + c2), lmax = mid + max(0.01, mid * mid - det).squareRoot()
        XCTAssertEqual(g.radius.x, Int32((e * min(a2.squareRoot(), lmax.squareRoot())).rounded(.up)))
        XCTAssertEqual(g.radius.y, Int32((e * min(c2.squareRoot(), lmax.squareRoot())).rounded(.up)))
        XCTAssertGreaterThan(g.radius.x, g.radius.y)
    }

    func testEWAClampOffScreen() {
        // A large Gaussian far to the right of the view: J uses the clamped x/z, the mean does not.
        let cam = identityCamera(f: 50)
        var b = ModelBuilder(degree: 0)
        let x: Float = 1.5, z: Float = 1, sigma: Float = 0.8
        b.add(position: SIMD3(x, 0, z), logScale: SIMD3(repeating: log(sigma)), logit: 3, dc: .zero)
        guard let g = RasterizerReference.project(b.model, camera: cam, settings: RasterSettings())[0] else {
            return XCTFail("a huge Gaussian reaching into the view must not be culled")
        }
        XCTAssertEqual(g.mean.x, 50 * x / z + 32, accuracy: 1e-4)
        let tanX: Float = 0.5 * 64 / 50
        let limX = (64 - 32) / Float(50) + 0.3 * tanX
        let tx = z * min(limX, x / z)
        // a = fx^2/z^2 sigma^2 (1 + tx^2/z^2) + 0.3 for an isotropic Gaussian; c = fy^2/z^2 sigma^2 + 0.3.
        let a = 2500 * sigma * sigma * (1 + tx * tx / (z * z)) + 0.3
        let c = 2500 * sigma * sigma + 0.3
        XCTAssertEqual(g.conic.x, c / (a * c), accuracy: 1e-5 * (1 / a))
        XCTAssertEqual(g.conic.z, 1 / c, accuracy: 1e-5 / c)
    }
}

// MARK: - Culling and robustness

final class ReferenceRobustnessTests: XCTestCase {
    func testZeroGaussiansRenderTheBackground() {
        let model = GaussianModel(count: 0, shDegree: 3)
        let cam = identityCamera(width: 37, height: 21)
        let bg = SIMD3<Float>(0.25, 0.5, 0.75)
        for img in [RasterizerReference.render(model, camera: cam, settings: RasterSettings(background: bg)),
                    RasterizerReference.renderTiled(model, camera: cam, settings: RasterSettings(background: bg))] {
            XCTAssertEqual(img.width, 37)
            XCTAssertEqual(img.height, 21)
            XCTAssertEqual(img.color, (0..<(37 * 21)).flatMap { _ in [bg.x, bg.y, bg.z] })
            XCTAssert(img.alpha.allSatisfy { $0 == 0 })
            XCTAssert(img.depth.allSatisfy { $0 == 0 })
            XCTAssert(img.transmittance.allSatisfy { $0 == 1 })
            XCTAssert(img.contributors.allSatisfy { $0 == 0 })
        }
        XCTAssertEqual(RasterizerReference.nonFiniteCount(model), 0)
        XCTAssertTrue(RasterizerReference.project(model, camera: cam, settings: RasterSettings()).isEmpty)
    }

    func testNonFiniteGaussiansAreSkipped() {
        let eye = SIMD3<Float>(0, 0, -3)
        let cam = lookAt(eye: eye, target: .zero, width: 64, height: 48, fx: 60, fy: 60, cx: 32, cy: 24)
        let clean = fixtureScene(count: 200, seed: 21, degree: 3, camera: cam, eye: eye)
        var dirty = clean
        let bad: [Int: (inout GaussianModel, Int) -> Void] = [
            3: { m, i in m.positions[i * 3 + 1] = .nan },
            8: { m, i in m.shRest[i * 45 + 44] = .infinity },  // even a coefficient of the last band
            9: { m, i in m.opacities[i] = -.infinity },
            12: { m, i in m.scales[i * 3] = .infinity },
            15: { m, i in m.rotations[i * 4 + 2] = .nan },
            19: { m, i in m.shDC[i * 3] = -.infinity },
        ]
        for (i, spoil) in bad { spoil(&dirty, i) }
        XCTAssertEqual(RasterizerReference.nonFiniteCount(dirty), bad.count)
        XCTAssertEqual(RasterizerReference.nonFiniteCount(clean), 0)
        let projected = RasterizerReference.project(dirty, camera: cam, settings: RasterSettings())
        for i in bad.keys { XCTAssertNil(projected[i], "Gaussian \(i)") }

        // Same image as the model without them.
        let keep = (0..<clean.count).filter { bad[$0] == nil }
        func subset(_ m: GaussianModel) -> GaussianModel {
            func rows(_ a: [Float], _ n: Int) -> [Float] { keep.flatMap { a[($0 * n)..<($0 * n + n)] } }
            return GaussianModel(shDegree: m.shDegree, positions: rows(m.positions, 3), shDC: rows(m.shDC, 3),
                                 shRest: rows(m.shRest, m.restPerGaussian), opacities: rows(m.opacities, 1),
                                 scales: rows(m.scales, 3), rotations: rows(m.rotations, 4))
        }
        let settings = RasterSettings(background: SIMD3(0.5, 0.5, 0.5))
        let expected = RasterizerReference.renderTiled(subset(clean), camera: cam, settings: settings)
        let tiled = RasterizerReference.renderTiled(dirty, camera: cam, settings: settings)
        XCTAssertEqual(tiled, expected)
        XCTAssertEqual(RasterizerReference.render(dirty, camera: cam, settings: settings), expected)
        assertFinite(tiled, "non-finite model")
    }

    func testZeroQuaternionAndOverflowingScaleAreCulled() {
        var b = ModelBuilder(degree: 0)
        b.add(position: SIMD3(0, 0, 2), logScale: SIMD3(repeating: -3), rotation: .zero, logit: 0, dc: .zero)
        b.add(position: SIMD3(0, 0, 2), logScale: SIMD3(100, 0, 0), logit: 0, dc: .zero)
        b.add(position: SIMD3(1e30, 0, 0.02), logScale: SIMD3(repeating: -3), logit: 0, dc: .zero)
        let cam = identityCamera()
        let p = RasterizerReference.project(b.model, camera: cam, settings: RasterSettings())
        XCTAssertEqual(p, [nil, nil, nil])
        assertTwinsAgree(b.model, cam, RasterSettings(), "degenerate")
    }

    func testNearPlaneAndBehindCulling() {
        var b = ModelBuilder(degree: 0)
        for z: Float in [-1, 0, 0.005, 0.01, 0.0101, 0.5] {
            b.add(position: SIMD3(0, 0, z), logScale: SIMD3(repeating: -6), logit: 2, dc: .zero)
        }
        let p = RasterizerReference.project(b.model, camera: identityCamera(), settings: RasterSettings())
        XCTAssertEqual(p.map { $0 != nil }, [false, false, false, false, true, true])
    }

    func testOpacityAndOffScreenCulling() {
        let cam = identityCamera()
        var b = ModelBuilder(degree: 0)
        let faint = log((1.0 / 255 * 0.99) / (1 - 1.0 / 255 * 0.99))
        b.add(position: SIMD3(0, 0, 2), logScale: SIMD3(repeating: -3), logit: Float(faint), dc: .zero)  // o < 1/255
        b.add(position: SIMD3(-2, 0, 2), logScale: SIMD3(repeating: -4), logit: 2, dc: .zero)  // far left
        b.add(position: SIMD3(0, 2, 2), logScale: SIMD3(repeating: -4), logit: 2, dc: .zero)   // far below
        b.add(position: SIMD3(-0.74, 0, 2), logScale: SIMD3(repeating: -4), logit: 2, dc: .zero) // just off the left edge
        b.add(position: SIMD3(-0.6, 0, 2), logScale: SIMD3(repeating: -4), logit: 2, dc: .zero)  // overlapping the left edge
        let p = RasterizerReference.project(b.model, camera: cam, settings: RasterSettings())
        XCTAssertEqual(p.map { $0 != nil }, [false, false, false, false, true])
        XCTAssertEqual(p[4]?.tileMin.x, 0)
        XCTAssertEqual(p[4]?.tileMax.x, 1)
        // Antialiased mode culls on the compensated opacity.
        var c = ModelBuilder(degree: 0)
        c.add(position: SIMD3(0, 0, 2), logScale: SIMD3(repeating: -12), logit: -4, dc: .zero)
        XCTAssertNotNil(RasterizerReference.project(c.model, camera: cam, settings: RasterSettings())[0])
        XCTAssertNil(RasterizerReference.project(c.model, camera: cam, settings: RasterSettings(antialias: true))[0])
    }

    func testCameraInsideHugeGaussian() {
        let cam = identityCamera(width: 100, height: 70, f: 60)
        var b = ModelBuilder(degree: 2)
        b.add(position: SIMD3(0.05, -0.02, 0.3), logScale: SIMD3(2, 1.5, 2.5),
              rotation: SIMD4(0.9, 0.2, 0.1, 0.3), logit: 1, dc: SIMD3(1, 0, -1),
              rest: (0..<24).map { Float($0 % 5) * 0.05 - 0.1 })
        b.add(position: SIMD3(0, 0, 0.02), logScale: SIMD3(repeating: 3), logit: 0.5, dc: SIMD3(0, 1, 0),
              rest: [Float](repeating: 0.1, count: 24))
        for antialias in [false, true] {
            let settings = RasterSettings(background: SIMD3(1, 1, 1), antialias: antialias)
            let p = RasterizerReference.project(b.model, camera: cam, settings: settings)
            for g in p.compactMap({ $0 }) {
                XCTAssertEqual(g.tileMin, SIMD2(0, 0))
                XCTAssertEqual(g.tileMax, SIMD2(Int32(cam.tilesX), Int32(cam.tilesY)))
                XCTAssertGreaterThan(g.radius.x, 1000)
            }
            assertTwinsAgree(b.model, cam, settings, "camera inside, aa \(antialias)")
            let img = RasterizerReference.renderTiled(b.model, camera: cam, settings: settings)
            XCTAssert(img.contributors.allSatisfy { $0 >= 1 })
        }
    }
}

// MARK: - Synthetic scene

final class ReferenceSyntheticSceneTests: XCTestCase {
    func testDeterministicAndWellFormed() {
        let a = SyntheticScene.make(count: 500, seed: 42)
        XCTAssertEqual(a, SyntheticScene.make(count: 500, seed: 42))
        XCTAssertNotEqual(a, SyntheticScene.make(count: 500, seed: 43))
        XCTAssertEqual(a.shDegree, 3)
        XCTAssertEqual(a.count, 500)
        XCTAssertNil(a.shapeProblem())
        XCTAssertNil(a.firstNonFinite())
        XCTAssertEqual(SyntheticScene.make(count: 0, seed: 1).count, 0)
        // A prefix of a larger scene is the smaller scene.
        XCTAssertEqual(Array(SyntheticScene.make(count: 600, seed: 42).opacities.prefix(500)), a.opacities)
        let bounds = a.bounds!
        XCTAssert(all(bounds.min .>= SyntheticScene.boxMin) && all(bounds.max .<= SyntheticScene.boxMax))
        XCTAssert(a.rest(0).contains { $0 != 0 }, "SH rest coefficients are set")
        let cam = SyntheticScene.defaultCamera(width: 1280, height: 720)
        XCTAssertEqual(cam.position, .zero)
        XCTAssertEqual(cam.cx, 640)
        XCTAssertEqual(cam.cy, 360)
    }

    /// The prepare-stage statistics stated in SyntheticScene's documentation.
    func testStatisticsAt1280x720() {
        let model = SyntheticScene.make(count: 100_000, seed: 1)
        let cam = SyntheticScene.defaultCamera(width: 1280, height: 720)
        let visible = RasterizerReference.project(model, camera: cam, settings: RasterSettings()).compactMap { $0 }
        let tiles = visible.reduce(0) { $0 + $1.tileCount }
        var covered = 0
        for g in visible {
            let x0 = Int(g.tileMin.x) * 16, x1 = min(Int(g.tileMax.x) * 16, cam.width)
            let y0 = Int(g.tileMin.y) * 16, y1 = min(Int(g.tileMax.y) * 16, cam.height)
            covered += (x1 - x0) * (y1 - y0)
        }
        let tilesPerGaussian = Double(tiles) / Double(visible.count)
        let perPixel = Double(covered) / Double(cam.width * cam.height)
        XCTAssert((40_000...45_000).contains(visible.count), "visible \(visible.count)")
        XCTAssert((3.5...4.5).contains(tilesPerGaussian), "tiles per Gaussian \(tilesPerGaussian)")
        XCTAssert((30...60).contains(perPixel), "Gaussians per pixel \(perPixel)")
    }
}

private extension GaussianModel {
    func rest(_ i: Int) -> ArraySlice<Float> { shRest[(i * restPerGaussian)..<((i + 1) * restPerGaussian)] }
}
