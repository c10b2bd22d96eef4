import CShaderLayouts
import Compute
import ComputePrimitives
import Datasets
import Foundation
import Geometry
import Training

/// MCMC densification (Kheradmand et al., NeurIPS 2024, "3D Gaussian
/// Splatting as Markov Chain Monte Carlo"), settings. The Gaussians are
/// samples of a distribution and the model never exceeds a budget: every
/// `interval` iterations, dead Gaussians (opacity at or below `minOpacity`)
/// are moved onto live ones drawn with probability proportional to opacity,
/// then `growth` more are added the same way until the budget is reached;
/// a Gaussian that now shares its place with copies takes the paper's
/// corrected opacity and scale. Each step adds noise to the means (scaled by
/// the covariance, gated to faint Gaussians, times the position learning
/// rate), and L1 regularisers on opacity and scale let unused Gaussians die.
/// Defaults are the paper's and gsplat's `MCMCStrategy` (docs/training.md).
public struct MCMCSettings: Codable, Equatable {
    /// The most Gaussians the model holds; 0: derived from the scene
    /// (`MCMCSettings.sceneBudget`) when training starts.
    public var budget = 0
    /// Relocation and growth every `interval` iterations after `from` and
    /// before `until`.
    public var from = 500
    public var until = 25_000
    public var interval = 100
    /// Growth per refinement, as a fraction of the model (5%).
    public var growth = 0.05
    /// Dead at or below this opacity; also the floor of relocated opacities.
    public var minOpacity = 0.005
    /// Weights of the L1 regularisers: mean opacity and mean scale.
    public var opacityRegularization = 0.01
    public var scaleRegularization = 0.01
    /// The noise's factor over the position learning rate (eta, 5e5).
    public var noiseLR = 5e5
    /// Initial opacity and scale factor (of the 3DGS neighbour-distance scale).
    public var initialOpacity = 0.5
    public var initialScale = 0.1
    /// Ratios (copies sharing one Gaussian) clamp here, as gsplat's table.
    public var maxRatio = 51
    public init() {}

    /// Whether iteration `step` (1-based, after its optimiser step) relocates and grows.
    public func refines(at step: Int) -> Bool {
        interval > 0 && step > from && step < until && step % interval == 0
    }

    /// Gaussians per pixel of the budget `sceneBudget` derives, and its floor.
    public static let budgetPerPixel = 0.25
    public static let minimumBudget = 10_000

    /// The budget used when none is given: `budgetPerPixel` Gaussians per
    /// pixel of one training image at the training size (their mean size),
    /// at least `minimumBudget` (docs/training.md, "Budget", has the
    /// measurements behind both).
    public static func sceneBudget(pixelsPerImage: Int) -> Int {
        max(minimumBudget, Int((Double(pixelsPerImage) * budgetPerPixel).rounded()))
    }
}

/// What one MCMC refinement did.
public struct MCMCReport: Equatable {
    public var before = 0, after = 0
    /// Dead Gaussians moved onto live ones, and Gaussians added.
    public var relocated = 0, added = 0
}

/// MCMC densification on the GPU: the regularisers' gradients
/// (`recordRegularize`, before the optimiser), the position noise
/// (`recordNoise`, after it) and relocation and growth (`refine`). The
/// multinomial draws happen on the CPU from the downloaded opacities (a few
/// hundred KB every `interval` iterations); the copies move with
/// `GaussianDensifier`'s regroup (fresh Adam moments for every copy and its
/// source, as the paper resets their optimiser state) and then the
/// correction kernel fixes their opacities and scales.
public final class MCMCDensifier {
    public let device: ComputeDevice
    public var settings: MCMCSettings
    let regularizeKernel, noiseKernel, relocateKernel: Kernel
    let workgroupSize: Int
    let ratios = ScratchBuffer(label: "mcmc ratios")
    /// The run's seed: with the refinement count it seeds the draws, and
    /// with the iteration the noise.
    public var seed: UInt64 = 0

    public init(device: ComputeDevice, settings: MCMCSettings) throws {
        self.device = device
        self.settings = settings
        workgroupSize = min(256, device.info.maxWorkgroupInvocations, device.info.maxWorkgroupSize[0])
        let spec = [UInt32(workgroupSize)]
        let push = MemoryLayout<MCMCParams>.size
        regularizeKernel = try device.kernel(ShaderLibrary.mcmcRegularize, bindings: [.read, .read, .readWrite, .readWrite],
                                             pushConstantBytes: push, specialization: spec)
        noiseKernel = try device.kernel(ShaderLibrary.mcmcNoise, bindings: [.readWrite, .read, .read, .read],
                                        pushConstantBytes: push, specialization: spec)
        relocateKernel = try device.kernel(ShaderLibrary.mcmcRelocate, bindings: [.readWrite, .readWrite, .read],
                                           pushConstantBytes: push, specialization: spec)
    }

    func groups(_ n: Int) -> Int { (n + workgroupSize - 1) / workgroupSize }

    func parameters(count: Int) -> MCMCParams {
        var p = MCMCParams()
        p.count = UInt32(count)
        p.minOpacity = Float(settings.minOpacity)
        p.noiseSharpness = 100
        p.maxRatio = UInt32(max(1, settings.maxRatio))
        return p
    }

    static func buffer(_ role: GaussianParameterGroup.Role, of rasterizer: GaussianRasterizer) throws -> (index: Int, buffer: GPUBuffer) {
        guard let k = rasterizer.schema.index(of: role) else {
            throw ComputeError.invalidArgument("MCMC densification needs a \(role) group; the \(rasterizer.schema.kind) schema marks none")
        }
        return (k, rasterizer.modelBuffers[k])
    }

    /// Records adding the regularisers' gradients (after the backward pass,
    /// before the optimiser reads the gradients).
    public func recordRegularize(_ stream: CommandStream, rasterizer: GaussianRasterizer) throws {
        let n = rasterizer.gaussianCount
        guard n > 0, settings.opacityRegularization > 0 || settings.scaleRegularization > 0 else { return }
        let trainable = rasterizer.trainableGroups()
        let (o, opacities) = try Self.buffer(.opacityLogit, of: rasterizer), (s, scales) = try Self.buffer(.logScale, of: rasterizer)
        let names = rasterizer.schema.groups.map(\.name)
        guard let opacityGradients = trainable.first(where: { $0.name == names[o] })?.gradients,
              let scaleGradients = trainable.first(where: { $0.name == names[s] })?.gradients else {
            throw ComputeError.invalidArgument("MCMC regularisers need the opacity and scale gradients of a backward pass")
        }
        try recordRegularize(stream, count: n, opacities: opacities.slice(offset: 0, length: n * 4), scales: scales.slice(offset: 0, length: n * 12),
                             opacityGradients: opacityGradients, scaleGradients: scaleGradients)
    }

    /// mcmc_regularize on explicit buffers: opacities [N] logits, scales
    /// [N, 3] log, and their gradients [N], [N, 3] (read and written).
    func recordRegularize(_ stream: CommandStream, count n: Int, opacities: BufferRange, scales: BufferRange,
                          opacityGradients: BufferRange, scaleGradients: BufferRange) throws {
        var p = parameters(count: n)
        p.opacityGradient = Float(settings.opacityRegularization / Double(n))
        p.scaleGradient = Float(settings.scaleRegularization / Double(3 * n))
        try stream.dispatch(regularizeKernel, [opacities, scales, opacityGradients, scaleGradients],
                            push: p, groups: groups(n), label: "mcmc regularize")
    }

    /// Records the position noise of (1-based) `iteration`, whose position
    /// learning rate is `learningRate` (after the optimiser step), in a scene
    /// of size `extent`. The step lr x eta x Sigma has units of length cubed:
    /// it is taken in the scene scaled to extent 1 (as gsplat trains on
    /// normalised scenes) and scaled back, lr eta Sigma / extent^2. In raw
    /// COLMAP units (beer: extent 7.4) the unscaled step flung faint
    /// Gaussians thousands of units away (docs/decisions.md).
    public func recordNoise(_ stream: CommandStream, rasterizer: GaussianRasterizer, learningRate: Double, extent: Double = 1, iteration: Int) throws {
        let n = rasterizer.gaussianCount
        guard n > 0, settings.noiseLR > 0 else { return }
        let positions = try Self.buffer(.position, of: rasterizer).buffer, scales = try Self.buffer(.logScale, of: rasterizer).buffer
        let rotations = try Self.buffer(.rotation, of: rasterizer).buffer, opacities = try Self.buffer(.opacityLogit, of: rasterizer).buffer
        try recordNoise(stream, count: n, positions: positions.slice(offset: 0, length: n * 12), scales: scales.slice(offset: 0, length: n * 12),
                        rotations: rotations.slice(offset: 0, length: n * 16), opacities: opacities.slice(offset: 0, length: n * 4),
                        noiseScale: learningRate * settings.noiseLR / max(extent * extent, 1e-12), seed: Self.noiseSeed(seed: seed, iteration: iteration))
    }

    /// mcmc_noise on explicit buffers: positions [N, 3] (moved), scales
    /// [N, 3] log, rotations [N, 4], opacities [N] logits.
    func recordNoise(_ stream: CommandStream, count n: Int, positions: BufferRange, scales: BufferRange, rotations: BufferRange,
                     opacities: BufferRange, noiseScale: Double, seed: UInt32) throws {
        var p = parameters(count: n)
        p.noiseScale = Float(noiseScale)
        p.seed = seed
        try stream.dispatch(noiseKernel, [positions, scales, rotations, opacities], push: p, groups: groups(n), label: "mcmc noise")
    }

    /// mcmc_relocate on explicit buffers: opacities [N] logits and scales
    /// [N, 3] log (corrected in place) of slots shared `ratios` [N] u32 ways.
    func recordRelocate(_ stream: CommandStream, count n: Int, opacities: BufferRange, scales: BufferRange, ratios: BufferRange) throws {
        try stream.dispatch(relocateKernel, [opacities, scales, ratios], push: parameters(count: n), groups: groups(n), label: "mcmc relocate")
    }

    static func noiseSeed(seed: UInt64, iteration: Int) -> UInt32 {
        GaussianDensification.hash(UInt32(truncatingIfNeeded: seed) ^ GaussianDensification.hash(UInt32(truncatingIfNeeded: iteration) ^ 0x6d63_6d63))
    }

    /// Relocation then growth (one refinement); `densifier` does the
    /// regrouping and counts refinements (they seed the draws, so a resumed
    /// run draws what an uninterrupted one would).
    @discardableResult
    public func refine(rasterizer: GaussianRasterizer, adam: Adam, densifier: GaussianDensifier) throws -> MCMCReport {
        var report = MCMCReport(before: rasterizer.gaussianCount)
        var rng = MCMCDensification.drawGenerator(seed: seed, refinement: densifier.densifications)
        let opacityIndex = try Self.buffer(.opacityLogit, of: rasterizer).index
        func opacities() throws -> [Float] {
            let n = rasterizer.gaussianCount
            return MCMCDensification.opacities(logits: try rasterizer.modelBuffers[opacityIndex].read(Float.self, count: n, device: device))
        }
        // Relocation: dead slots take copies of live Gaussians.
        var o = try opacities()
        let plan = MCMCDensification.relocationPlan(opacities: o, minOpacity: Float(settings.minOpacity), rng: &rng)
        if let plan {
            try apply(plan, rasterizer: rasterizer, adam: adam, densifier: densifier)
            report.relocated = plan.moved
        }
        // Growth: `growth` more, drawn by the (new) opacities, up to the budget.
        let n = rasterizer.gaussianCount
        let target = min(max(settings.budget, n), Int(Double(n) * (1 + settings.growth)))
        if target > n {
            if plan != nil { o = try opacities() }
            let growth = MCMCDensification.growthPlan(opacities: o, adding: target - n, rng: &rng)
            try apply(growth, rasterizer: rasterizer, adam: adam, densifier: densifier)
            report.added = growth.moved
        }
        densifier.densifications += 1
        report.after = rasterizer.gaussianCount
        return report
    }

    func apply(_ plan: MCMCDensification.Plan, rasterizer: GaussianRasterizer, adam: Adam, densifier: GaussianDensifier) throws {
        let m = plan.source.count
        let ratioBuffer = try ratios.atLeast(m * 4, device: device)
        try ratioBuffer.write(plan.ratios, device: device)
        let o = try Self.buffer(.opacityLogit, of: rasterizer).index, s = try Self.buffer(.logScale, of: rasterizer).index
        try densifier.regroup(rasterizer: rasterizer, adam: adam, source: plan.source, kinds: plan.kinds) { stream, regroup in
            try self.recordRelocate(stream, count: m, opacities: regroup.model[o].slice(offset: 0, length: m * 4),
                                    scales: regroup.model[s].slice(offset: 0, length: m * 12), ratios: ratioBuffer.slice(offset: 0, length: m * 4))
        }
    }
}

// MARK: - Swift twins

/// Plain-Swift twins of the MCMC kernels (same names) and the host-side
/// draws, for tests.
public enum MCMCDensification {
    /// A regroup: slot j of the new model is old Gaussian `source[j]`, kept
    /// (DENSIFY_KIND_KEEP, moments kept) or a fresh copy (DENSIFY_KIND_CLONE);
    /// `ratios[j]` is how many slots share its source after the move (1:
    /// untouched). `moved` counts the slots filled with copies.
    public struct Plan: Equatable {
        public var source: [UInt32], kinds: [UInt32], ratios: [UInt32]
        public var moved: Int
    }

    /// The generator of refinement number `refinement`'s draws.
    public static func drawGenerator(seed: UInt64, refinement: Int) -> SplitMix64 {
        SplitMix64(seed: seed ^ (UInt64(refinement) &* 0x9E37_79B9_7F4A_7C15) ^ 0x6d63_6d63)
    }

    /// Opacities from logits, as the draws weigh them.
    public static func opacities(logits: [Float]) -> [Float] { logits.map { 1 / (1 + exp(-$0)) } }

    /// `count` indices drawn with replacement, with probability proportional
    /// to `weights` (cumulative sums and binary search).
    public static func draw(weights: [Float], count: Int, rng: inout SplitMix64) -> [Int] {
        var cumulative = [Double](repeating: 0, count: weights.count)
        var sum = 0.0
        for (i, w) in weights.enumerated() {
            sum += Double(max(0, w))
            cumulative[i] = sum
        }
        guard sum > 0 else { return [] }
        return (0..<count).map { _ in
            let u = Double(rng.next() >> 11) * (1.0 / 9_007_199_254_740_992.0) * sum
            var lo = 0, hi = weights.count - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if cumulative[mid] > u { hi = mid } else { lo = mid + 1 }
            }
            return lo
        }
    }

    /// Relocation: every dead slot (opacity <= `minOpacity`) takes a copy of
    /// a live Gaussian drawn by opacity; nil when none is dead or none alive.
    public static func relocationPlan(opacities: [Float], minOpacity: Float, rng: inout SplitMix64) -> Plan? {
        let dead = opacities.indices.filter { opacities[$0] <= minOpacity }
        let alive = opacities.indices.filter { opacities[$0] > minOpacity }
        guard !dead.isEmpty, !alive.isEmpty else { return nil }
        let drawn = draw(weights: alive.map { opacities[$0] }, count: dead.count, rng: &rng).map { alive[$0] }
        var copies = [UInt32](repeating: 0, count: opacities.count)
        for i in drawn { copies[i] += 1 }
        var source = (0..<opacities.count).map(UInt32.init)
        var kinds = copies.map { $0 > 0 ? DENSIFY_KIND_CLONE : DENSIFY_KIND_KEEP }
        for (slot, i) in zip(dead, drawn) {
            source[slot] = UInt32(i)
            kinds[slot] = DENSIFY_KIND_CLONE
        }
        let ratios = source.map { copies[Int($0)] + 1 }
        return Plan(source: source, kinds: kinds, ratios: ratios, moved: dead.count)
    }

    /// Growth: `adding` copies of Gaussians drawn by opacity, appended.
    public static func growthPlan(opacities: [Float], adding: Int, rng: inout SplitMix64) -> Plan {
        let drawn = draw(weights: opacities, count: adding, rng: &rng)
        var copies = [UInt32](repeating: 0, count: opacities.count)
        for i in drawn { copies[i] += 1 }
        let source = (0..<opacities.count).map(UInt32.init) + drawn.map(UInt32.init)
        let kinds = copies.map { $0 > 0 ? DENSIFY_KIND_CLONE : DENSIFY_KIND_KEEP } + drawn.map { _ in DENSIFY_KIND_CLONE }
        return Plan(source: source, kinds: kinds, ratios: source.map { copies[Int($0)] + 1 }, moved: drawn.count)
    }

    /// Twin of mcmc_relocate in Double: the opacity (clamped) and the scale
    /// factor of a Gaussian of opacity `opacity` shared by `ratio` copies.
    public static func relocation(opacity o: Double, ratio: Int, minOpacity: Double, maxRatio: Int = 51) -> (opacity: Double, scaleFactor: Double) {
        let n = min(ratio, maxRatio)
        guard n > 1 else { return (o, 1) }
        let fresh = 1 - pow(1 - o, 1 / Double(n))
        var denominator = 0.0
        for r in 1...n {
            var binomial = 1.0
            for k in 0..<r {
                denominator += binomial * (k % 2 == 0 ? 1 : -1) * pow(fresh, Double(k + 1)) / Double(k + 1).squareRoot()
                binomial *= Double(r - 1 - k) / Double(k + 1)
            }
        }
        return (min(max(fresh, minOpacity), 1 - 1 / 8_388_608.0), o / denominator)
    }

    /// Twin of mcmc_regularize: `opacityGradients` [N] and `scaleGradients`
    /// [N, 3] gain the L1 regularisers' gradients.
    public static func regularize(opacities: [Float], scales: [Float], opacityGradients: inout [Float], scaleGradients: inout [Float],
                                  opacityWeight: Double, scaleWeight: Double) {
        let n = opacities.count
        for i in 0..<n {
            let o = 1 / (1 + exp(-Double(opacities[i])))
            opacityGradients[i] += Float(opacityWeight / Double(n) * o * (1 - o))
            for a in 0..<3 { scaleGradients[3 * i + a] += Float(scaleWeight / Double(3 * n) * exp(Double(scales[3 * i + a]))) }
        }
    }

    /// Twin of mcmc_noise: `positions` [N, 3] move by noiseScale x gate x Sigma epsilon.
    public static func noise(positions: inout [Float], scales: [Float], rotations: [Float], opacities: [Float],
                             noiseScale: Double, minOpacity: Double, seed: UInt32) {
        for i in 0..<opacities.count {
            let o = 1 / (1 + exp(-Double(opacities[i])))
            let gate = 1 / (1 + exp(100 * (o - minOpacity)))
            var q = (0..<4).map { Double(rotations[4 * i + $0]) }
            let norm = max(q.map { $0 * $0 }.reduce(0, +).squareRoot(), 1e-12)
            q = q.map { $0 / norm }
            let (w, x, y, z) = (q[0], q[1], q[2], q[3])
            let r: [[Double]] = [[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                                 [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                                 [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]]
            let e = (0..<3).map { Double(GaussianDensification.normal(seed: seed, index: UInt32(i), child: 0, axis: UInt32($0))) }
            // R diag(exp(2 s)) R^T e
            let local = (0..<3).map { a in (0..<3).map { r[$0][a] * e[$0] }.reduce(0, +) * exp(2 * Double(scales[3 * i + a])) }
            for row in 0..<3 {
                let step = (0..<3).map { r[row][$0] * local[$0] }.reduce(0, +)
                positions[3 * i + row] += Float(noiseScale * gate * step)
            }
        }
    }
}
