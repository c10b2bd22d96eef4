import CShaderLayouts
import Compute
import ComputePrimitives
import Datasets
import Foundation
import Training

/// Adaptive density control of 3DGS (Kerbl et al. 2023, Sec. 5.2), settings.
/// Defaults are the original's (docs/reference.md).
public struct DensificationSettings: Codable, Equatable {
    /// First and last iteration (exclusive) of densification; statistics are
    /// accumulated before `until` only.
    public var from = 500
    public var until = 15_000
    /// Densify every `interval` iterations (from `from` + `interval`).
    public var interval = 100
    /// Mean NDC-unit gradient norm of the 2D mean that triggers clone / split.
    public var gradThreshold = 2e-4
    /// Clone at or below this max scale (times the scene extent), else split.
    public var percentDense = 0.01
    /// Prune below this opacity.
    public var minOpacity = 0.005
    /// Reset opacities to at most 0.01 every this many iterations (0: never).
    public var opacityResetInterval = 3000
    /// After the first opacity reset, prune Gaussians whose world scale
    /// exceeds `maxWorldScale` times the extent (when > 0), and (when > 0)
    /// those whose screen radius exceeded `maxScreenRadius` px since the last
    /// densification. The original's test of 20 px never fires: its radii
    /// are reset just before the test (densification_postfix), so 0 (off) is
    /// the default here, as in gsplat; on beer /4 with 20 px, large smooth
    /// regions were pruned every 100 iterations and training fell from 24.7
    /// dB to 19.3 dB after the reset at 3000.
    public var maxScreenRadius = 0.0
    /// The original prunes above 0.1 x the extent; off (0) by default here.
    /// The extent comes from the cameras, and where the background lies well
    /// beyond them (beer: cameras within 7.5 units, points out to 25) that
    /// prune removes the Gaussians that carry it every 100 iterations:
    /// measured on beer /4 at 7000 iterations, 21.3 dB with it vs 24.3
    /// without (30k cap), and 22.6 dB at 5000 without a cap.
    public var maxWorldScale = 0.0
    /// Growth stops at this many Gaussians (0: no cap); when a densification
    /// would exceed it, only the Gaussians with the largest gradients grow.
    public var maxGaussians = 0
    public init() {}

    /// Whether iteration `step` (1-based, after its optimiser step) densifies.
    public func densifies(at step: Int) -> Bool {
        interval > 0 && step > from && step < until && step % interval == 0
    }

    /// Whether iteration `step` of a run of `total` iterations resets
    /// opacities: on the original's schedule, except within half an interval
    /// of the end, where the model would not recover before it is saved (a
    /// 3000-iteration run would otherwise end on a washed-out model, and one
    /// of 7000 1000 iterations after a reset: measured on beer /4, 4.4 dB
    /// right after it, 22.1 dB at the end vs 24.6 dB before the first reset).
    public func resetsOpacity(at step: Int, of total: Int) -> Bool {
        opacityResetInterval > 0 && step < until && step % opacityResetInterval == 0
            && total - step >= opacityResetInterval / 2
    }
}

/// What one densification did.
public struct DensificationReport: Equatable {
    public init(before: Int = 0, after: Int = 0, cloned: Int = 0, split: Int = 0, pruned: Int = 0, threshold: Double = 0) {
        (self.before, self.after, self.cloned, self.split, self.pruned, self.threshold) = (before, after, cloned, split, pruned, threshold)
    }
    public var before = 0, after = 0
    public var cloned = 0, split = 0
    /// Gaussians gone without replacement (pruned, or split with both children pruned).
    public var pruned = 0
    /// The gradient threshold used (raised above the setting by --max-gaussians).
    public var threshold = 0.0
}

/// Adaptive density control on the GPU. After every backward pass,
/// `recordAccumulate` adds each visible Gaussian's screen-space gradient
/// (NDC units), view count and largest radius; `densify` then clones, splits
/// and prunes as one compaction: classify (how many Gaussians replace each
/// one) -> prefix sum -> scatter (old index and kind of every new slot) ->
/// gather of every parameter group and its Adam moments into spare buffers,
/// which are then exchanged with the model's. Only counts come back to the
/// CPU (the new total; the gradient histogram when --max-gaussians binds).
/// The groups, their sizes and what a split does to each come from the
/// rasterizer's schema, as do the groups the kernels read (the opacity
/// logits, log scales and rotations it marks).
public final class GaussianDensifier {
    public let device: ComputeDevice
    public var settings: DensificationSettings
    let accumulateKernel, classifyKernel, scatterKernel, gatherKernel, resetKernel: Kernel
    let scan: PrefixSum
    let workgroupSize: Int
    let stream: CommandStream
    // Statistics since the last densification: [N] f32 each.
    let gradAccum = ScratchBuffer(label: "densify grad accum")
    let views = ScratchBuffer(label: "densify views")
    let maxRadius = ScratchBuffer(label: "densify max radius")
    // Compaction: [N] u32, [N] u32, [N] u32, [M] u32, [M] u32, [bins] u32, total.
    let outputs = ScratchBuffer(label: "densify outputs")
    let actions = ScratchBuffer(label: "densify actions")
    let offsets = ScratchBuffer(label: "densify offsets")
    let source = ScratchBuffer(label: "densify source")
    let kinds = ScratchBuffer(label: "densify kinds")
    let histogram: GPUBuffer
    let total: GPUBuffer
    let tally: GPUBuffer  // [4] u32: cloned, split, pruned
    /// Spare parameter and moment buffers per group name (params, m, v),
    /// exchanged with the model's after each densification, so nothing is
    /// allocated unless the model outgrows them.
    var spares: [String: [GPUBuffer?]] = [:]
    /// Gaussians the statistics buffers describe.
    public private(set) var count = 0
    /// The run's seed; with the densification count it seeds the split samples.
    public var seed: UInt32 = 0
    /// Densifications so far (seeds the split samples).
    public internal(set) var densifications = 0

    public init(device: ComputeDevice, settings: DensificationSettings) throws {
        self.device = device
        self.settings = settings
        workgroupSize = min(256, device.info.maxWorkgroupInvocations, device.info.maxWorkgroupSize[0])
        let spec = [UInt32(workgroupSize)]
        let push = MemoryLayout<DensifyParams>.size
        let chunked = [BufferAccess](repeating: .read, count: Int(RASTER_CHUNKS))
        accumulateKernel = try device.kernel(ShaderLibrary.densifyAccumulate,
                                             bindings: chunked + [.read, .read, .readWrite, .readWrite, .readWrite],
                                             pushConstantBytes: push, specialization: spec)
        classifyKernel = try device.kernel(ShaderLibrary.densifyClassify,
                                           bindings: [.read, .read, .read, .read, .read, .write, .write, .readWrite, .readWrite],
                                           pushConstantBytes: push, specialization: spec)
        scatterKernel = try device.kernel(ShaderLibrary.densifyScatter, bindings: [.read, .read, .read, .write, .write],
                                          pushConstantBytes: push, specialization: spec)
        gatherKernel = try device.kernel(ShaderLibrary.densifyGather,
                                         bindings: [.read, .read, .read, .read, .read, .write, .write, .write, .read, .read],
                                         pushConstantBytes: push, specialization: spec)
        resetKernel = try device.kernel(ShaderLibrary.densifyResetOpacity, bindings: [.readWrite],
                                        pushConstantBytes: push, specialization: spec)
        scan = try PrefixSum(device: device)
        stream = try CommandStream(device: device)
        histogram = try GPUBuffer(device: device, length: Int(DENSIFY_HISTOGRAM_BINS) * 4, label: "densify histogram")
        total = try GPUBuffer(device: device, length: 16, label: "densify total")
        tally = try GPUBuffer(device: device, length: 16, label: "densify tally")
    }

    func groups(_ n: Int) -> Int { (n + workgroupSize - 1) / workgroupSize }

    /// The position in the rasterizer's groups (and `modelBuffers`) of the
    /// group its schema marks with `role`.
    func groupIndex(_ role: GaussianParameterGroup.Role, of rasterizer: GaussianRasterizer) throws -> Int {
        let schema = rasterizer.schema
        guard let k = schema.index(of: role) else {
            throw ComputeError.invalidArgument("densification needs a \(role) group; the \(schema.kind) schema marks none")
        }
        return k
    }

    /// How the gather kernel treats a group's values in split children.
    static func field(_ densification: GaussianParameterGroup.Densification) -> UInt32 {
        switch densification {
        case .copy: return DENSIFY_FIELD_GENERIC
        case .samplePosition: return DENSIFY_FIELD_POSITIONS
        case .shrinkLogScale: return DENSIFY_FIELD_SCALES
        case .sampleTime: return DENSIFY_FIELD_TIME
        }
    }

    /// Records zeroing the statistics for `n` Gaussians (after a densification or a new model).
    public func recordReset(_ stream: CommandStream, count n: Int) throws {
        count = n
        for b in [gradAccum, views, maxRadius] {
            let buffer = try b.atLeast(max(4, n * 4), device: device)
            stream.fill(buffer, value: 0, offset: 0, bytes: max(4, n * 4))
        }
    }

    /// Records adding the last rendered frame's statistics (after its backward pass).
    /// `radiusScale` converts the frame's pixels to the training size's (2^level
    /// of the resolution schedule); gradients are in NDC units at any size.
    public func recordAccumulate(_ stream: CommandStream, rasterizer: GaussianRasterizer, radiusScale: Float = 1) throws {
        guard let inputs = rasterizer.densificationInputs() else {
            throw ComputeError.invalidArgument("densification statistics need a frame rendered and back-propagated")
        }
        let n = rasterizer.gaussianCount
        if count != n { try recordReset(stream, count: n) }
        guard n > 0 else { return }
        var p = DensifyParams()
        p.count = UInt32(n)
        p.chunk = UInt32(rasterizer.chunkGaussians)
        p.halfWidth = Float(inputs.width) / 2
        p.halfHeight = Float(inputs.height) / 2
        p.radiusScale = radiusScale
        try stream.dispatch(accumulateKernel, inputs.splats + [
            inputs.touched, inputs.gradients,
            gradAccum.buffer!.slice(offset: 0, length: n * 4), views.buffer!.slice(offset: 0, length: n * 4),
            maxRadius.buffer!.slice(offset: 0, length: n * 4),
        ], push: p, groups: groups(n), label: "densify accumulate")
    }

    /// The statistics, downloaded: ([N] grad accum, [N] views, [N] max radius).
    public func statistics() throws -> (gradAccum: [Float], views: [Float], maxRadius: [Float]) {
        guard count > 0 else { return ([], [], []) }
        return (try gradAccum.buffer!.read(Float.self, count: count, device: device),
                try views.buffer!.read(Float.self, count: count, device: device),
                try maxRadius.buffer!.read(Float.self, count: count, device: device))
    }

    /// Uploads statistics (resuming from a checkpoint).
    public func setStatistics(gradAccum g: [Float], views v: [Float], maxRadius r: [Float]) throws {
        guard g.count == v.count, g.count == r.count else {
            throw ComputeError.invalidArgument("densification statistics of different lengths")
        }
        count = g.count
        for (b, values) in [(gradAccum, g), (views, v), (maxRadius, r)] {
            let buffer = try b.atLeast(max(4, values.count * 4), device: device)
            if !values.isEmpty { try buffer.write(values, device: device) }
        }
    }

    func parameters(iteration: Int, extent: Double, threshold: Double, grow: Bool) -> DensifyParams {
        var p = DensifyParams()
        p.gradThreshold = Float(threshold)
        p.cloneMaxScale = Float(settings.percentDense * extent)
        p.minOpacity = Float(settings.minOpacity)
        p.maxScreenRadius = Float(settings.maxScreenRadius)
        p.maxWorldScale = settings.maxWorldScale > 0 ? Float(settings.maxWorldScale * extent) : .infinity
        let sizePrune = settings.opacityResetInterval > 0 && iteration > settings.opacityResetInterval
        p.flags = (grow ? DENSIFY_FLAG_GROW : 0) | (sizePrune ? DENSIFY_FLAG_PRUNE_SIZE : 0)
        p.seed = GaussianDensification.hash(seed ^ GaussianDensification.hash(UInt32(truncatingIfNeeded: densifications)))
        return p
    }

    /// Runs classify + scan and returns the new total.
    func classify(_ p: DensifyParams, rasterizer: GaussianRasterizer) throws -> Int {
        let n = rasterizer.gaussianCount
        let model = rasterizer.modelBuffers
        let scales = model[try groupIndex(.logScale, of: rasterizer)], opacities = model[try groupIndex(.opacityLogit, of: rasterizer)]
        let outB = try outputs.atLeast(n * 4, device: device).slice(offset: 0, length: n * 4)
        let actB = try actions.atLeast(n * 4, device: device).slice(offset: 0, length: n * 4)
        let offB = try offsets.atLeast(n * 4, device: device).slice(offset: 0, length: n * 4)
        var p = p
        p.count = UInt32(n)
        stream.reset()
        stream.fill(histogram, value: 0)
        stream.fill(tally, value: 0)
        try stream.dispatch(classifyKernel, [
            scales.slice(offset: 0, length: n * 12), opacities.slice(offset: 0, length: n * 4),
            gradAccum.buffer!.slice(offset: 0, length: n * 4), views.buffer!.slice(offset: 0, length: n * 4),
            maxRadius.buffer!.slice(offset: 0, length: n * 4), outB, actB, histogram.slice(offset: 0, length: histogram.length),
            tally.slice(offset: 0, length: 16),
        ], push: p, groups: groups(n), label: "densify classify")
        try scan.record(stream, input: outB, output: offB, count: n, total: total.slice(offset: 0, length: 4))
        try stream.run()
        return Int(try total.read(UInt32.self, count: 1, device: device)[0])
    }

    /// The lowest threshold (a histogram bin edge, >= `threshold`) at which at
    /// most `budget` Gaussians grow (infinity when none can). Bin b holds the
    /// gradients whose float bits >> 20 equal b, so its lower edge is the
    /// float with bits b << 20.
    static func cappedThreshold(histogram: [UInt32], budget: Int, threshold: Double) -> Double {
        var above = 0
        var bin = histogram.count
        while bin > 0 && above + Int(histogram[bin - 1]) <= budget {
            above += Int(histogram[bin - 1])
            bin -= 1
        }
        if bin == 0 { return threshold }
        if bin == histogram.count { return .infinity }  // not even the top bin fits
        let edge = Double(Float(bitPattern: UInt32(bin) << 20))
        return max(threshold, edge)
    }

    /// Clones, splits and prunes (one compaction on the GPU) and resets the
    /// statistics. `adam` holds the moments of the rasterizer's groups, which
    /// move with their Gaussians (new Gaussians start from zero moments).
    @discardableResult
    public func densify(rasterizer: GaussianRasterizer, adam: Adam, iteration: Int, extent: Double,
                        grow: Bool = true) throws -> DensificationReport {
        let n = rasterizer.gaussianCount
        guard n > 0, count == n else {
            throw ComputeError.invalidArgument("densification: statistics for \(count) Gaussians, model has \(n)")
        }
        var threshold = settings.gradThreshold
        var p = parameters(iteration: iteration, extent: extent, threshold: threshold, grow: grow)
        var m = try classify(p, rasterizer: rasterizer)
        let cap = settings.maxGaussians
        if grow && cap > 0 && m > cap {
            // Grow only the Gaussians with the largest mean gradients: a
            // threshold from the histogram of the growing ones' gradients,
            // with a budget of the cap minus the survivors without growth.
            let bins = try histogram.read(UInt32.self, count: Int(DENSIFY_HISTOGRAM_BINS), device: device)
            let noGrowth = try classify(parameters(iteration: iteration, extent: extent, threshold: threshold, grow: false),
                                        rasterizer: rasterizer)
            let bound = max(cap, noGrowth)
            var budget = max(0, cap - noGrowth)
            m = bound + 1
            for _ in 0..<8 where m > bound {
                threshold = Self.cappedThreshold(histogram: bins, budget: budget, threshold: settings.gradThreshold)
                guard threshold.isFinite else { break }
                p = parameters(iteration: iteration, extent: extent, threshold: threshold, grow: true)
                m = try classify(p, rasterizer: rasterizer)
                budget = max(0, budget - max(0, m - bound))
            }
            if m > bound {
                p = parameters(iteration: iteration, extent: extent, threshold: settings.gradThreshold, grow: false)
                m = try classify(p, rasterizer: rasterizer)
                threshold = .infinity
            }
        }
        guard m > 0 else {
            throw ComputeError.invalidArgument("densification at iteration \(iteration) would prune every Gaussian (all opacities below \(settings.minOpacity) or too large)")
        }
        let counts = try tally.read(UInt32.self, count: 3, device: device)
        let report = DensificationReport(before: n, after: m, cloned: Int(counts[0]), split: Int(counts[1]), pruned: Int(counts[2]),
                                         threshold: threshold)

        // Scatter and gather into the spares.
        p.count = UInt32(n)
        stream.reset()
        let srcB = try source.atLeast(m * 4, device: device).slice(offset: 0, length: m * 4)
        let kindB = try kinds.atLeast(m * 4, device: device).slice(offset: 0, length: m * 4)
        try stream.dispatch(scatterKernel, [
            outputs.buffer!.slice(offset: 0, length: n * 4), actions.buffer!.slice(offset: 0, length: n * 4),
            offsets.buffer!.slice(offset: 0, length: n * 4), srcB, kindB,
        ], push: p, groups: groups(n), label: "densify scatter")
        let regroup = try recordRegroup(stream, rasterizer: rasterizer, adam: adam, source: srcB, kinds: kindB, from: n, to: m, push: p)
        try stream.run()
        try finishRegroup(regroup, rasterizer: rasterizer, adam: adam)
        densifications += 1
        return report
    }

    /// The buffers a regroup fills, installed by `finishRegroup`.
    struct Regroup {
        var count: Int
        var model: [GPUBuffer]
        var moments: [(index: Int, group: GaussianParameterGroup, m: GPUBuffer, v: GPUBuffer)]
    }

    /// Records rebuilding every parameter group of the rasterizer's `n`
    /// Gaussians, and its Adam moments, into the spare buffers in a new
    /// order of `m` Gaussians: slot j is old Gaussian `source[j]` treated as
    /// `kinds[j]` (DENSIFY_KIND_*: kept with its moments, a fresh copy, or a
    /// split child), both [m] u32 on the device. Statistics are zeroed for
    /// the new count. `push` carries the split samples' seed.
    func recordRegroup(_ stream: CommandStream, rasterizer: GaussianRasterizer, adam: Adam, source srcB: BufferRange,
                       kinds kindB: BufferRange, from n: Int, to m: Int, push p: DensifyParams) throws -> Regroup {
        let model = rasterizer.modelBuffers
        let scales = model[try groupIndex(.logScale, of: rasterizer)], rotations = model[try groupIndex(.rotation, of: rasterizer)]
        let timeScales = rasterizer.schema.index(of: .timeLogScale).map { model[$0] }
        var newModel = model
        var newMoments: [(index: Int, group: GaussianParameterGroup, m: GPUBuffer, v: GPUBuffer)] = []
        for (k, group) in rasterizer.schema.groups.enumerated() where group.floatsPerGaussian > 0 {
            let name = group.name, d = group.floatsPerGaussian
            guard let moments = adam.momentBuffers(name), moments.count == n * d else {
                throw ComputeError.invalidArgument("densification: no Adam moments for \(name) of \(n) Gaussians")
            }
            let bytes = m * d * 4
            var spare = spares[name] ?? [nil, nil, nil]
            for s in 0..<3 where (spare[s]?.length ?? 0) < bytes {
                spare[s] = try GPUBuffer(device: device, length: (bytes * 3 / 2 + 255) / 256 * 256, label: "\(name) \(["params", "m", "v"][s])")
            }
            spares[name] = spare
            var g = p
            g.count = UInt32(m)
            g.dim = UInt32(d)
            g.field = Self.field(group.densification)
            let inBytes = n * d * 4
            try stream.dispatch(gatherKernel, [
                srcB, kindB, model[k].slice(offset: 0, length: inBytes),
                moments.m.slice(offset: 0, length: inBytes), moments.v.slice(offset: 0, length: inBytes),
                spare[0]!.slice(offset: 0, length: bytes), spare[1]!.slice(offset: 0, length: bytes),
                spare[2]!.slice(offset: 0, length: bytes),
                group.densification == .sampleTime ? try timeScaleBuffer(timeScales, n) : scales.slice(offset: 0, length: n * 12),
                rotations.slice(offset: 0, length: n * 16),
            ], push: g, groups: groups(m * d), label: "densify gather \(name)")
            newModel[k] = spare[0]!
            newMoments.append((k, group, spare[1]!, spare[2]!))
        }
        try recordReset(stream, count: m)
        return Regroup(count: m, model: newModel, moments: newMoments)
    }

    /// The time log-scales [N] a time group's split samples read.
    private func timeScaleBuffer(_ buffer: GPUBuffer?, _ n: Int) throws -> BufferRange {
        guard let buffer else { throw ComputeError.invalidArgument("densification: time means need a time log-scale group") }
        return buffer.slice(offset: 0, length: n * 4)
    }

    /// Installs a recorded (and run) regroup: the rebuilt buffers become the
    /// model's and Adam's, the previous ones the spares.
    func finishRegroup(_ regroup: Regroup, rasterizer: GaussianRasterizer, adam: Adam) throws {
        let old = try rasterizer.exchangeModelBuffers(regroup.model, count: regroup.count)
        for (k, group, mB, vB) in regroup.moments {
            let previous = adam.exchangeMoments(group.name, m: mB, v: vB, count: regroup.count * group.floatsPerGaussian)
            spares[group.name] = [old[k], previous.m, previous.v]
        }
    }

    /// Rebuilds the model in the order `source` / `kinds` give ([M] u32 each,
    /// as `recordRegroup`), from host arrays: MCMC relocation and growth.
    func regroup(rasterizer: GaussianRasterizer, adam: Adam, source: [UInt32], kinds: [UInt32],
                 then record: ((CommandStream, Regroup) throws -> Void)? = nil) throws {
        precondition(source.count == kinds.count && !source.isEmpty)
        let n = rasterizer.gaussianCount, m = source.count
        let srcB = try self.source.atLeast(m * 4, device: device).slice(offset: 0, length: m * 4)
        let kindB = try self.kinds.atLeast(m * 4, device: device).slice(offset: 0, length: m * 4)
        try self.source.buffer!.write(source, device: device)
        try self.kinds.buffer!.write(kinds, device: device)
        stream.reset()
        var p = DensifyParams()
        p.count = UInt32(n)
        let regroup = try recordRegroup(stream, rasterizer: rasterizer, adam: adam, source: srcB, kinds: kindB, from: n, to: m, push: p)
        try record?(stream, regroup)
        try stream.run()
        try finishRegroup(regroup, rasterizer: rasterizer, adam: adam)
    }

    /// Opacity reset: every opacity becomes min(opacity, 0.01) and the
    /// opacity group's Adam moments are zeroed.
    public func resetOpacity(rasterizer: GaussianRasterizer, adam: Adam) throws {
        let n = rasterizer.gaussianCount
        guard n > 0 else { return }
        let k = try groupIndex(.opacityLogit, of: rasterizer)
        var p = DensifyParams()
        p.count = UInt32(n)
        p.resetOpacity = Float(log(0.01 / 0.99))
        stream.reset()
        try stream.dispatch(resetKernel, [rasterizer.modelBuffers[k].slice(offset: 0, length: n * 4)], push: p,
                            groups: groups(n), label: "reset opacity")
        adam.recordZeroMoments(stream, rasterizer.schema.groups[k].name)
        try stream.run()
    }

    /// Densification counters for checkpoints.
    public func restore(densifications d: Int) { densifications = d }
}

// MARK: - Swift twins

/// Plain-Swift twins of the densification kernels (same names), for tests.
public enum GaussianDensification {
    /// lowbias32; twin of densifyHash (densify_common.glsl).
    public static func hash(_ x: UInt32) -> UInt32 {
        var x = x
        x ^= x >> 16; x &*= 0x7feb_352d
        x ^= x >> 15; x &*= 0x846c_a68b
        x ^= x >> 16
        return x
    }

    static func uniform(_ h: UInt32) -> Float { (Float(h >> 8) + 0.5) * (1.0 / 16_777_216.0) }

    /// Twin of densifyNormal: a standard normal sample for (seed, index, child, axis).
    public static func normal(seed: UInt32, index: UInt32, child: UInt32, axis: UInt32) -> Float {
        let base = hash(hash(seed) ^ index)
        let stream = child * 3 + axis
        let u1 = uniform(hash(base ^ ((2 * stream + 1) &* 0x9e37_79b9)))
        let u2 = uniform(hash(base ^ ((2 * stream + 2) &* 0x9e37_79b9)))
        return (-2 * log(u1)).squareRoot() * cos(6.283185307179586 * u2)
    }

    /// Twin of densify_accumulate for one frame: `visible` [N], `meanGradients` [N, 2] px, `radii` [N] px.
    public static func accumulate(gradAccum: inout [Float], views: inout [Float], maxRadius: inout [Float],
                                  visible: [Bool], meanGradients: [SIMD2<Float>], radii: [Float], width: Int, height: Int,
                                  radiusScale: Float = 1) {
        for i in visible.indices where visible[i] {
            let g = meanGradients[i] * SIMD2(Float(width) / 2, Float(height) / 2)
            gradAccum[i] += (g * g).sum().squareRoot()
            views[i] += 1
            maxRadius[i] = max(maxRadius[i], radii[i] * radiusScale)
        }
    }

    /// Twin of densify_classify: (outputs, actions) per Gaussian.
    public static func classify(model: GaussianModel, gradAccum: [Float], views: [Float], maxRadius: [Float],
                                params p: DensifyParams) -> (outputs: [UInt32], actions: [UInt32]) {
        var outputs = [UInt32](repeating: 0, count: model.count), actions = outputs
        for i in 0..<model.count {
            let meanGrad = views[i] > 0 ? gradAccum[i] / views[i] : 0
            let grow = p.flags & DENSIFY_FLAG_GROW != 0 && meanGrad >= p.gradThreshold
            let maxScale = exp(max(model.scales[3 * i], model.scales[3 * i + 1], model.scales[3 * i + 2]))
            let split = grow && maxScale > p.cloneMaxScale
            let clone = grow && !split
            let opacity = 1 / (1 + exp(-model.opacities[i]))
            let sizePrune = p.flags & DENSIFY_FLAG_PRUNE_SIZE != 0
            let faint = opacity < p.minOpacity
            let screenPrune = p.maxScreenRadius > 0 && maxRadius[i] > p.maxScreenRadius
            let keepSelf = !faint && !(sizePrune && (maxScale > p.maxWorldScale || screenPrune))
            let keepCopy = !faint && !(sizePrune && maxScale > p.maxWorldScale)
            let keepChild = !faint && !(sizePrune && maxScale / 1.6 > p.maxWorldScale)
            outputs[i] = split ? (keepChild ? 2 : 0) : (keepSelf ? 1 : 0) + (clone && keepCopy ? 1 : 0)
            actions[i] = (split ? DENSIFY_ACTION_SPLIT : 0) | (keepSelf && !split ? DENSIFY_ACTION_KEEP : 0)
                | (clone && keepCopy ? DENSIFY_ACTION_CLONE : 0)
        }
        return (outputs, actions)
    }

    /// Twin of densify_scatter: (source, kinds) of the new Gaussians.
    public static func scatter(outputs: [UInt32], actions: [UInt32]) -> (source: [UInt32], kinds: [UInt32]) {
        var source: [UInt32] = [], kinds: [UInt32] = []
        for i in outputs.indices where outputs[i] > 0 {
            let a = actions[i], index = UInt32(i)
            if a & DENSIFY_ACTION_SPLIT != 0 {
                source += [index, index]
                kinds += [DENSIFY_KIND_SPLIT0, DENSIFY_KIND_SPLIT1]
                continue
            }
            if a & DENSIFY_ACTION_KEEP != 0 { source.append(index); kinds.append(DENSIFY_KIND_KEEP) }
            if a & DENSIFY_ACTION_CLONE != 0 { source.append(index); kinds.append(DENSIFY_KIND_CLONE) }
        }
        return (source, kinds)
    }

    /// Twin of densify_gather for one group: (params, m, v) in the new order.
    /// `scales` [N, 3] and `rotations` [N, 4] are used by the positions field.
    public static func gather(source: [UInt32], kinds: [UInt32], params: [Float], m: [Float], v: [Float], dim: Int,
                              field: UInt32, scales: [Float], rotations: [Float], seed: UInt32) -> ([Float], [Float], [Float]) {
        var outP: [Float] = [], outM: [Float] = [], outV: [Float] = []
        for (j, i32) in source.enumerated() {
            let i = Int(i32), kind = kinds[j]
            let child = kind == DENSIFY_KIND_SPLIT0 || kind == DENSIFY_KIND_SPLIT1
            for c in 0..<dim {
                var value = params[i * dim + c]
                if child && field == DENSIFY_FIELD_SCALES { value -= log(1.6) }
                if child && field == DENSIFY_FIELD_POSITIONS {
                    var q = SIMD4(rotations[4 * i], rotations[4 * i + 1], rotations[4 * i + 2], rotations[4 * i + 3])
                    q /= max((q * q).sum().squareRoot(), 1e-12)
                    let (w, x, y, z) = (q.x, q.y, q.z, q.w)
                    let row: SIMD3<Float> = c == 0 ? SIMD3(1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y))
                        : c == 1 ? SIMD3(2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x))
                        : SIMD3(2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y))
                    let ci: UInt32 = kind == DENSIFY_KIND_SPLIT0 ? 0 : 1
                    let sample = SIMD3((0..<3).map { a in exp(scales[3 * i + a]) * normal(seed: seed, index: i32, child: ci, axis: UInt32(a)) })
                    value += (row * sample).sum()
                }
                if child && field == DENSIFY_FIELD_TIME {
                    value += exp(scales[i]) * normal(seed: seed, index: i32, child: kind == DENSIFY_KIND_SPLIT0 ? 0 : 1, axis: 3)
                }
                let fresh = kind != DENSIFY_KIND_KEEP
                outP.append(value)
                outM.append(fresh ? 0 : m[i * dim + c])
                outV.append(fresh ? 0 : v[i * dim + c])
            }
        }
        return (outP, outM, outV)
    }

    /// Twin of densify_reset_opacity.
    public static func resetOpacity(_ opacities: inout [Float], ceiling: Float) {
        for i in opacities.indices { opacities[i] = min(opacities[i], ceiling) }
    }
}
