import CShaderLayouts
import Compute
import ComputeTestSupport
import Datasets
import Geometry
@testable import Splatting
import Training
import XCTest

/// Adaptive density control on the GPU against its Swift twins: the same
/// Gaussians come out in the same order (exact counts, indices and kinds;
/// parameters and moments within float tolerance), on random models with
/// every case present (clone, split, opacity prune, screen and world size
/// prune, kept), and with --max-gaussians binding.
final class DensificationTests: GPUTestCase {
    /// N Gaussians (SH degree 1) with statistics that make every case occur.
    func fixture(_ n: Int, seed: UInt64) -> (GaussianModel, [Float], [Float], [Float], [String: (m: [Float], v: [Float])]) {
        var rng = SplitMix64(seed: seed)
        var model = GaussianModel(count: n, shDegree: 1)
        for i in 0..<n {
            for k in 0..<3 {
                model.positions[3 * i + k] = rng.uniform(-1, 1)
                model.scales[3 * i + k] = rng.uniform(log(0.002), log(0.3))  // log-uniform
                model.shDC[3 * i + k] = rng.uniform(-1, 1)
            }
            for k in 0..<4 { model.rotations[4 * i + k] = rng.normal() }
            model.opacities[i] = rng.uniform(-7, 3)  // sigmoid from 0.0009 (pruned) to 0.95
        }
        for k in model.shRest.indices { model.shRest[k] = rng.uniform(-0.1, 0.1) }
        let grad = (0..<n).map { _ in rng.uniform(0, 6e-4) }, views = (0..<n).map { _ in Float(Int(rng.uniform(0, 4))) }
        let radius = (0..<n).map { _ in rng.uniform(0, 30) }
        var moments: [String: (m: [Float], v: [Float])] = [:]
        for group in model.schema.groups {
            let dim = group.floatsPerGaussian
            moments[group.name] = ((0..<n * dim).map { _ in rng.uniform(-1, 1) }, (0..<n * dim).map { _ in rng.uniform(0, 1) })
        }
        return (model, grad, views, radius, moments)
    }

    func run(n: Int, cap: Int, iteration: Int) throws {
        guard device.info.float32AtomicAdd else {
            throw XCTSkip("\(device.info.displayName) lacks shaderBufferFloat32AtomicAdd (VK_EXT_shader_atomic_float): "
                          + "the rasterizer backward needs float atomics; the test checks densification (clone, split, prune, cap) against its twin")
        }
        let (model, grad, views, radius, moments) = fixture(n, seed: UInt64(n + cap))
        var settings = DensificationSettings()
        settings.maxGaussians = cap
        settings.maxScreenRadius = 20  // off by default; on here so the kernel's size prunes are covered
        settings.maxWorldScale = 0.1
        let extent = 5.0
        let rasterizer = try GaussianRasterizer(device: device)
        try rasterizer.setModel(model)
        let adam = try Adam(device: device)
        try adam.restore(step: 10, moments: moments)
        let densifier = try GaussianDensifier(device: device, settings: settings)
        densifier.seed = 7
        try densifier.setStatistics(gradAccum: grad, views: views, maxRadius: radius)
        let params = densifier.parameters(iteration: iteration, extent: extent, threshold: settings.gradThreshold, grow: true)
        let report = try densifier.densify(rasterizer: rasterizer, adam: adam, iteration: iteration, extent: extent)

        // The twin, with the threshold the GPU settled on.
        var p = params
        p.gradThreshold = Float(report.threshold.isFinite ? report.threshold : .infinity)
        if !report.threshold.isFinite { p.flags &= ~DENSIFY_FLAG_GROW }
        let (outputs, actions) = GaussianDensification.classify(model: model, gradAccum: grad, views: views, maxRadius: radius, params: p)
        let (source, kinds) = GaussianDensification.scatter(outputs: outputs, actions: actions)
        XCTAssertEqual(report.after, source.count, "Gaussians after")
        XCTAssertEqual(rasterizer.gaussianCount, source.count)
        if cap > 0 { XCTAssertLessThanOrEqual(report.after, max(cap, n)) }
        let kindsSeen = Set(kinds)
        XCTAssertTrue(kindsSeen.isSuperset(of: [DENSIFY_KIND_KEEP, DENSIFY_KIND_SPLIT0, DENSIFY_KIND_CLONE]), "every case occurs: \(kindsSeen)")
        XCTAssertGreaterThan(report.pruned, 0)
        XCTAssertEqual(report.cloned, actions.filter { $0 & DENSIFY_ACTION_CLONE != 0 }.count)
        XCTAssertEqual(report.split, actions.filter { $0 & DENSIFY_ACTION_SPLIT != 0 }.count)
        XCTAssertEqual(report.pruned, zip(actions, outputs).filter { a, o in a & DENSIFY_ACTION_SPLIT != 0 ? o == 0 : a & DENSIFY_ACTION_KEEP == 0 }.count)
        if cap > 0 { XCTAssertGreaterThan(report.threshold, settings.gradThreshold, "the cap raised the threshold") }

        let gpuModel = try rasterizer.currentModel()
        let gpuMoments = try adam.downloadMoments()
        // What the gather did to each group before the schema described it.
        XCTAssertEqual(model.schema.groups.map { GaussianDensifier.field($0.densification) },
                       [DENSIFY_FIELD_POSITIONS, DENSIFY_FIELD_SCALES] + [UInt32](repeating: DENSIFY_FIELD_GENERIC, count: 4))
        for (k, group) in model.schema.groups.enumerated() {
            let name = group.name
            let (wantP, wantM, wantV) = GaussianDensification.gather(
                source: source, kinds: kinds, params: model.parameterGroups[k], m: moments[name]!.m, v: moments[name]!.v,
                dim: group.floatsPerGaussian, field: GaussianDensifier.field(group.densification),
                scales: model.scales, rotations: model.rotations, seed: p.seed)
            let gotP = gpuModel.parameterGroups[k]
            XCTAssertEqual(gotP.count, wantP.count, name)
            XCTAssertEqual(gpuMoments[name]?.m.count, wantM.count, name)
            for e in wantP.indices {
                XCTAssertEqual(gotP[e], wantP[e], accuracy: 1e-5 * max(1, abs(wantP[e])), "\(name)[\(e)]")
                XCTAssertEqual(gpuMoments[name]!.m[e], wantM[e], "\(name) m[\(e)]")
                XCTAssertEqual(gpuMoments[name]!.v[e], wantV[e], "\(name) v[\(e)]")
            }
        }
        // Split children move: their positions differ from the parent's.
        if let j = kinds.firstIndex(of: DENSIFY_KIND_SPLIT1) {
            let i = Int(source[j])
            XCTAssertNotEqual(gpuModel.positions[3 * j], model.positions[3 * i])
        }
        // Statistics start again from zero for the new Gaussians.
        let stats = try densifier.statistics()
        XCTAssertEqual(stats.gradAccum.count, source.count)
        XCTAssertTrue(stats.gradAccum.allSatisfy { $0 == 0 } && stats.views.allSatisfy { $0 == 0 })
    }

    func testMatchesTwin() throws { try run(n: 1000, cap: 0, iteration: 3100) }
    func testMatchesTwinAcrossWorkgroups() throws { try run(n: 5003, cap: 0, iteration: 600) }
    func testCapLimitsGrowth() throws { try run(n: 1000, cap: 750, iteration: 3100) }

    /// `--max-world-scale 0` turns world-size pruning off (it must not prune everything).
    func testZeroMaxWorldScaleIsOff() throws {
        var settings = DensificationSettings()
        settings.maxWorldScale = 0
        let off = try GaussianDensifier(device: device, settings: settings).parameters(iteration: 3100, extent: 5, threshold: 2e-4, grow: true)
        XCTAssertEqual(off.maxWorldScale, .infinity)
        settings.maxWorldScale = 0.1
        let on = try GaussianDensifier(device: device, settings: settings).parameters(iteration: 3100, extent: 5, threshold: 2e-4, grow: true)
        XCTAssertEqual(on.maxWorldScale, 0.5, accuracy: 1e-6)
    }

    func testCapThresholdFromHistogram() {
        var bins = [UInt32](repeating: 0, count: Int(DENSIFY_HISTOGRAM_BINS))
        bins[900] = 5; bins[901] = 3; bins[950] = 2
        XCTAssertEqual(GaussianDensifier.cappedThreshold(histogram: bins, budget: 100, threshold: 1e-6), 1e-6)
        let t = GaussianDensifier.cappedThreshold(histogram: bins, budget: 5, threshold: 1e-9)
        XCTAssertEqual(t, Double(Float(bitPattern: 901 << 20)))
        // Budget 1 < the top non-empty bin: a threshold above every gradient.
        XCTAssertEqual(GaussianDensifier.cappedThreshold(histogram: bins, budget: 1, threshold: 1e-9), Double(Float(bitPattern: 951 << 20)))
        bins[Int(DENSIFY_HISTOGRAM_BINS) - 1] = 3
        XCTAssertEqual(GaussianDensifier.cappedThreshold(histogram: bins, budget: 1, threshold: 1e-9), .infinity)
    }

    func testHashAndNormalTwins() {
        // lowbias32 reference values.
        XCTAssertEqual(GaussianDensification.hash(0), 0)
        var sum = 0.0, sq = 0.0
        for i in 0..<20000 {
            let z = Double(GaussianDensification.normal(seed: 3, index: UInt32(i), child: 0, axis: 1))
            sum += z; sq += z * z
        }
        XCTAssertEqual(sum / 20000, 0, accuracy: 0.03)
        XCTAssertEqual(sq / 20000, 1, accuracy: 0.04)
    }

    func testOpacityResetMatchesTwin() throws {
        let (model, _, _, _, moments) = fixture(700, seed: 5)
        let rasterizer = try GaussianRasterizer(device: device)
        try rasterizer.setModel(model)
        let adam = try Adam(device: device)
        try adam.restore(step: 3, moments: moments)
        let densifier = try GaussianDensifier(device: device, settings: DensificationSettings())
        try densifier.resetOpacity(rasterizer: rasterizer, adam: adam)
        var want = model.opacities
        GaussianDensification.resetOpacity(&want, ceiling: Float(log(0.01 / 0.99)))
        XCTAssertEqual(try rasterizer.currentModel().opacities, want)
        let m = try adam.downloadMoments()
        XCTAssertTrue(m["opacities"]!.m.allSatisfy { $0 == 0 } && m["opacities"]!.v.allSatisfy { $0 == 0 })
        XCTAssertEqual(m["positions"]!.m, moments["positions"]!.m)
    }

    /// Statistics of two back-propagated frames vs the twin on the kernel's own inputs.
    func testAccumulateMatchesTwin() throws {
        guard device.info.float32AtomicAdd else {
            throw XCTSkip("\(device.info.displayName) lacks shaderBufferFloat32AtomicAdd (VK_EXT_shader_atomic_float): "
                          + "the rasterizer backward needs float atomics; the test checks the accumulated gradient statistics against the twin")
        }
        let rasterizer = try GaussianRasterizer(device: device)
        try rasterizer.setModel(SyntheticScene.make(count: 2000, seed: 4))
        let camera = SyntheticScene.defaultCamera(width: 96, height: 64)
        let densifier = try GaussianDensifier(device: device, settings: DensificationSettings())
        let n = rasterizer.gaussianCount
        var grad = [Float](repeating: 0, count: n), views = grad, radius = grad
        var rng = SplitMix64(seed: 9)
        for _ in 0..<2 {
            try rasterizer.renderOnDevice(camera: camera, settings: RasterSettings())
            let upstream = try GPUBuffer(device: device, (0..<camera.width * camera.height * 3).map { _ in rng.uniform(-1, 1) })
            try rasterizer.backwardOnDevice(gradColor: upstream.slice(offset: 0, length: upstream.length))
            let stream = try CommandStream(device: device)
            try densifier.recordAccumulate(stream, rasterizer: rasterizer)
            try stream.run()
            let inputs = rasterizer.densificationInputs()!
            let splats = try inputs.splats[0].buffer.read(ProjectedSplat.self, count: n, device: device)
            let touched = try inputs.touched.buffer.read(UInt32.self, count: n, device: device)
            let g = try inputs.gradients.buffer.read(SplatGradient.self, count: n, device: device)
            GaussianDensification.accumulate(gradAccum: &grad, views: &views, maxRadius: &radius, visible: touched.map { $0 > 0 },
                                             meanGradients: g.map { SIMD2($0.meanX, $0.meanY) },
                                             radii: splats.map { max($0.radiusX, $0.radiusY) }, width: camera.width, height: camera.height)
        }
        let got = try densifier.statistics()
        XCTAssertGreaterThan(views.filter { $0 == 2 }.count, 100)
        XCTAssertEqual(got.views, views)
        XCTAssertEqual(got.maxRadius, radius)
        for i in 0..<n { XCTAssertEqual(got.gradAccum[i], grad[i], accuracy: 1e-6 * max(1, grad[i]), "\(i)") }
    }

    func testSchedule() {
        let s = DensificationSettings()
        XCTAssertFalse(s.densifies(at: 500))
        XCTAssertTrue(s.densifies(at: 600))
        XCTAssertFalse(s.densifies(at: 650))
        XCTAssertFalse(s.densifies(at: 15_000))
        XCTAssertTrue(s.resetsOpacity(at: 3000, of: 30_000))
        XCTAssertFalse(s.resetsOpacity(at: 15_000, of: 30_000))
        XCTAssertTrue(s.resetsOpacity(at: 3000, of: 7000))
        XCTAssertFalse(s.resetsOpacity(at: 6000, of: 7000), "too close to the end to recover")
        XCTAssertFalse(s.resetsOpacity(at: 3000, of: 3000))
    }
}
