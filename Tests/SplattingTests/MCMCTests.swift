import CShaderLayouts
import Compute
import ComputeTestSupport
import Datasets
import Foundation
import Geometry
@testable import Splatting
import Training
import XCTest

/// MCMC densification (Kheradmand et al. 2024): each kernel against its
/// Swift twin on random and edge-case inputs, the relocation formula against
/// what it promises, refinement (relocation, growth) on the GPU against the
/// twins' plan, and the budget holding in training.
final class MCMCTests: GPUTestCase {
    func densifier() throws -> MCMCDensifier { try MCMCDensifier(device: device, settings: MCMCSettings()) }

    /// n copies at the corrected opacity composite to the original opacity at
    /// the centre, (1 - o')^n = 1 - o; ratio 1 changes nothing; the scale
    /// factor shrinks as copies are added; the GPU kernel agrees with the
    /// Double twin for ratios 1...60 (51 and above clamp alike).
    func testRelocationKernelMatchesTwin() throws {
        for o in [0.01, 0.3, 0.9, 0.999] {
            XCTAssertEqual(MCMCDensification.relocation(opacity: o, ratio: 1, minOpacity: 0.005).opacity, o)
            XCTAssertEqual(MCMCDensification.relocation(opacity: o, ratio: 1, minOpacity: 0.005).scaleFactor, 1)
            var previous = 1.0
            for n in 2...8 {
                let r = MCMCDensification.relocation(opacity: o, ratio: n, minOpacity: 0)
                XCTAssertEqual(pow(1 - r.opacity, Double(n)), 1 - o, accuracy: 1e-12)
                XCTAssertLessThan(r.scaleFactor, previous, "o \(o), n \(n)")
                XCTAssertGreaterThan(r.scaleFactor, 0)
                previous = r.scaleFactor
            }
        }
        // n = 2 by hand: o' = 1 - sqrt(1 - o); denominator o' + (o' - o'^2 / sqrt 2).
        let fresh: Double = 1 - (0.4 as Double).squareRoot()
        let second: Double = fresh - fresh * fresh / (2 as Double).squareRoot()
        let handFactor: Double = 0.6 / (fresh + second)
        XCTAssertEqual(MCMCDensification.relocation(opacity: 0.6, ratio: 2, minOpacity: 0).scaleFactor, handFactor, accuracy: 1e-12)

        var rng = SplitMix64(seed: 3)
        let n = 600
        var logits = (0..<n).map { _ in rng.uniform(-5, 7) }
        logits[0] = -5.29  // at the dead line
        logits[1] = 15     // nearly opaque
        let scales = (0..<(3 * n)).map { _ in rng.uniform(-6, 0) }
        let ratios: [UInt32] = (0..<n).map { (i: Int) -> UInt32 in i % 61 == 0 ? 1 : UInt32(1 + i % 60) }
        let mcmc = try densifier()
        let oB = try GPUBuffer(device: device, logits, label: "opacities"), sB = try GPUBuffer(device: device, scales, label: "scales")
        let rB = try GPUBuffer(device: device, ratios, label: "ratios")
        let stream = try CommandStream(device: device)
        try mcmc.recordRelocate(stream, count: n, opacities: oB.slice(offset: 0, length: n * 4), scales: sB.slice(offset: 0, length: n * 12),
                                ratios: rB.slice(offset: 0, length: n * 4))
        try stream.run()
        let gpuLogits = try oB.read(Float.self, count: n, device: device), gpuScales = try sB.read(Float.self, count: 3 * n, device: device)
        for i in 0..<n {
            let o = 1 / (1 + exp(-Double(logits[i])))
            let r = MCMCDensification.relocation(opacity: o, ratio: Int(ratios[i]), minOpacity: 0.005)
            let gpuOpacity = 1 / (1 + exp(-Double(gpuLogits[i])))
            XCTAssertEqual(gpuOpacity, r.opacity, accuracy: 2e-5 + 1e-4 * r.opacity, "opacity of \(i) (o \(o), ratio \(ratios[i]))")
            for a in 0..<3 {
                let expected = Double(scales[3 * i + a]) + log(r.scaleFactor)
                XCTAssertEqual(Double(gpuScales[3 * i + a]), expected, accuracy: 2e-3, "scale of \(i) (o \(o), ratio \(ratios[i]))")
            }
            XCTAssertTrue(gpuLogits[i].isFinite && gpuScales[3 * i].isFinite)
        }
    }

    /// The regularisers add lambda_o / N sigmoid' and lambda_s / (3N) exp(s) to
    /// the gradients they find, as the twin; the twin's opacity term is the
    /// central difference of lambda_o mean(sigmoid).
    func testRegularizeKernelMatchesTwin() throws {
        var rng = SplitMix64(seed: 5)
        let n = 300
        let logits = (0..<n).map { _ in rng.uniform(-8, 8) }, scales = (0..<(3 * n)).map { _ in rng.uniform(-7, 1) }
        let gradO = (0..<n).map { _ in rng.uniform(-1e-3, 1e-3) }, gradS = (0..<(3 * n)).map { _ in rng.uniform(-1e-3, 1e-3) }
        var settings = MCMCSettings()
        settings.opacityRegularization = 0.02
        settings.scaleRegularization = 0.03
        let mcmc = try MCMCDensifier(device: device, settings: settings)
        let buffers = try [logits, scales, gradO, gradS].map { try GPUBuffer(device: device, $0, label: "regularize") }
        let stream = try CommandStream(device: device)
        try mcmc.recordRegularize(stream, count: n, opacities: buffers[0].slice(offset: 0, length: n * 4), scales: buffers[1].slice(offset: 0, length: n * 12),
                                  opacityGradients: buffers[2].slice(offset: 0, length: n * 4), scaleGradients: buffers[3].slice(offset: 0, length: n * 12))
        try stream.run()
        var twinO = gradO, twinS = gradS
        MCMCDensification.regularize(opacities: logits, scales: scales, opacityGradients: &twinO, scaleGradients: &twinS,
                                     opacityWeight: 0.02, scaleWeight: 0.03)
        let gpuO = try buffers[2].read(Float.self, count: n, device: device), gpuS = try buffers[3].read(Float.self, count: 3 * n, device: device)
        for i in 0..<n { XCTAssertEqual(gpuO[i], twinO[i], accuracy: 1e-9 + 1e-5 * abs(twinO[i])) }
        for i in 0..<(3 * n) { XCTAssertEqual(gpuS[i], twinS[i], accuracy: 1e-9 + 1e-5 * abs(twinS[i])) }
        // d/dx of 0.02 mean(sigmoid(x)) at Gaussian 7, central difference in Double.
        func loss(_ x: Double) -> Double { 0.02 / Double(n) / (1 + exp(-x)) }
        let x = Double(logits[7]), h = 1e-4
        XCTAssertEqual(Double(twinO[7] - gradO[7]), (loss(x + h) - loss(x - h)) / (2 * h), accuracy: 1e-9)
    }

    /// The noise moves each mean by noiseScale x gate x Sigma epsilon as the
    /// twin does; opaque Gaussians (gate ~ e^-90) stay where they are.
    func testNoiseKernelMatchesTwin() throws {
        var rng = SplitMix64(seed: 9)
        let n = 400
        let positions = (0..<(3 * n)).map { _ in rng.uniform(-2, 2) }, scales = (0..<(3 * n)).map { _ in rng.uniform(-4, -1) }
        let rotations = (0..<(4 * n)).map { _ in rng.normal() }
        var logits = (0..<n).map { _ in rng.uniform(-9, -3) }
        logits[0] = 3  // opaque: does not move
        let mcmc = try densifier()
        let pB = try GPUBuffer(device: device, positions, label: "positions")
        let others = try [scales, rotations, logits].map { try GPUBuffer(device: device, $0, label: "noise inputs") }
        let stream = try CommandStream(device: device)
        let scale = 1.6e-4 * 5e5 * 3
        try mcmc.recordNoise(stream, count: n, positions: pB.slice(offset: 0, length: n * 12), scales: others[0].slice(offset: 0, length: n * 12),
                             rotations: others[1].slice(offset: 0, length: n * 16), opacities: others[2].slice(offset: 0, length: n * 4),
                             noiseScale: scale, seed: 1234)
        try stream.run()
        var twin = positions
        MCMCDensification.noise(positions: &twin, scales: scales, rotations: rotations, opacities: logits, noiseScale: scale, minOpacity: 0.005, seed: 1234)
        let gpu = try pB.read(Float.self, count: 3 * n, device: device)
        var moved = 0
        for i in 0..<(3 * n) {
            let step = Double(twin[i] - positions[i])
            XCTAssertEqual(Double(gpu[i] - positions[i]), step, accuracy: 1e-6 + 1e-3 * abs(step), "coordinate \(i)")
            if abs(step) > 1e-5 { moved += 1 }
        }
        XCTAssertGreaterThan(moved, n, "faint Gaussians move")
        XCTAssertEqual(Array(gpu[0..<3]), Array(positions[0..<3]), "an opaque Gaussian stays")
    }

    /// Draws follow the weights; zero weights are never drawn; the plans put
    /// copies where the paper does.
    func testDrawsAndPlans() {
        var rng = SplitMix64(seed: 11)
        let weights: [Float] = [0, 1, 3, 0, 4]
        let drawn = MCMCDensification.draw(weights: weights, count: 8000, rng: &rng)
        let counts = (0..<5).map { k in drawn.filter { $0 == k }.count }
        XCTAssertEqual(counts[0] + counts[3], 0)
        XCTAssertEqual(Double(counts[2]) / 8000, 3.0 / 8, accuracy: 0.02)
        XCTAssertEqual(Double(counts[4]) / 8000, 4.0 / 8, accuracy: 0.02)

        let opacities: [Float] = [0.5, 0.001, 0.9, 0.004, 0.2]
        let plan = MCMCDensification.relocationPlan(opacities: opacities, minOpacity: 0.005, rng: &rng)!
        XCTAssertEqual(plan.moved, 2)
        for dead in [1, 3] {
            XCTAssertEqual(plan.kinds[dead], DENSIFY_KIND_CLONE)
            XCTAssertNotEqual(plan.source[dead], UInt32(dead))
            XCTAssertGreaterThan(opacities[Int(plan.source[dead])], 0.005, "copies come from live Gaussians")
        }
        for slot in 0..<5 {
            let family = plan.source.filter { $0 == plan.source[slot] }.count
            XCTAssertEqual(Int(plan.ratios[slot]), plan.kinds[slot] == DENSIFY_KIND_KEEP ? 1 : family, "slot \(slot)")
        }
        XCTAssertNil(MCMCDensification.relocationPlan(opacities: [0.5, 0.6], minOpacity: 0.005, rng: &rng), "nothing dead")
        let growth = MCMCDensification.growthPlan(opacities: opacities, adding: 3, rng: &rng)
        XCTAssertEqual(growth.source.count, 8)
        XCTAssertEqual(Array(growth.kinds[5...]), [DENSIFY_KIND_CLONE, DENSIFY_KIND_CLONE, DENSIFY_KIND_CLONE])
    }

    /// One refinement on the GPU (relocation of dead Gaussians, then 5%
    /// growth) gives the model the twins give: the plans drawn from the same
    /// generator, every group copied (gather twin) and the copies' opacities
    /// and scales corrected (relocation twin); copies start with zero Adam
    /// moments, kept Gaussians keep theirs.
    func testRefinementMatchesTwins() throws {
        for (budget, deadFraction) in [(400, 0.2), (2000, 0.0)] {
            var rng = SplitMix64(seed: UInt64(budget))
            let n = 400
            var model = GaussianModel(count: n, shDegree: 1)
            for i in 0..<n {
                for k in 0..<3 {
                    model.positions[3 * i + k] = rng.uniform(-1, 1)
                    model.scales[3 * i + k] = rng.uniform(-5, -2)
                    model.shDC[3 * i + k] = rng.uniform(-1, 1)
                }
                for k in 0..<4 { model.rotations[4 * i + k] = rng.normal() }
                model.opacities[i] = Double(i) < deadFraction * Double(n) ? -7 : rng.uniform(-4, 4)
            }
            for k in model.shRest.indices { model.shRest[k] = rng.uniform(-0.1, 0.1) }
            var moments: [String: (m: [Float], v: [Float])] = [:]
            for group in model.schema.groups {
                let d = group.floatsPerGaussian
                moments[group.name] = ((0..<n * d).map { _ in rng.uniform(-1, 1) }, (0..<n * d).map { _ in rng.uniform(0, 1) })
            }
            let rasterizer = try GaussianRasterizer(device: device)
            try rasterizer.setModel(model)
            let adam = try Adam(device: device)
            try adam.restore(step: 10, moments: moments)
            let densifier = try GaussianDensifier(device: device, settings: DensificationSettings())
            var settings = MCMCSettings()
            settings.budget = budget
            let mcmc = try MCMCDensifier(device: device, settings: settings)
            mcmc.seed = 42
            let report = try mcmc.refine(rasterizer: rasterizer, adam: adam, densifier: densifier)

            // The twins, step by step.
            var draws = MCMCDensification.drawGenerator(seed: 42, refinement: 0)
            var expected = model, expectedMoments = moments
            func apply(_ plan: MCMCDensification.Plan) {
                var groups = expected.parameterGroups
                for (k, group) in expected.schema.groups.enumerated() {
                    let d = group.floatsPerGaussian
                    let (p, m, v) = GaussianDensification.gather(source: plan.source, kinds: plan.kinds, params: groups[k],
                                                                 m: expectedMoments[group.name]!.m, v: expectedMoments[group.name]!.v,
                                                                 dim: d, field: DENSIFY_FIELD_GENERIC, scales: [], rotations: [], seed: 0)
                    groups[k] = p
                    expectedMoments[group.name] = (m, v)
                }
                expected = GaussianModel(shDegree: expected.shDegree, parameterGroups: groups)
                for j in plan.source.indices where plan.ratios[j] > 1 {
                    let o = 1 / (1 + exp(-Double(expected.opacities[j])))
                    let r = MCMCDensification.relocation(opacity: o, ratio: Int(plan.ratios[j]), minOpacity: 0.005)
                    expected.opacities[j] = Float(log(r.opacity / (1 - r.opacity)))
                    for a in 0..<3 { expected.scales[3 * j + a] += Float(log(r.scaleFactor)) }
                }
            }
            let relocation = MCMCDensification.relocationPlan(opacities: MCMCDensification.opacities(logits: model.opacities), minOpacity: 0.005, rng: &draws)
            if let relocation { apply(relocation) }
            XCTAssertEqual(report.relocated, relocation?.moved ?? 0)
            let target = min(budget, Int(Double(n) * 1.05))
            if target > n {
                // Only without relocation: after one, the GPU's float opacities
                // weigh the draws and a draw on a boundary could differ.
                XCTAssertNil(relocation)
                apply(MCMCDensification.growthPlan(opacities: MCMCDensification.opacities(logits: model.opacities), adding: target - n, rng: &draws))
            }
            XCTAssertEqual(report.after, expected.count)
            XCTAssertEqual(rasterizer.gaussianCount, expected.count)
            XCTAssertEqual(report.after, deadFraction > 0 ? n : target, "relocation keeps the count; growth stops at the budget")
            let gpu = try rasterizer.currentModel()
            for (k, group) in gpu.schema.groups.enumerated() {
                let a = gpu.parameterGroups[k], b = expected.parameterGroups[k]
                for i in a.indices { XCTAssertEqual(a[i], b[i], accuracy: 2e-3 * max(1, abs(b[i])), "\(group.name)[\(i)]") }
            }
            let gpuMoments = try adam.downloadMoments()
            for group in gpu.schema.groups {
                XCTAssertEqual(gpuMoments[group.name]!.m, expectedMoments[group.name]!.m, group.name)
                XCTAssertEqual(gpuMoments[group.name]!.v, expectedMoments[group.name]!.v, group.name)
            }
        }
    }

    /// The schedule's sizes: a quarter, a half, then full size for the
    /// default 7000-iteration run; shorter runs scale the steps; a schedule
    /// longer than the run never reaches full size.
    func testResolutionSchedule() {
        let schedule = ResolutionSchedule()
        XCTAssertEqual([1, 3000, 3001, 6000, 6001, 7000].map { schedule.level(atIteration: $0, of: 7000) }, [2, 2, 1, 1, 0, 0])
        XCTAssertEqual(schedule.resolvedInterval(iterations: 700), 300)
        XCTAssertEqual(schedule.resolvedInterval(iterations: 30_000), 3000)
        XCTAssertEqual(schedule.fullSizeIteration(of: 7000), 6001)
        var long = ResolutionSchedule()
        long.interval = 5000
        XCTAssertNil(long.fullSizeIteration(of: 7000))
        XCTAssertEqual(long.level(atIteration: 7000, of: 7000), 1)
        // Never below 32 px: beer at 1/4 (175 px) keeps both halvings, the toy at 40 px none.
        XCTAssertEqual(schedule.effectiveDownscales(shortestSide: 175), 2)
        XCTAssertEqual(schedule.effectiveDownscales(shortestSide: 100), 1)
        XCTAssertEqual(schedule.effectiveDownscales(shortestSide: 40), 0)
        var none = ResolutionSchedule()
        none.downscales = 0
        XCTAssertEqual(none.level(atIteration: 1, of: 7000), 0)
    }

    /// A recipe written before MCMC and the schedule (no such keys) reads
    /// back as that recipe; a new one round-trips.
    func testLegacyRecipesDecode() throws {
        var old = try JSONSerialization.jsonObject(with: JSONEncoder().encode(GaussianTrainingConfig())) as! [String: Any]
        for key in ["densify", "mcmc", "resolution"] { old[key] = nil }
        let decoded = try JSONDecoder().decode(GaussianTrainingConfig.self, from: JSONSerialization.data(withJSONObject: old))
        XCTAssertEqual(decoded, GaussianTrainingConfig.legacy)
        var config = GaussianTrainingConfig()
        config.mcmc.budget = 1234
        config.resolution.interval = 77
        XCTAssertEqual(try JSONDecoder().decode(GaussianTrainingConfig.self, from: JSONEncoder().encode(config)), config)
    }

    func testSubsampleKeepsADistinctSubset() {
        let cloud = PointCloud(positions: (0..<300).map(Float.init), colors: (0..<300).map { UInt8($0 % 256) })
        let kept = GaussianInitialization.subsample(cloud, to: 40, seed: 1)
        XCTAssertEqual(kept.count, 40)
        let firsts = stride(from: 0, to: kept.positions.count, by: 3).map { kept.positions[$0] }
        XCTAssertEqual(Set(firsts).count, 40)
        XCTAssertEqual(firsts, firsts.sorted(), "original order")
        XCTAssertTrue(firsts.allSatisfy { Int($0) % 3 == 0 })
        XCTAssertEqual(GaussianInitialization.subsample(cloud, to: 500, seed: 1), cloud)
    }

    /// Initial scales of flat and tiny point sets come back at once (two
    /// points once meant a grid of millions of empty cells).
    func testNeighbourDistanceOfFlatAndTinyPointSets() {
        let two = GaussianInitialization.meanSquaredNeighbourDistance([0, 0, 0, 0.2, 0.1, 0])
        XCTAssertEqual(two.map { Double(Float($0)) }, [0.05, 0.05].map { Double(Float($0)) })
        var flat: [Float] = []
        for i in 0..<2000 { flat += [Float(i % 50), Float(i / 50), 0] }
        let d = GaussianInitialization.meanSquaredNeighbourDistance(flat)
        XCTAssertEqual(d[60], 1, accuracy: 1e-9, "an inner grid point's 3 nearest are 1 away")
    }
}
