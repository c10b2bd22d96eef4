import CShaderLayouts
import Compute
import ComputePrimitives
import Datasets
import Foundation
import Geometry
import Training

/// The 3DGS training recipe's settings (Kerbl et al. 2023; docs/reference.md),
/// with the original defaults (opacity lr 0.025 as in the newer release).
public struct GaussianTrainingConfig: Codable, Equatable {
    public var iterations = 7000
    public var positionLR = 1.6e-4
    public var positionLRFinal = 1.6e-6
    public var featureLR = 2.5e-3
    public var opacityLR = 0.025
    public var scalingLR = 5e-3
    public var rotationLR = 1e-3
    public var lambdaDSSIM = 0.2
    public var shDegreeInterval = 1000
    public var maxSHDegree = 3
    public var initialOpacity = 0.1
    public var randomPoints = 100_000
    public var seed: UInt64 = 0
    /// Adaptive density control (clone / split / prune, opacity reset).
    public var densification = DensificationSettings()
    /// A random background colour per iteration (3DGS's --random_background),
    /// with targets composited over the same colour.
    public var randomBackground = false
    /// Adam skips elements whose gradient is exactly zero (Gaussians no pixel
    /// of the view saw; gsplat's sparse Adam).
    public var sparseAdam = false
    /// How the model grows: MCMC relocation under a budget (`mcmc`, the
    /// default: better on held-out views here, docs/training.md) or 3DGS's
    /// adaptive density control (`densification`).
    public var densify = DensificationStrategy.mcmc
    /// MCMC densification's settings (with `densify == .mcmc`).
    public var mcmc = MCMCSettings()
    /// Training starts on smaller copies of the images.
    public var resolution = ResolutionSchedule()
    /// 4D Gaussians: the initial time standard deviation, as a fraction of
    /// the training frames' time span.
    public var initialTimeScale = 0.2
    /// Weight of the opacity entropy regulariser (4D-Rotor GS, Duan et al.
    /// 2024; `OpacityEntropy`); 0: off.
    public var opacityEntropy = 0.0
    /// 4D Gaussians: weight of the 4D consistency regulariser (4D-Rotor GS;
    /// `VelocityConsistency`); 0: off.
    public var consistency4D = 0.0
    public init() {}

    /// The recipe before the resolution schedule and MCMC existed: adaptive
    /// densification at full size. Checkpoints and configs written then lack
    /// the newer keys and resume with these values.
    public static var legacy: GaussianTrainingConfig {
        var c = GaussianTrainingConfig()
        c.densify = .adaptive
        c.resolution.downscales = 0
        return c
    }

    enum CodingKeys: String, CodingKey {
        case iterations, positionLR, positionLRFinal, featureLR, opacityLR, scalingLR, rotationLR, lambdaDSSIM
        case shDegreeInterval, maxSHDegree, initialOpacity, randomPoints, seed, densification, randomBackground, sparseAdam
        case densify, mcmc, resolution, initialTimeScale, opacityEntropy, consistency4D
    }

    /// Strict for the keys every recipe has; the newer ones (`densify`,
    /// `mcmc`, `resolution`) take `legacy`'s values when absent.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        iterations = try c.decode(Int.self, forKey: .iterations)
        positionLR = try c.decode(Double.self, forKey: .positionLR)
        positionLRFinal = try c.decode(Double.self, forKey: .positionLRFinal)
        featureLR = try c.decode(Double.self, forKey: .featureLR)
        opacityLR = try c.decode(Double.self, forKey: .opacityLR)
        scalingLR = try c.decode(Double.self, forKey: .scalingLR)
        rotationLR = try c.decode(Double.self, forKey: .rotationLR)
        lambdaDSSIM = try c.decode(Double.self, forKey: .lambdaDSSIM)
        shDegreeInterval = try c.decode(Int.self, forKey: .shDegreeInterval)
        maxSHDegree = try c.decode(Int.self, forKey: .maxSHDegree)
        initialOpacity = try c.decode(Double.self, forKey: .initialOpacity)
        randomPoints = try c.decode(Int.self, forKey: .randomPoints)
        seed = try c.decode(UInt64.self, forKey: .seed)
        densification = try c.decode(DensificationSettings.self, forKey: .densification)
        randomBackground = try c.decode(Bool.self, forKey: .randomBackground)
        sparseAdam = try c.decode(Bool.self, forKey: .sparseAdam)
        let legacy = Self.legacy
        densify = try c.decodeIfPresent(DensificationStrategy.self, forKey: .densify) ?? legacy.densify
        mcmc = try c.decodeIfPresent(MCMCSettings.self, forKey: .mcmc) ?? legacy.mcmc
        resolution = try c.decodeIfPresent(ResolutionSchedule.self, forKey: .resolution) ?? legacy.resolution
        initialTimeScale = try c.decodeIfPresent(Double.self, forKey: .initialTimeScale) ?? legacy.initialTimeScale
        opacityEntropy = try c.decodeIfPresent(Double.self, forKey: .opacityEntropy) ?? legacy.opacityEntropy
        consistency4D = try c.decodeIfPresent(Double.self, forKey: .consistency4D) ?? legacy.consistency4D
    }

    /// The recipe for 4D Gaussians (docs/gaussians4d.md): adaptive density
    /// control, whose splits sample in time as well as in space (4D-Rotor GS
    /// and Yang et al. both grow with 3DGS's rule), capped at 150,000
    /// Gaussians (`splat train` caps at one per training-image pixel
    /// instead, at least 10,000); 14,000 iterations (a dynamic scene's views each show
    /// one moment, so each is seen less often per time); 20,000 random
    /// starting points with time deviations of a tenth of the time span
    /// (100,000 points at a fifth ran at 1.2 it/s on lavapipe: every one
    /// of them was visible at every time).
    public static var dynamic: GaussianTrainingConfig {
        var c = GaussianTrainingConfig()
        c.iterations = 14_000
        c.densify = .adaptive
        c.densification.maxGaussians = 150_000
        c.randomPoints = 20_000
        c.initialTimeScale = 0.1
        return c
    }

    /// This recipe for training on `frames`: an MCMC budget of 0 becomes the
    /// scene's (`MCMCSettings.sceneBudget` of their mean size) and the
    /// resolution schedule's halvings stop at `ResolutionSchedule.minimumSide`.
    public func resolved(for frames: [LoadedFrame]) -> GaussianTrainingConfig {
        var config = self
        guard !frames.isEmpty else { return config }
        if config.densify == .mcmc && config.mcmc.budget == 0 {
            let pixels = frames.reduce(0) { $0 + $1.intrinsics.width * $1.intrinsics.height } / frames.count
            config.mcmc.budget = MCMCSettings.sceneBudget(pixelsPerImage: pixels)
        }
        let shortest = frames.map { min($0.intrinsics.width, $0.intrinsics.height) }.min() ?? 0
        config.resolution.downscales = config.resolution.effectiveDownscales(shortestSide: shortest)
        return config
    }

    /// The initial opacity and the factor on the neighbour-distance scale
    /// new Gaussians start with: MCMC's (0.5, 0.1) or 3DGS's (0.1, 1).
    public var initialization: (opacity: Double, scaleFactor: Double) {
        densify == .mcmc ? (mcmc.initialOpacity, mcmc.initialScale) : (initialOpacity, 1)
    }

    /// The SH degree rendered at (1-based) `iteration`: one band more every
    /// `shDegreeInterval` iterations up to `maxSHDegree` (3DGS's schedule).
    public func shDegree(atIteration iteration: Int) -> Int {
        min(maxSHDegree, max(0, iteration - 1) / max(1, shDegreeInterval))
    }

    /// `group`'s learning rate in this recipe: the schema's schedule with the
    /// rates set here. The SH bands above the base colour train at a
    /// twentieth of `featureLR` (3DGS). A group these settings do not name
    /// keeps the schema's default.
    public func learningRate(of group: GaussianParameterGroup) -> GaussianParameterGroup.LearningRate {
        var rate = group.learningRate
        switch group.name {
        case "positions":
            rate.initial = positionLR
            rate.schedule = .exponentialDecay(final: positionLRFinal)
        case "scales": rate.initial = scalingLR
        case "rotations": rate.initial = rotationLR
        case "opacities": rate.initial = opacityLR
        case "sh_dc": rate.initial = featureLR
        case "sh_rest": rate.initial = featureLR / 20
        default: break
        }
        return rate
    }

    /// `group`'s learning rate at (1-based) `iteration` in a scene of size `extent`.
    public func learningRate(for group: GaussianParameterGroup, iteration: Int, extent: Double) -> Float {
        learningRate(of: group).value(iteration: iteration, iterations: iterations, extent: extent)
    }
}

/// How `splat train` grows the model.
public enum DensificationStrategy: String, Codable, CaseIterable {
    /// 3DGS's clone / split / prune on screen-space gradients (`DensificationSettings`).
    case adaptive
    /// Relocation and growth under a budget (`MCMCSettings`).
    case mcmc
}

/// Training on smaller images first (as OpenSplat's --num-downscales and
/// --resolution-schedule): iterations 1...interval render at 1/2^downscales
/// of the training size, the next `interval` at twice that, and so on up to
/// the full size. The smaller copies are made once, at the start, from the
/// training images with the same area filter as --downscale.
public struct ResolutionSchedule: Codable, Equatable {
    /// Halvings of the width and height at the start (0: full size throughout).
    public var downscales = 2
    /// Iterations per size; 0: 3000, or 3/7 of a run shorter than 7000
    /// iterations, so every run spends its last seventh at full size.
    public var interval = 0
    public init() {}

    /// Iterations per size in a run of `iterations`.
    public func resolvedInterval(iterations: Int) -> Int {
        interval > 0 ? interval : max(1, min(3000, iterations * 3 / 7))
    }

    /// The halvings at (1-based) `iteration` of a run of `iterations` (0: full size).
    public func level(atIteration iteration: Int, of iterations: Int) -> Int {
        guard downscales > 0 else { return 0 }
        return max(0, downscales - max(0, iteration - 1) / resolvedInterval(iterations: iterations))
    }

    /// Images are never halved below this many pixels on their shorter side.
    public static let minimumSide = 32

    /// The halvings used for images whose shorter side is `shortestSide`:
    /// `downscales`, fewer where a level would go below `minimumSide`. On
    /// Scenes/toy at --downscale 4 (40x40) two halvings meant 10x10 images,
    /// which floaters fit: 24.2 dB at 7000 iterations against 30+ dB
    /// without the schedule (docs/training.md).
    public func effectiveDownscales(shortestSide: Int) -> Int {
        var k = max(0, downscales)
        while k > 0 && shortestSide >> k < Self.minimumSide { k -= 1 }
        return k
    }

    /// The first iteration at full size, or nil when a run of `iterations` never reaches it.
    public func fullSizeIteration(of iterations: Int) -> Int? {
        let first = downscales * resolvedInterval(iterations: iterations) + 1
        return first <= iterations ? first : nil
    }
}

/// Initial Gaussians (3DGS): from points with colours, or random points in a
/// box; scales from the mean squared distance to the 3 nearest neighbours,
/// identity rotations, opacity 0.1.
public enum GaussianInitialization {
    /// The scene's points when it has any, else random points in the box
    /// around where the training cameras look (`lookAtBox`).
    public static func forScene(points: PointCloud?, poses: [Pose], config: GaussianTrainingConfig) -> GaussianModel {
        if let points, points.count > 0 { return fromPoints(points, config: config) }
        return random(in: lookAtBox(poses), config: config)
    }

    /// A box around the point the cameras look at (least squares over their
    /// optical axes), half-size 0.3 x the mean camera distance to it: where
    /// object-centric captures keep their subject.
    public static func lookAtBox(_ poses: [Pose]) -> Box {
        let centre: Vector3
        if let point = Pose.lookAtPoint(poses) {
            centre = point
        } else {
            // Parallel optical axes (one camera, identical cameras): no
            // crossing point, so look one unit (or the cameras' spread) ahead.
            let mean = poses.map(\.position).reduce(.zero, +) / Double(max(poses.count, 1))
            let spread = max(1, poses.map { ($0.position - mean).length }.max() ?? 0)
            let forward = poses.map { $0.forward.normalized }.reduce(.zero, +)
            centre = mean + (forward.length > 0 ? forward.normalized : Vector3(0, 0, 1)) * spread
        }
        let distance = poses.map { ($0.position - centre).length }.reduce(0, +) / Double(max(poses.count, 1))
        let half = max(0.3 * distance, 1e-3)
        return Box(min: centre - Vector3(repeating: half), max: centre + Vector3(repeating: half))
    }

    /// A random `limit` of the cloud's points (seeded, in their original
    /// order), or the cloud itself when it has at most `limit`.
    public static func subsample(_ cloud: PointCloud, to limit: Int, seed: UInt64) -> PointCloud {
        guard cloud.count > limit else { return cloud }
        var rng = SplitMix64(seed: seed &+ 0x5ab5)
        var indices = Array(0..<cloud.count)
        // Partial Fisher-Yates: the first `limit` entries become a uniform sample.
        for i in 0..<limit { indices.swapAt(i, i + Int(rng.next() % UInt64(cloud.count - i))) }
        let kept = indices[0..<limit].sorted()
        return PointCloud(positions: kept.flatMap { cloud.positions[3 * $0..<3 * $0 + 3] },
                          colors: kept.flatMap { cloud.colors[3 * $0..<3 * $0 + 3] })
    }

    public static func fromPoints(_ cloud: PointCloud, config: GaussianTrainingConfig) -> GaussianModel {
        let n = cloud.count
        var m = GaussianModel(count: n, shDegree: config.maxSHDegree)
        m.positions = cloud.positions
        for i in 0..<(n * 3) { m.shDC[i] = (Float(cloud.colors[i]) / 255 - 0.5) / RasterConstants.shC0 }
        finish(&m, config: config)
        return m
    }

    public static func random(in box: Box, config: GaussianTrainingConfig) -> GaussianModel {
        var rng = SplitMix64(seed: config.seed &+ 0x5eed)
        let n = config.randomPoints
        var m = GaussianModel(count: n, shDegree: config.maxSHDegree)
        for i in 0..<n {
            for k in 0..<3 {
                m.positions[3 * i + k] = Float(box.min[k] + (box.max[k] - box.min[k]) * Double(rng.uniform()))
                m.shDC[3 * i + k] = (rng.uniform() - 0.5) / RasterConstants.shC0
            }
        }
        finish(&m, config: config)
        return m
    }

    /// 4D Gaussians from a 3D start: the same means, scales and colours, time
    /// means uniform over `times` (seeded) and time standard deviations of
    /// `config.initialTimeScale` x its span, identity right quaternions.
    public static func addingTime(to model: GaussianModel, times: ClosedRange<Double>, config: GaussianTrainingConfig) -> GaussianModel {
        var m = model
        var rng = SplitMix64(seed: config.seed &+ 0x71e)
        let span = max(times.upperBound - times.lowerBound, 1e-3)
        m.hasTime = true
        m.timeMeans = (0..<m.count).map { _ in Float(times.lowerBound + span * Double(rng.uniform())) }
        m.timeScales = [Float](repeating: Float(log(config.initialTimeScale * span)), count: m.count)
        m.rotationsRight = [Float](repeating: 0, count: m.count * 4)
        for i in 0..<m.count { m.rotationsRight[4 * i] = 1 }
        return m
    }

    static func finish(_ m: inout GaussianModel, config: GaussianTrainingConfig) {
        let (opacity, scaleFactor) = config.initialization
        let logit = Float(log(opacity / (1 - opacity)))
        let d2 = meanSquaredNeighbourDistance(m.positions)
        for i in 0..<m.count {
            m.opacities[i] = logit
            let s = Float(0.5 * log(max(d2[i], 1e-7)) + log(scaleFactor))
            m.scales[3 * i] = s
            m.scales[3 * i + 1] = s
            m.scales[3 * i + 2] = s
        }
    }

    /// Mean squared distance of each point to its 3 nearest neighbours, with a
    /// uniform grid (cells of about 2 points) searched ring by ring.
    public static func meanSquaredNeighbourDistance(_ positions: [Float]) -> [Double] {
        let n = positions.count / 3
        guard n > 1 else { return [Double](repeating: 0.01, count: n) }
        let points = (0..<n).map { SIMD3(Double(positions[3 * $0]), Double(positions[3 * $0 + 1]), Double(positions[3 * $0 + 2])) }
        let box = Box.bounding(points)!
        // Flat or tiny point sets: each side at least 1/1000 of the largest,
        // so the grid has about 2 points per cell and not millions of empty
        // cells along a thin side (two points once took minutes).
        let size = box.size, floor = max(size.x, size.y, size.z, 1e-9) * 1e-3
        let volume = max(size.x, floor) * max(size.y, floor) * max(size.z, floor)
        let cell = max(1e-9, cbrt(volume * 2 / Double(n)))
        let dims = SIMD3<Int>(Int(size.x / cell) + 1, Int(size.y / cell) + 1, Int(size.z / cell) + 1)
        func key(_ c: SIMD3<Int>) -> Int { (c.z * dims.y + c.y) * dims.x + c.x }
        func cellOf(_ p: Vector3) -> SIMD3<Int> {
            let r = (p - box.min) / cell
            return SIMD3(min(dims.x - 1, Int(r.x)), min(dims.y - 1, Int(r.y)), min(dims.z - 1, Int(r.z)))
        }
        var grid: [Int: [Int]] = [:]
        for (i, p) in points.enumerated() { grid[key(cellOf(p)), default: []].append(i) }
        var out = [Double](repeating: 0, count: n)
        for (i, p) in points.enumerated() {
            let c = cellOf(p)
            var best: [Double] = []
            var ring = 1
            while true {
                best.removeAll(keepingCapacity: true)
                for dz in -ring...ring {
                    for dy in -ring...ring {
                        for dx in -ring...ring {
                            let q = c &+ SIMD3(dx, dy, dz)
                            guard q.x >= 0, q.y >= 0, q.z >= 0, q.x < dims.x, q.y < dims.y, q.z < dims.z, let list = grid[key(q)] else { continue }
                            for j in list where j != i {
                                let d = points[j] - p
                                best.append(d.dot(d))
                            }
                        }
                    }
                }
                // Three neighbours inside the searched cube's inscribed sphere are the true nearest.
                best.sort()
                let reach = Double(ring) * cell
                if best.count >= 3 && best[2] <= reach * reach { break }
                if ring > max(dims.x, dims.y, dims.z) { break }
                ring += 1
            }
            let k = min(3, best.count)
            out[i] = k > 0 ? best.prefix(k).reduce(0, +) / Double(k) : 0.01
        }
        return out
    }
}

/// One training frame on the GPU: its camera and target image at each size
/// of the resolution schedule.
struct TrainingView {
    /// Level k: 1/2^k of the training size (k = 0 is the training size).
    var levels: [(camera: RasterCamera, target: GPUBuffer)]  // target [H, W] u32 RGBA8: composited over the background, or straight alpha (random backgrounds)
    var straightAlpha = false
    /// The frame's time (4D models render at it).
    var time: Float = 0
}

/// The 3DGS optimisation loop on the GPU: render a training view, the
/// L1 + D-SSIM loss and its gradient, the backward pass, Adam with the
/// recipe's per-group learning rates (`GaussianTrainingConfig.learningRate`:
/// the position rate decays exponentially and scales with the scene
/// extent), and adaptive density control
/// (`GaussianDensifier`) on the original schedule.
public final class GaussianTrainer {
    public let device: ComputeDevice
    /// The recipe, with an MCMC budget of 0 resolved from the frames' size
    /// (`MCMCSettings.sceneBudget`).
    public let config: GaussianTrainingConfig
    public let rasterizer: GaussianRasterizer
    let loss: ImageLoss
    let adam: Adam
    public let densifier: GaussianDensifier
    /// MCMC relocation, noise and regularisers (with `config.densify == .mcmc`).
    public let mcmc: MCMCDensifier?
    /// The opacity entropy regulariser (with `config.opacityEntropy` > 0).
    let entropy: OpacityEntropy?
    /// The 4D consistency regulariser (with `config.consistency4D` > 0).
    let consistency: VelocityConsistency?
    let extent: Double
    let background: SIMD3<Float>
    var views: [TrainingView] = []
    var order: [Int] = []
    var lastView = 0
    var lastBackground = SIMD3<Float>(0, 0, 0)
    var rng: SplitMix64
    let gradient = ScratchBuffer(label: "loss gradient")
    let stream: CommandStream
    public internal(set) var iteration = 0
    /// Set by a caller whose run ends on a time budget: how many iterations
    /// it expects to run after this one. Opacity resets then follow the
    /// rule for the end this predicts (`DensificationSettings.resetsOpacity`:
    /// none in the last half interval), as they do for the last iteration (a run stopped just after a reset shows
    /// the faded opacities: hook lost dB that way, docs/decisions.md).
    public var iterationsLeftEstimate: Int?
    /// The last densification's report (nil before the first).
    public private(set) var lastDensification: DensificationReport?
    /// The last MCMC refinement's report (nil before the first).
    public private(set) var lastRefinement: MCMCReport?
    /// Wall-clock milliseconds of the last step's stages: forward, loss,
    /// backward, optimiser, densify (each includes its GPU work and
    /// synchronisation; densify is 0 on steps that do not densify).
    public private(set) var lastStageMilliseconds: [String: Double] = [:]
    /// When set, the loss and optimiser streams time every dispatch (GPU
    /// timestamps) into `lastKernelMilliseconds`, keyed by the dispatch's
    /// label (`splat bench train --profile`); timestamps cost a little.
    public var profileKernels = false {
        didSet { stream.profileDispatches = profileKernels }
    }
    /// GPU milliseconds per dispatch label of the last step's loss and
    /// optimiser streams (empty unless `profileKernels`).
    public private(set) var lastKernelMilliseconds: [String: Double] = [:]

    public init(device: ComputeDevice, frames: [LoadedFrame], initial: GaussianModel, extent: Double,
                background: SIMD3<Float>, config: GaussianTrainingConfig) throws {
        guard !frames.isEmpty else { throw DatasetError("scene", "no training images") }
        self.device = device
        self.config = config.resolved(for: frames)
        self.extent = extent
        self.background = background
        rasterizer = try GaussianRasterizer(device: device)
        try rasterizer.setModel(initial)
        loss = try ImageLoss(device: device)
        loss.lambda = Float(config.lambdaDSSIM)
        adam = try Adam(device: device, hyperparameters: Adam.Hyperparameters(epsilon: 1e-15, sparse: config.sparseAdam))
        stream = try CommandStream(device: device)
        densifier = try GaussianDensifier(device: device, settings: config.densification)
        densifier.seed = UInt32(truncatingIfNeeded: config.seed)
        if config.densify == .mcmc {
            let mcmc = try MCMCDensifier(device: device, settings: config.mcmc)
            mcmc.seed = config.seed
            self.mcmc = mcmc
        } else {
            mcmc = nil
        }
        entropy = config.opacityEntropy > 0 ? try OpacityEntropy(device: device, weight: config.opacityEntropy) : nil
        consistency = config.consistency4D > 0 ? try VelocityConsistency(device: device, weight: config.consistency4D) : nil
        rng = SplitMix64(seed: config.seed)
        let bg = SIMD3<Double>(Double(background.x), Double(background.y), Double(background.z))
        let levels = max(0, config.resolution.downscales)
        for f in frames {
            // With random backgrounds, images with alpha keep it and the loss
            // composites them over each iteration's colour.
            let straight = config.randomBackground && f.image.channels == 4
            var image = straight ? f.image : Self.composite(f.image, over: bg)
            var intrinsics = f.intrinsics
            var view = TrainingView(levels: [], straightAlpha: straight, time: Float(f.frame.time ?? 0))
            for level in 0...levels {
                if level > 0 {
                    // Halve the previous level (area filter, as --downscale); the
                    // intrinsics follow the size the filter gives.
                    let size = Image8.downscaledSize(width: image.width, height: image.height, by: 2)
                    image = image.downscaled(by: 2)
                    intrinsics = intrinsics.scaled(toWidth: size.width, height: size.height)
                }
                let c = image.channels
                var packed = [UInt32](repeating: 0, count: image.width * image.height)
                for p in packed.indices {
                    let alpha = straight ? UInt32(image.pixels[c * p + 3]) << 24 : 0xff00_0000
                    packed[p] = UInt32(image.pixels[c * p]) | UInt32(image.pixels[c * p + 1]) << 8 | UInt32(image.pixels[c * p + 2]) << 16 | alpha
                }
                view.levels.append((RasterCamera(intrinsics: intrinsics, pose: f.frame.pose),
                                    try GPUBuffer(device: device, packed, label: "target /\(1 << level)")))
            }
            views.append(view)
        }
    }

    /// The resolution level (halvings) of (1-based) `iteration`.
    public func level(atIteration iteration: Int) -> Int {
        min(config.resolution.level(atIteration: iteration, of: config.iterations), max(0, config.resolution.downscales))
    }

    /// The camera and target of the last step.
    var lastLevelView: (camera: RasterCamera, target: GPUBuffer) {
        views[lastView].levels[level(atIteration: max(1, iteration))]
    }

    private func collectKernelTimings() throws {
        guard profileKernels else { return }
        for t in try stream.timings() { lastKernelMilliseconds[t.label, default: 0] += t.milliseconds }
    }

    /// RGBA composited over `bg` (in [0, 1]; straight alpha), as RGB.
    public static func composite(_ image: Image8, over bg: SIMD3<Double>) -> Image8 {
        let byte = { (v: Double) in UInt8(max(0, min(255, (v * 255).rounded()))) }
        return image.composited(overRGB: byte(bg.x), byte(bg.y), byte(bg.z))
    }

    /// PSNR of the last step's render against its target (clamped to [0, 1]),
    /// for progress reports; downloads one image.
    public func lastViewPSNR() throws -> Double? {
        guard iteration > 0, let color = rasterizer.colorBuffer else { return nil }
        let view = views[lastView], sized = lastLevelView
        let pixels = sized.camera.width * sized.camera.height
        let rgba = try color.buffer.read(Float.self, count: pixels * 4, device: device)
        let target = try sized.target.read(UInt32.self, count: pixels, device: device)
        // Both as [H, W, 3]: the render's RGB and the target over this step's background.
        var rendered = [Float](repeating: 0, count: pixels * 3)
        var reference = [UInt8](repeating: 0, count: pixels * 3)
        for p in 0..<pixels {
            let a = view.straightAlpha ? Float(target[p] >> 24) / 255 : 1
            for c in 0..<3 {
                rendered[3 * p + c] = rgba[4 * p + c]
                let t = Float((target[p] >> (8 * UInt32(c))) & 0xff) / 255 * a + lastBackground[c] * (1 - a)
                reference[3 * p + c] = UInt8((t * 255).rounded())
            }
        }
        return ImageMetrics.psnr(rendered: rendered, target: reference)
    }

    /// One optimisation step; returns the loss values of the view it used.
    @discardableResult
    public func step() throws -> (loss: Float, l1: Float, ssim: Float) {
        iteration += 1
        if order.isEmpty { order = (0..<views.count).shuffled(using: &rng) }
        lastView = order.removeLast()
        let level = self.level(atIteration: iteration)
        let view = views[lastView]
        let (camera, target) = view.levels[level]
        let degree = config.shDegree(atIteration: iteration)
        var bg = background
        if config.randomBackground { bg = SIMD3(rng.uniform(), rng.uniform(), rng.uniform()) }
        lastBackground = bg
        loss.targetBackground = view.straightAlpha ? bg : nil
        let settings = RasterSettings(background: bg, antialias: false, shDegree: degree, time: view.time)
        var clock = DispatchTime.now().uptimeNanoseconds
        func lap(_ stage: String) {
            let now = DispatchTime.now().uptimeNanoseconds
            lastStageMilliseconds[stage] = Double(now - clock) / 1e6
            clock = now
        }
        try rasterizer.renderOnDevice(camera: camera, settings: settings)
        lap("forward")
        let pixels = camera.width * camera.height
        let grad = try gradient.atLeast(pixels * 12, device: device).slice(offset: 0, length: pixels * 12)
        lastKernelMilliseconds = [:]
        stream.reset()
        if profileKernels { try stream.mark("begin") }
        try loss.record(stream, rendered: rasterizer.colorBuffer!, target: target, gradient: grad,
                        width: camera.width, height: camera.height)
        try stream.run()
        try collectKernelTimings()
        let values = try loss.values()
        lap("loss")
        guard values.loss.isFinite else {
            throw ComputeError.invalidArgument("the loss became \(values.loss) at iteration \(iteration)")
        }
        try rasterizer.backwardOnDevice(gradColor: grad)
        lap("backward")
        adam.beginStep()
        stream.reset()
        if profileKernels { try stream.mark("begin") }
        let schema = rasterizer.schema
        try mcmc?.recordRegularize(stream, rasterizer: rasterizer)
        try entropy?.record(stream, rasterizer: rasterizer)
        try consistency?.record(stream, rasterizer: rasterizer)
        for group in rasterizer.trainableGroups() {
            let rate = schema.group(named: group.name).map { config.learningRate(for: $0, iteration: iteration, extent: extent) }
            try adam.record(stream, group: group.name, parameters: group.parameters, gradients: group.gradients,
                            count: group.count, learningRate: rate ?? 0)
        }
        if let mcmc, let positions = schema.index(of: .position) {
            let rate = config.learningRate(for: schema.groups[positions], iteration: iteration, extent: extent)
            try mcmc.recordNoise(stream, rasterizer: rasterizer, learningRate: Double(rate), extent: extent, iteration: iteration)
        }
        let density = config.densification
        let adaptive = config.densify == .adaptive
        if adaptive && iteration < density.until && density.interval > 0 {
            try densifier.recordAccumulate(stream, rasterizer: rasterizer, radiusScale: Float(1 << level))
        }
        try stream.run()
        try collectKernelTimings()
        lap("optimiser")
        // Densify after the optimiser step (the original densifies before it,
        // but its new tensors have no gradient then, so that step changes
        // nothing for them either).
        if let mcmc {
            if config.mcmc.refines(at: iteration) {
                lastRefinement = try mcmc.refine(rasterizer: rasterizer, adam: adam, densifier: densifier)
            }
        } else {
            if density.densifies(at: iteration) {
                lastDensification = try densifier.densify(rasterizer: rasterizer, adam: adam, iteration: iteration, extent: extent)
            }
            let end = iterationsLeftEstimate.map { min(config.iterations, iteration + $0) } ?? config.iterations
            if density.resetsOpacity(at: iteration, of: end) {
                try densifier.resetOpacity(rasterizer: rasterizer, adam: adam)
            }
        }
        lap("densify")
        return (values.loss, values.l1, values.ssim)
    }
}
