import CShaderLayouts
import Compute
import ComputePrimitives
import Foundation
import Datasets
import Geometry
import Training

/// The NeRF engine's configuration, in tiny-cuda-nn's spelling where it has
/// one: `{"encoding": {HashGrid}, "network": {FullyFusedMLP, density},
/// "rgb_network": {FullyFusedMLP, colour}, "learning_rate": 1e-2, ...,
/// "loss": "L2"}`; the optimiser's and the sampler's keys sit at the top
/// level. docs/nerf.md, "Configuration", lists every key.
public struct NerfConfig: Codable, Equatable {
    public var encoding = HashGridConfig()
    public var network = MLPConfig(neurons: 64, hiddenLayers: 1)
    public var rgbNetwork = MLPConfig(neurons: 64, hiddenLayers: 2)
    /// Adam (instant-ngp: lr 1e-2, betas 0.9 / 0.99, eps 1e-15).
    public var learningRate: Float = 1e-2
    public var beta1: Float = 0.9
    public var beta2: Float = 0.99
    public var epsilon: Float = 1e-15
    /// L2 regularisation of the MLP weights (not the hash table), as tiny-cuda-nn's Adam `l2_reg`.
    public var l2Regularization: Float = 1e-6
    /// Learning-rate decay (tiny-cuda-nn's ExponentialDecay as instant-ngp
    /// configures it): after `decay_start` steps the rate is multiplied by
    /// `decay_base` every `decay_interval` steps, lr = learning_rate *
    /// decay_base^floor((step - decay_start) / decay_interval).
    public var decayStart = 20_000
    public var decayInterval = 10_000
    public var decayBase: Float = 0.33
    /// A run bounded by time (`splat train --max-seconds`) decays by
    /// `decay_base` at these fractions of its budget instead (ascending, in
    /// (0, 1]); see `learningRate(progress:)`.
    public var decayBudgetPoints: [Double] = [0.75, 0.9]
    /// fp16 storage of the MLPs' activations and deltas between the passes
    /// (needs 16-bit storage-buffer access; tiny-cuda-nn keeps them in fp16).
    public var fp16Storage = false
    /// "L2" or "Huber".
    public var loss = "L2"
    /// Rays of the first training batch; later batches adapt their ray count
    /// so that their samples come near `samplesPerBatch`.
    public var raysPerBatch = 4096
    /// Samples per batch (instant-ngp: 2^18; a CPU device wants far fewer):
    /// rays beyond it are dropped from the batch.
    public var samplesPerBatch = 1 << 18
    /// Occupancy grid cells per axis and the random cells each update evaluates.
    public var gridSize = 128
    public var gridUpdatePoints = 65_536
    /// Steps across the unit box's diagonal at the finest step (instant-ngp: 1024; fewer is faster and coarser).
    public var marchSteps = 1024
    /// The field: "density" (NeRF: volume weight 1 - exp(-sigma dt)) or
    /// "sdf" (NeuS: a signed distance, the logistic-CDF volume weight,
    /// normals from its gradient; `sdf` holds its settings).
    public var field = "density"
    public var sdf = SDFConfig()

    /// The field is a signed distance (NeuS).
    public var isSDF: Bool { field == "sdf" }
    /// The field network's input width: the hash encoding, after 3 position
    /// columns for an SDF (its geometric initialisation needs the position).
    public var fieldInputs: Int { encoding.levels * encoding.featuresPerLevel + (isSDF ? SDFField.positionColumns : 0) }
    /// The colour network's input width: SH(16) + the field's 16 outputs,
    /// plus position and gradient for an SDF.
    public var colourInputs: Int { isSDF ? SDFField.colourInputWidth : SphericalHarmonicsEncoding.outputWidth + 16 }
    /// Points the field network evaluates per sample (an SDF's stencil).
    public var pointsPerSample: Int { isSDF ? SDFField.stencilPoints : 1 }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case encoding, network, loss
        case rgbNetwork = "rgb_network"
        case learningRate = "learning_rate", beta1, beta2, epsilon, l2Regularization = "l2_reg"
        case decayStart = "decay_start", decayInterval = "decay_interval", decayBase = "decay_base"
        case decayBudgetPoints = "decay_budget_points"
        case raysPerBatch = "rays_per_batch", gridSize = "grid_size", gridUpdatePoints = "grid_update_points"
        case marchSteps = "march_steps", samplesPerBatch = "samples_per_batch", fp16Storage = "fp16_storage"
        case field, sdf
    }

    public init() {}

    /// Every key a configuration file may hold (a misspelt key would
    /// otherwise be ignored without a word).
    public static var keys: [String] { CodingKeys.allCases.map(\.rawValue) }

    /// The defaults for a CPU device (lavapipe): instant-ngp's recipe scaled
    /// to a few seconds per hundred steps (see docs/nerf.md, "On a CPU device").
    public static var cpuDefaults: NerfConfig {
        var c = NerfConfig()
        c.samplesPerBatch = 1 << 14
        c.raysPerBatch = 512
        c.gridUpdatePoints = 1 << 14
        c.gridSize = 64
        c.marchSteps = 256
        c.network = MLPConfig(neurons: 32, hiddenLayers: 1)
        c.rgbNetwork = MLPConfig(neurons: 32, hiddenLayers: 1)
        return c
    }

    /// Every key optional: a partial JSON keeps the defaults for the rest.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = NerfConfig()
        encoding = try c.decodeIfPresent(HashGridConfig.self, forKey: .encoding) ?? d.encoding
        network = try c.decodeIfPresent(MLPConfig.self, forKey: .network) ?? d.network
        rgbNetwork = try c.decodeIfPresent(MLPConfig.self, forKey: .rgbNetwork) ?? d.rgbNetwork
        learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate) ?? d.learningRate
        beta1 = try c.decodeIfPresent(Float.self, forKey: .beta1) ?? d.beta1
        beta2 = try c.decodeIfPresent(Float.self, forKey: .beta2) ?? d.beta2
        epsilon = try c.decodeIfPresent(Float.self, forKey: .epsilon) ?? d.epsilon
        l2Regularization = try c.decodeIfPresent(Float.self, forKey: .l2Regularization) ?? d.l2Regularization
        decayStart = try c.decodeIfPresent(Int.self, forKey: .decayStart) ?? d.decayStart
        decayInterval = try c.decodeIfPresent(Int.self, forKey: .decayInterval) ?? d.decayInterval
        decayBase = try c.decodeIfPresent(Float.self, forKey: .decayBase) ?? d.decayBase
        decayBudgetPoints = try c.decodeIfPresent([Double].self, forKey: .decayBudgetPoints) ?? d.decayBudgetPoints
        loss = try c.decodeIfPresent(String.self, forKey: .loss) ?? d.loss
        raysPerBatch = try c.decodeIfPresent(Int.self, forKey: .raysPerBatch) ?? d.raysPerBatch
        gridSize = try c.decodeIfPresent(Int.self, forKey: .gridSize) ?? d.gridSize
        gridUpdatePoints = try c.decodeIfPresent(Int.self, forKey: .gridUpdatePoints) ?? d.gridUpdatePoints
        marchSteps = try c.decodeIfPresent(Int.self, forKey: .marchSteps) ?? d.marchSteps
        samplesPerBatch = try c.decodeIfPresent(Int.self, forKey: .samplesPerBatch) ?? d.samplesPerBatch
        fp16Storage = try c.decodeIfPresent(Bool.self, forKey: .fp16Storage) ?? d.fp16Storage
        field = try c.decodeIfPresent(String.self, forKey: .field) ?? d.field
        sdf = try c.decodeIfPresent(SDFConfig.self, forKey: .sdf) ?? d.sdf
    }

    /// NeuS's recipe (NeuS2's sizes): an SDF field of MLP(position, hash)
    /// with one 64-wide Softplus (beta 100) hidden layer and biases, the
    /// geometric initialisation, a Huber colour loss (NeuS: L1).
    public static var neusDefaults: NerfConfig {
        var c = NerfConfig()
        c.field = "sdf"
        c.encoding = HashGridConfig(levels: 14, featuresPerLevel: 2, log2HashmapSize: 19, baseResolution: 16)
        c.network = MLPConfig(neurons: 64, hiddenLayers: 1)
        c.network.activation = "Softplus"
        c.network.biases = true
        c.loss = "Huber"
        return c
    }

    /// The largest `rays_per_batch` (the adapted ray count's cap too).
    public static let maxRaysPerBatch = 1 << 20
    /// The largest `samples_per_batch` and `grid_update_points` (16 x instant-ngp's 2^18).
    public static let maxSamplesPerBatch = 1 << 22
    /// `march_steps` range: below 8 a ray skips whole cells; 1e12 steps made
    /// a ray through empty space take (practically) forever.
    public static let marchStepsRange = 8...8192
    /// `grid_size` range (the cell index of up to 8 cascades stays within 32 bits).
    public static let gridSizeRange = 8...512

    /// Why this configuration cannot train, or nil: the first key out of the
    /// range the kernels support, named as in the JSON. Every configuration
    /// read (a `--nerf-config` file, a model's or checkpoint's header) is
    /// checked here before any size is computed from it.
    public var problem: String? {
        if let p = encoding.problem { return "encoding: \(p)" }
        if let p = network.problem(inputs: fieldInputs, outputs: 16) { return "network: \(p)" }
        if let p = rgbNetwork.problem(inputs: colourInputs, outputs: 3) { return "rgb_network: \(p)" }
        if !["density", "sdf"].contains(field) { return "field must be density or sdf, got \(field)" }
        if isSDF {
            if let p = sdf.problem { return "sdf: \(p)" }
            if !network.biases { return "network: an sdf field's network needs biases (\"biases\": true) for its geometric initialisation" }
        }
        if !["L2", "Huber"].contains(loss) { return "loss must be L2 or Huber, got \(loss)" }
        if !(1...Self.maxRaysPerBatch).contains(raysPerBatch) {
            return "rays_per_batch must be within 1...\(Self.maxRaysPerBatch), got \(raysPerBatch)"
        }
        if !(1024...Self.maxSamplesPerBatch).contains(samplesPerBatch) {
            return "samples_per_batch must be within 1024...\(Self.maxSamplesPerBatch), got \(samplesPerBatch)"
        }
        // grid_size^3 a multiple of 32 (whole words of occupancy bits) is grid_size a multiple of 4.
        if !Self.gridSizeRange.contains(gridSize) || gridSize % 4 != 0 {
            return "grid_size must be a multiple of 4 within \(Self.gridSizeRange), got \(gridSize)"
        }
        if !(1...Self.maxSamplesPerBatch).contains(gridUpdatePoints) {
            return "grid_update_points must be within 1...\(Self.maxSamplesPerBatch), got \(gridUpdatePoints)"
        }
        if !Self.marchStepsRange.contains(marchSteps) {
            return "march_steps must be within \(Self.marchStepsRange), got \(marchSteps)"
        }
        if !(learningRate > 0 && learningRate.isFinite) { return "learning_rate must be finite and positive, got \(learningRate)" }
        if !(beta1 >= 0 && beta1 < 1) { return "beta1 must be in [0, 1), got \(beta1)" }
        if !(beta2 >= 0 && beta2 < 1) { return "beta2 must be in [0, 1), got \(beta2)" }
        if !(epsilon > 0 && epsilon.isFinite) { return "epsilon must be finite and positive, got \(epsilon)" }
        if !(l2Regularization >= 0 && l2Regularization.isFinite) { return "l2_reg must be finite and >= 0, got \(l2Regularization)" }
        if decayStart < 0 { return "decay_start must be >= 0, got \(decayStart)" }
        if decayInterval < 1 { return "decay_interval must be >= 1, got \(decayInterval)" }
        if !(decayBase > 0 && decayBase <= 1) { return "decay_base must be in (0, 1], got \(decayBase)" }
        if decayBudgetPoints.count > 64 || decayBudgetPoints.contains(where: { !($0 > 0 && $0 <= 1) })
            || decayBudgetPoints != decayBudgetPoints.sorted() {
            return "decay_budget_points must be at most 64 ascending fractions in (0, 1], got \(decayBudgetPoints)"
        }
        return nil
    }

    /// Why a model of this configuration (valid: `problem` is nil) and scene
    /// box does not fit `info`'s device, or nil: the hash table and the
    /// per-sample buffers of a batch must each fit one storage-buffer binding
    /// and allocation, and the parameters with their gradients and Adam
    /// moments plus one batch's buffers the device's largest memory heap.
    /// Computed with overflow checks, before anything is allocated.
    /// Without `training` (a model loaded to render) only the parameters and
    /// the grid count: rendering sizes its own dispatches to the device.
    public func resourceProblem(aabbScale: Int, device info: DeviceInfo, training: Bool = true) -> String? {
        func product(_ factors: Int...) -> Int? {
            var result = 1
            for f in factors {
                let (value, overflow) = result.multipliedReportingOverflow(by: f)
                if overflow || value < 0 { return nil }
                result = value
            }
            return result
        }
        let levels = HashGridEncoding.layout(encoding, aabbScale: Double(aabbScale))
        let entries = levels.reduce(0) { $0 + Int($1.entries) }
        let settings = OccupancyGrid.Settings.instantNGP(aabbScale: aabbScale, gridSize: gridSize, steps: marchSteps)
        let width = fieldInputs * pointsPerSample
        let hidden = max(network.neurons, rgbNetwork.neurons) * max(1, max(network.hiddenLayers, rgbNetwork.hiddenLayers) + 1) * pointsPerSample
        guard let tableBytes = product(entries, encoding.featuresPerLevel, 4),
              let gridBytes = product(settings.cellCount, 4),
              let encodedBytes = product(samplesPerBatch, width, 4),
              let hiddenBytes = product(samplesPerBatch, hidden, 4),
              let rayBytes = product(Self.maxRaysPerBatch, 24) else {
            return "the configuration's buffer sizes overflow"
        }
        let bindingLimit = info.maxMemoryAllocationSize > 0 ? min(info.maxStorageBufferRange, info.maxMemoryAllocationSize)
                                                             : info.maxStorageBufferRange
        var buffers = [("hash table (encoding)", tableBytes), ("occupancy grid (grid_size)", gridBytes)]
        if training {
            buffers += [("encoded samples (samples_per_batch x encoding)", encodedBytes),
                        ("MLP activations (samples_per_batch x networks)", hiddenBytes)]
        }
        for (name, bytes) in buffers where bindingLimit > 0 && bytes > bindingLimit {
            return "the \(name) needs \(bytes) bytes in one buffer; \(info.name) binds at most \(bindingLimit)"
        }
        // Parameters, gradients and two Adam moments; a batch's encodings and
        // activations forward and backward; the grid and its scratch.
        let parts = training ? [product(tableBytes, 4), product(encodedBytes, 2), product(hiddenBytes, 3), product(gridBytes, 2), rayBytes]
                             : [product(tableBytes, 2), product(gridBytes, 2)]
        var total = 0
        for part in parts {
            guard let part, case let (sum, overflow) = total.addingReportingOverflow(part), !overflow else {
                return "the configuration's buffer sizes overflow"
            }
            total = sum
        }
        let heap = info.heaps.filter(\.deviceLocal).map(\.bytes).max() ?? info.heaps.map(\.bytes).max() ?? 0
        if heap > 0 && total > heap {
            return "\(training ? "training" : "loading") it needs about \(total >> 20) MiB of device memory; \(info.name)'s largest heap holds \(heap >> 20) MiB"
        }
        return nil
    }

    /// Reads a configuration from JSON (a `--nerf-config` file): unknown keys
    /// and values out of range (`problem`) are errors naming `path` and the key.
    public static func decode(_ data: Data, path: String) throws -> NerfConfig {
        let config: NerfConfig
        do { config = try StrictJSON.decode(NerfConfig.self, from: data, path: path) } catch let error as DatasetError {
            throw DatasetError(path, "not a NeRF configuration: \(error.problem)")
        }
        // Misspelt keys, at the top level and inside the encoding and the
        // networks, would otherwise be ignored without a word.
        let object = (try? StrictJSON.object(data, path: path) as? [String: Any]) ?? [:]
        let sections = [("NeRF configuration", object, keys)] + [("encoding", HashGridConfig.keys), ("network", MLPConfig.keys),
                                                                  ("rgb_network", MLPConfig.keys), ("sdf", SDFConfig.keys)].map { ($0.0, object[$0.0] as? [String: Any] ?? [:], $0.1) }
        for (section, values, known) in sections {
            let unknown = Set(values.keys).subtracting(known)
            guard !unknown.isEmpty else { continue }
            throw DatasetError(path, "unknown \(section) key\(unknown.count == 1 ? "" : "s") \(unknown.sorted().joined(separator: ", ")); the keys are \(known.joined(separator: ", "))")
        }
        if let problem = config.problem { throw DatasetError(path, "NeRF configuration: \(problem)") }
        return config
    }

    /// The learning rate at `step` (1-based), after the decay.
    public func learningRate(at step: Int) -> Float {
        guard step > decayStart else { return learningRate }
        return learningRate * pow(decayBase, Float((step - decayStart) / decayInterval))
    }

    /// The learning rate of a run bounded by time, `progress` (0...1) into
    /// its budget: the same decay by `decay_base`, once at each of
    /// `decay_budget_points` that progress has reached (instant-ngp's step
    /// counts assume a GPU's 35k steps; a CPU makes a few thousand in
    /// minutes and its schedule would never start).
    public func learningRate(progress: Double) -> Float {
        learningRate * pow(decayBase, Float(decayBudgetPoints.filter { progress >= $0 }.count))
    }
}

/// Trains an instant-ngp NeRF (Mueller et al. 2022) on posed images, every
/// step on the GPU: random rays over all training pixels, occupancy-grid
/// marching, hash encoding + density MLP, SH direction encoding + colour
/// MLP, volume rendering, loss, backward through all of it, and Adam.
///
/// Unit space: world x maps to (x - boxCenter) / boxSize + 0.5; cascade 0
/// of the occupancy grid is [0, 1]^3 there, and `aabbScale` (a power of two)
/// sets how many cascades (and how far) the grid reaches.
public final class NerfTrainer {
    /// The loss of a step was NaN or infinite: the parameters that step
    /// updated are not to be trusted (keep the last checkpoint instead).
    public struct NonFiniteLoss: Error, CustomStringConvertible {
        public var iteration: Int
        public var value: Float
        public var description: String { "the NeRF loss became \(value) at iteration \(iteration)" }
    }

    public struct View {
        public var image: [UInt32]  // [H, W] RGBA8 (alpha 255 where the image has none)
        public var intrinsics: Intrinsics
        public var pose: Pose
        public init(image: [UInt32], intrinsics: Intrinsics, pose: Pose) {
            self.image = image
            self.intrinsics = intrinsics
            self.pose = pose
        }

        /// A view of an 8-bit image (RGB, RGBA with straight alpha, or grey), packed RGBA8.
        public init(image img: Image8, intrinsics: Intrinsics, pose: Pose) {
            let c = img.channels
            let packed = (0..<(img.width * img.height)).map { p -> UInt32 in
                let rgb = c >= 3 ? (img.pixels[c * p], img.pixels[c * p + 1], img.pixels[c * p + 2])
                                 : (img.pixels[c * p], img.pixels[c * p], img.pixels[c * p])
                let a: UInt32 = c == 4 ? UInt32(img.pixels[c * p + 3]) : 255
                return UInt32(rgb.0) | UInt32(rgb.1) << 8 | UInt32(rgb.2) << 16 | a << 24
            }
            self.init(image: packed, intrinsics: intrinsics, pose: pose)
        }
    }

    public let device: ComputeDevice
    public let config: NerfConfig
    public let boxCenter: Vector3
    public let boxSize: Double
    public let aabbScale: Int
    public let grid: HashGridEncoding
    public let density: FullyFusedMLP
    public let colour: FullyFusedMLP
    public let occupancy: OccupancyGrid
    let sh: SphericalHarmonicsEncoding
    let volume: VolumeRenderer
    let batch: NerfBatch
    public let adam: Adam
    let reduction: Reduction
    /// The SDF field's stages (config.field "sdf"), and its trained
    /// sharpness: inv_s = exp(10 variance) ([1] f32) with its gradient.
    let sdfField: SDFField?
    public let variance: GPUBuffer
    let varianceGrad: GPUBuffer
    /// Trainable parameters.
    public let table, densityWeights, colourWeights: GPUBuffer
    let tableGrad, densityWeightsGrad, colourWeightsGrad: GPUBuffer
    let cameras, pixels: GPUBuffer
    let cameraCount: Int
    public let background: SIMD3<Float>
    public let randomBackground: Bool
    public private(set) var iteration = 0
    public var seed: UInt32
    /// Rays of the next batch (adapted to the sample budget) and the last batch's samples.
    public private(set) var raysPerBatch: Int
    public private(set) var lastSamples = 0
    /// An SDF field's last eikonal loss (weighted; `step` returns the rest).
    public private(set) var lastEikonalLoss: Float = 0
    /// The views carry masks (alpha below 255 somewhere): an SDF field adds
    /// the mask loss on each ray's opacity.
    public let hasMasks: Bool
    /// The learning rate of the next steps instead of the config's schedule
    /// (a run bounded by time decays on its time budget: `splat train --max-seconds`).
    public var learningRateOverride: Float?
    /// When set, every step times its stages (wall clock, including
    /// synchronisation) into `stageMilliseconds` and every dispatch of its
    /// streams (GPU timestamps; a fill counts towards the dispatch after it)
    /// into `kernelMilliseconds`, both summed over the steps since set
    /// (`splat train --method nerf --profile`).
    public var profileKernels = false {
        didSet { stageMilliseconds = [:]; kernelMilliseconds = [:] }
    }
    public private(set) var stageMilliseconds: [String: Double] = [:]
    public private(set) var kernelMilliseconds: [String: Double] = [:]
    private var stageClock = DispatchTime.now().uptimeNanoseconds

    /// A command stream that times its dispatches when profiling.
    private func stream() throws -> CommandStream {
        let s = try CommandStream(device: device, profileDispatches: profileKernels)
        if profileKernels { try s.mark("begin") }
        return s
    }

    /// Runs `s`, and when profiling adds its dispatch times and the wall
    /// clock since the last stage's end to `stage`.
    private func finish(_ s: CommandStream?, stage: String) throws {
        if let s {
            try s.run()
            if profileKernels { for t in try s.timings() { kernelMilliseconds[t.label, default: 0] += t.milliseconds } }
        }
        guard profileKernels else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        stageMilliseconds[stage, default: 0] += Double(now &- stageClock) / 1e6
        stageClock = now
    }

    // Per-batch buffers, grown on need.
    let rays = ScratchBuffer(label: "nerf rays"), targets = ScratchBuffer(label: "nerf targets")
    let backgrounds = ScratchBuffer(label: "nerf backgrounds"), rendered = ScratchBuffer(label: "nerf rendered")
    let depth = ScratchBuffer(label: "nerf depth"), loss = ScratchBuffer(label: "nerf loss"), dC = ScratchBuffer(label: "nerf dC")
    let lossTotal: GPUBuffer
    let encoded = ScratchBuffer(label: "nerf encoded"), densityOut = ScratchBuffer(label: "nerf density out")
    let densityHidden = ScratchBuffer(label: "nerf density hidden"), colourIn = ScratchBuffer(label: "nerf colour in")
    let rgbRaw = ScratchBuffer(label: "nerf rgb"), colourHidden = ScratchBuffer(label: "nerf colour hidden")
    let dDensityOut = ScratchBuffer(label: "nerf d density out"), dRGB = ScratchBuffer(label: "nerf d rgb")
    let colourDeltas = ScratchBuffer(label: "nerf colour deltas"), dColourIn = ScratchBuffer(label: "nerf d colour in")
    let densityDeltas = ScratchBuffer(label: "nerf density deltas"), dEncoded = ScratchBuffer(label: "nerf d encoded")
    let stencilPoints = ScratchBuffer(label: "sdf stencil points"), alphas = ScratchBuffer(label: "sdf alpha")
    let dAlphas = ScratchBuffer(label: "sdf d alpha"), eikonal = ScratchBuffer(label: "sdf eikonal")
    let dVariances = ScratchBuffer(label: "sdf d variance")

    /// Hash levels in use at the current iteration: all for a density field;
    /// for an SDF, NeuS2's progressive schedule (`sdf.start_levels`, one more
    /// every `sdf.level_every` steps).
    public var activeLevels: Int {
        guard config.isSDF else { return config.encoding.levels }
        let (more, _) = (iteration / config.sdf.levelEvery).addingReportingOverflow(config.sdf.startLevels)
        return min(config.encoding.levels, max(1, more))
    }

    /// The SDF gradient's finite-difference step in field space: the cell
    /// size of the finest active level (Neuralangelo's coarse-to-fine step,
    /// Li et al. 2023), so the gradient sees the levels being trained.
    public var finiteDifferenceStep: Float { 1 / max(1, grid.levels[activeLevels - 1].scale) }

    /// NeuS's cos_anneal_ratio at the current iteration.
    var cosAnneal: Float {
        config.sdf.cosAnnealSteps > 0 ? min(1, Float(iteration) / Float(config.sdf.cosAnnealSteps)) : 1
    }

    /// The sharpness inv_s = exp(10 variance) of an SDF field (read back from the device).
    public func inverseScale() throws -> Float {
        Float(SDFField.inverseScale(variance: Double(try variance.read(Float.self, count: 1, device: device)[0])))
    }

    public init(device: ComputeDevice, views: [View], boxCenter: Vector3, boxSize: Double, aabbScale: Int = 1,
                config: NerfConfig = NerfConfig(), background: SIMD3<Float> = .zero, randomBackground: Bool = false, seed: UInt32 = 0) throws {
        if let problem = config.problem { throw ComputeError.invalidArgument("NeRF configuration: \(problem)") }
        guard boxSize > 0, boxSize.isFinite else { throw ComputeError.invalidArgument("NeRF scene box size must be positive, got \(boxSize)") }
        if let problem = NerfModelFile.aabbScaleProblem(aabbScale) { throw ComputeError.invalidArgument("NeRF \(problem)") }
        if let problem = config.resourceProblem(aabbScale: aabbScale, device: device.info, training: !views.isEmpty) {
            throw ComputeError.invalidArgument("NeRF configuration: \(problem)")
        }
        self.device = device
        self.config = config
        self.boxCenter = boxCenter
        self.boxSize = boxSize
        self.aabbScale = aabbScale
        self.background = background
        self.randomBackground = randomBackground
        self.seed = seed
        raysPerBatch = config.raysPerBatch
        grid = try HashGridEncoding(device: device, config: config.encoding, aabbScale: Double(aabbScale))
        density = try FullyFusedMLP(device: device, config: config.network, inputs: config.fieldInputs, outputs: 16, fp16: config.fp16Storage)
        colour = try FullyFusedMLP(device: device, config: config.rgbNetwork, inputs: config.colourInputs, outputs: 3,
                                   fp16: config.fp16Storage)
        sdfField = config.isSDF ? try SDFField(device: device) : nil
        variance = try GPUBuffer(device: device, [config.sdf.varianceInit], label: "sdf variance")
        varianceGrad = try GPUBuffer(device: device, length: 16, label: "sdf variance gradient")
        occupancy = try OccupancyGrid(device: device, settings: .instantNGP(aabbScale: aabbScale, gridSize: config.gridSize,
                                                                            steps: config.marchSteps))
        sh = try SphericalHarmonicsEncoding(device: device)
        volume = try VolumeRenderer(device: device)
        batch = try NerfBatch(device: device)
        adam = try Adam(device: device, hyperparameters: Adam.Hyperparameters(beta1: config.beta1, beta2: config.beta2,
                                                                                epsilon: config.epsilon, sparse: true))
        reduction = try Reduction(device: device)
        table = try GPUBuffer(device: device, grid.initialTable(seed: UInt64(seed)), label: "hash table")
        // An SDF starts as a sphere (SAL's geometric initialisation, as NeuS).
        densityWeights = try GPUBuffer(device: device, config.isSDF
                                           ? density.geometricInitialWeights(seed: UInt64(seed) &+ 1, positionInputs: 0..<SDFField.positionColumns,
                                                                             radius: config.sdf.initRadius)
                                           : density.initialWeights(seed: UInt64(seed) &+ 1), label: "density weights")
        colourWeights = try GPUBuffer(device: device, colour.initialWeights(seed: UInt64(seed) &+ 2), label: "colour weights")
        tableGrad = try GPUBuffer(device: device, length: grid.parameterCount * 4, label: "hash table gradient")
        densityWeightsGrad = try GPUBuffer(device: device, length: density.weightCount * 4, label: "density weight gradient")
        colourWeightsGrad = try GPUBuffer(device: device, length: colour.weightCount * 4, label: "colour weight gradient")
        var cams: [NerfCamera] = [], pix: [UInt32] = []
        for v in views {
            guard v.image.count == v.intrinsics.width * v.intrinsics.height else {
                throw ComputeError.invalidArgument("NeRF view of \(v.intrinsics.width)x\(v.intrinsics.height) has \(v.image.count) pixels")
            }
            cams.append(NerfBatch.camera(intrinsics: v.intrinsics, pose: v.pose, pixelOffset: pix.count, center: boxCenter, size: boxSize))
            pix += v.image
        }
        // A model loaded for rendering has no views: placeholder buffers.
        cameras = cams.isEmpty ? try GPUBuffer(device: device, length: 80, label: "nerf cameras")
                               : try GPUBuffer(device: device, cams, label: "nerf cameras")
        pixels = pix.isEmpty ? try GPUBuffer(device: device, length: 16, label: "nerf pixels")
                             : try GPUBuffer(device: device, pix, label: "nerf pixels")
        cameraCount = cams.count
        hasMasks = views.contains { v in v.image.contains { $0 >> 24 != 255 } }
        lossTotal = try GPUBuffer(device: device, length: 32, label: "nerf loss total")
        let stream = try CommandStream(device: device)
        occupancy.recordFill(stream)
        try stream.run()
    }

    func slice(_ s: ScratchBuffer, _ bytes: Int) throws -> BufferSlice {
        try s.atLeast(max(16, bytes), device: device).slice(offset: 0, length: max(16, bytes))
    }

    /// The occupancy grid is updated every step for the first 256, then every 16 (instant-ngp).
    func updatesGrid(at step: Int) -> Bool { step < 256 || step % 16 == 0 }

    /// Records evaluating the density network on `count` field-space points
    /// (no hidden activations kept): returns the raw outputs [count, 16].
    /// For an SDF field column 0 is the occupancy grid's log-density
    /// (`SDFField.recordOccupancyDensity`) unless `rawSDF`.
    func recordDensity(_ stream: CommandStream, points: BufferRange, count: Int, rawSDF: Bool = false) throws -> BufferSlice {
        let out = try slice(densityOut, count * 16 * 4)
        if let sdfField {
            let width = config.fieldInputs
            let input = try slice(encoded, count * width * 4)
            try sdfField.recordPoints(stream, samples: points, count: count, step: 0, points: nil, input: input, inputStride: width, centerOnly: true)
            try grid.encode(stream, points: points, table: table, encoded: input, count: count, column: SDFField.positionColumns, stride: width,
                            activeLevels: activeLevels)
            try density.forward(stream, input: input, weights: densityWeights, output: out, count: count)
            if !rawSDF { try sdfField.recordOccupancyDensity(stream, outputs: out, variance: variance, count: count) }
            return out
        }
        let enc = try slice(encoded, count * grid.outputWidth * 4)
        try grid.encode(stream, points: points, table: table, encoded: enc, count: count)
        try density.forward(stream, input: enc, weights: densityWeights, output: out, count: count)
        return out
    }

    /// Records an SDF field's forward on S samples (NeuS): the stencil, the
    /// hash encoding and SDF network on its 5S points, the colour network's
    /// input (SH, position, gradient, SDF outputs), the logistic-CDF alpha
    /// and the colour network. With `training` the hidden activations are
    /// kept and the eikonal loss written. Returns alpha [S] and raw rgb [S, 3].
    func recordSDFForward(_ s: CommandStream, points: BufferRange, directions: BufferRange, dt: BufferRange, count S: Int,
                          training: Bool) throws -> (alpha: BufferSlice, rgb: BufferSlice) {
        guard let sdfField else { throw ComputeError.invalidArgument("not an SDF field") }
        let P = S * SDFField.stencilPoints, width = config.fieldInputs, cols = colour.dims[0], h = finiteDifferenceStep
        let stencil = try slice(stencilPoints, P * 12), input = try slice(encoded, P * width * 4)
        let out = try slice(densityOut, P * 64)
        try sdfField.recordPoints(s, samples: points, count: S, step: h, points: stencil, input: input, inputStride: width)
        try grid.encode(s, points: stencil, table: table, encoded: input, count: P, column: SDFField.positionColumns, stride: width,
                        activeLevels: activeLevels)
        let cIn = try slice(colourIn, S * cols * 4), rgb = try slice(rgbRaw, S * 12), alpha = try slice(alphas, S * 4)
        if training {
            try density.forward(s, input: input, weights: densityWeights, output: out, hidden: try slice(densityHidden, density.hiddenBytes(count: P)),
                                count: P)
        } else {
            try density.forward(s, input: input, weights: densityWeights, output: out, count: P)
        }
        try sh.encode(s, directions: directions, encoded: cIn, count: S, stride: cols, column: 0)
        try batch.recordConcat(s, density: out, colour: cIn, samples: S, columns: cols)
        try sdfField.recordVolumeWeight(s, samples: points, outputs: out, directions: directions, dt: dt, variance: variance, alpha: alpha,
                                        colourInput: cIn, colourStride: cols, eikonal: training ? try slice(eikonal, S * 4) : nil, count: S,
                                        step: h, eikonalWeight: config.sdf.eikonalWeight / Float(S), cosAnneal: cosAnneal)
        if training {
            try colour.forward(s, input: cIn, weights: colourWeights, output: rgb, hidden: try slice(colourHidden, colour.hiddenBytes(count: S)),
                               count: S)
        } else {
            try colour.forward(s, input: cIn, weights: colourWeights, output: rgb, count: S)
        }
        return (alpha, rgb)
    }

    /// Records an SDF field's training pass after the march: forward, loss
    /// (colour, mask BCE when the views have masks, eikonal), backward and
    /// Adam. The loss's sum goes to lossTotal[0], the eikonal's to lossTotal[1].
    func recordSDFStep(_ s: CommandStream, samples: OccupancyGrid.Samples, rays R: Int, targets: BufferRange, backgrounds: BufferRange,
                       output: BufferRange, depth: BufferRange, loss lossB: BufferRange) throws {
        guard let sdfField else { return }
        let S = samples.count, P = S * SDFField.stencilPoints, width = config.fieldInputs, cols = colour.dims[0], h = finiteDifferenceStep
        let dCB = try slice(dC, R * 16)
        let eikB = try slice(eikonal, max(S, 1) * 4)
        if S == 0 {
            // No ray met an occupied cell: every ray shows its background.
            try volume.render(s, rays: samples.ranges, rayCount: R, density: dCB, densityStride: 1, rgb: dCB, dt: dCB, t: dCB,
                              background: .perRay(backgrounds), output: output, depth: depth)
            try batch.recordLoss(s, rendered: output, targets: targets, backgrounds: backgrounds, count: R, huber: config.loss == "Huber",
                                 loss: lossB, gradient: dCB, maskWeight: maskWeight)
            s.fill(eikB.buffer, value: 0, offset: 0, bytes: 4)
            return
        }
        let (alpha, rgb) = try recordSDFForward(s, points: samples.points, directions: samples.directions, dt: samples.dt, count: S, training: true)
        try volume.render(s, rays: samples.ranges, rayCount: R, density: alpha, densityStride: 1, rgb: rgb, dt: samples.dt, t: samples.t,
                          background: .perRay(backgrounds), output: output, depth: depth, weight: .alpha)
        try batch.recordLoss(s, rendered: output, targets: targets, backgrounds: backgrounds, count: R, huber: config.loss == "Huber",
                             loss: lossB, gradient: dCB, maskWeight: maskWeight)
        let gAlpha = try slice(dAlphas, S * 4), gRGB = try slice(dRGB, S * 12)
        try volume.backward(s, rays: samples.ranges, rayCount: R, density: alpha, densityStride: 1, rgb: rgb, dt: samples.dt, output: output,
                            outputGradient: dCB, densityGradient: gAlpha, rgbGradient: gRGB, weight: .alpha, background: .perRay(backgrounds))
        let cIn = try slice(colourIn, S * cols * 4), cHid = try slice(colourHidden, colour.hiddenBytes(count: S))
        let cDel = try slice(colourDeltas, colour.deltaBytes(count: S)), gCIn = try slice(dColourIn, S * cols * 4)
        try colour.backward(s, outputGradient: gRGB, weights: colourWeights, hidden: cHid, deltas: cDel, inputGradient: gCIn, count: S)
        s.fill(colourWeightsGrad, value: 0)
        try colour.weightGradient(s, input: cIn, hidden: cHid, deltas: cDel, weightGradient: colourWeightsGrad, count: S)
        let out = try slice(densityOut, P * 64), gOut = try slice(dDensityOut, P * 64), gVar = try slice(dVariances, S * 4)
        s.fill(gOut.buffer, value: 0, offset: 0, bytes: P * 64)
        try sdfField.recordVolumeWeightBackward(s, outputs: out, directions: samples.directions, dt: samples.dt, variance: variance,
                                                dAlpha: gAlpha, dColourInput: gCIn, colourStride: cols, dOutputs: gOut, dVariance: gVar,
                                                count: S, step: h, eikonalWeight: config.sdf.eikonalWeight / Float(S), cosAnneal: cosAnneal)
        try batch.recordConcat(s, density: gOut, colour: gCIn, samples: S, columns: cols, backward: true)
        let input = try slice(encoded, P * width * 4), dHid = try slice(densityHidden, density.hiddenBytes(count: P))
        let dDel = try slice(densityDeltas, density.deltaBytes(count: P)), gIn = try slice(dEncoded, P * width * 4)
        try density.backward(s, outputGradient: gOut, weights: densityWeights, hidden: dHid, deltas: dDel, inputGradient: gIn, count: P)
        s.fill(densityWeightsGrad, value: 0)
        try density.weightGradient(s, input: input, hidden: dHid, deltas: dDel, weightGradient: densityWeightsGrad, count: P)
        s.fill(tableGrad, value: 0)
        let stencil = try slice(stencilPoints, P * 12)
        try grid.backward(s, points: stencil, encodedGradient: gIn, tableGradient: tableGrad, count: P, column: SDFField.positionColumns,
                          stride: width, activeLevels: activeLevels)
        try reduction.record(s, .sumF32, input: gVar, count: S, result: varianceGrad.slice(offset: 0, length: 4))
        try recordAdam(s)
    }

    /// Records one Adam step over every parameter group (the SDF's
    /// sharpness too, for an SDF field), at the step's learning rate.
    func recordAdam(_ s: CommandStream) throws {
        adam.beginStep()
        let lr = learningRateOverride ?? config.learningRate(at: iteration), l2 = config.l2Regularization
        try adam.record(s, group: "hash table", parameters: table, gradients: tableGrad, count: grid.parameterCount, learningRate: lr)
        try adam.record(s, group: "density network", parameters: densityWeights, gradients: densityWeightsGrad,
                        count: density.weightCount, learningRate: lr, l2: l2)
        try adam.record(s, group: "colour network", parameters: colourWeights, gradients: colourWeightsGrad,
                        count: colour.weightCount, learningRate: lr, l2: l2)
        if config.isSDF { try adam.record(s, group: "sdf variance", parameters: variance, gradients: varianceGrad, count: 1, learningRate: lr) }
    }

    /// The mask loss's weight when the views have masks (their alpha), else nil.
    var maskWeight: Float? { config.isSDF && hasMasks ? config.sdf.maskWeight : nil }

    /// A trained model from `NerfModelFile`, for rendering (no views) or to continue training on `views`.
    public convenience init(device: ComputeDevice, model: NerfModelFile.Contents, views: [View] = [], randomBackground: Bool = false) throws {
        let h = model.header
        // Decoding checked everything but the device (contents built in code
        // are checked here too); a model too big for the device names its file.
        if let problem = h.problem {
            let message = "NeRF model header: \(problem)"
            throw model.path.map { DatasetError($0, message) as Error } ?? ComputeError.invalidArgument(message)
        }
        if let problem = h.config.resourceProblem(aabbScale: h.aabbScale, device: device.info, training: !views.isEmpty) {
            let message = "NeRF model: \(problem)"
            throw model.path.map { DatasetError($0, message) as Error } ?? ComputeError.invalidArgument(message)
        }
        try self.init(device: device, views: views, boxCenter: Vector3(h.boxCenter[0], h.boxCenter[1], h.boxCenter[2]), boxSize: h.boxSize,
                      aabbScale: h.aabbScale, config: h.config, background: SIMD3(h.background[0], h.background[1], h.background[2]),
                      randomBackground: randomBackground)
        try table.write(model.table, device: device)
        try densityWeights.write(model.densityWeights, device: device)
        try colourWeights.write(model.colourWeights, device: device)
        try occupancy.grid.write(model.occupancy, device: device)
        try occupancy.bitfield.write(model.bits, device: device)
        iteration = h.iteration
        if let v = h.variance { try variance.write([v], device: device) }
        if let o = h.optimizer {
            // A checkpoint: training continues where it stopped.
            try adam.restore(step: o.step, moments: model.moments)
            seed = o.seed
            raysPerBatch = o.raysPerBatch
            learningRateOverride = o.learningRate
        }
    }

    /// One training step; returns the batch's loss (mean over rays and channels).
    @discardableResult
    public func step() throws -> Float {
        guard cameraCount > 0 else { throw ComputeError.invalidArgument("NeRF training needs at least one training image") }
        iteration += 1
        stageClock = DispatchTime.now().uptimeNanoseconds
        let stepSeed = seed &+ UInt32(truncatingIfNeeded: iteration) &* 0x9E37_79B9
        if updatesGrid(at: iteration) {
            let s = try stream()
            let n = min(config.gridUpdatePoints, occupancy.settings.cellCount)
            let (cells, points) = try occupancy.recordUpdatePoints(s, count: n, seed: stepSeed ^ 0xA5A5_A5A5)
            let out = try recordDensity(s, points: points, count: n)
            try occupancy.recordUpdate(s, cells: cells, density: out, densityStride: 16, count: n)
            try finish(s, stage: "occupancy update")
        }
        let rayBudget = raysPerBatch
        let raysB = try slice(rays, rayBudget * 24), targetsB = try slice(targets, rayBudget * 16), bgB = try slice(backgrounds, rayBudget * 12)
        let s0 = try stream()
        try batch.recordRays(s0, cameras: cameras, cameraCount: cameraCount, pixels: pixels, count: rayBudget, seed: stepSeed,
                             background: background, randomBackground: randomBackground, rays: raysB, targets: targetsB, backgrounds: bgB)
        try finish(s0, stage: "rays")
        let samples = try occupancy.march(rays: raysB, rayCount: rayBudget, near: 0, maxSamples: config.samplesPerBatch)
        try finish(nil, stage: "march (wall clock only)")
        // instant-ngp's rule: next batch's rays so that its samples come near
        // the budget. instant-ngp rounds to 256 rays; a CPU batch of ~700 rays
        // would lose up to a third of its samples to that, so 64 here.
        let perRay = Double(max(samples.wanted, 1)) / Double(rayBudget)
        raysPerBatch = min(max(256, Int(Double(config.samplesPerBatch) / perRay) / 64 * 64), 1 << 20)
        let R = max(1, samples.rays)
        let S = samples.count
        lastSamples = S
        let s = try stream()
        let outB = try slice(rendered, R * 16), depthB = try slice(depth, R * 4)
        let lossB = try slice(loss, R * 4), dCB = try slice(dC, R * 12)
        let cols = colour.dims[0]
        if config.isSDF {
            try recordSDFStep(s, samples: samples, rays: R, targets: targetsB, backgrounds: bgB, output: outB, depth: depthB, loss: lossB)
            try reduction.record(s, .sumF32, input: lossB, count: R, result: lossTotal.slice(offset: 0, length: 4))
            if S > 0 { try reduction.record(s, .sumF32, input: try slice(eikonal, S * 4), count: S, result: lossTotal.slice(offset: 16, length: 4)) }
            try finish(s, stage: "networks, rendering, loss, backward, Adam")
            let values = try lossTotal.read(Float.self, count: 5, device: device)
            lastEikonalLoss = S > 0 ? values[4] : 0
            let value = values[0] + lastEikonalLoss
            guard value.isFinite else { throw NonFiniteLoss(iteration: iteration, value: value) }
            return values[0]
        }
        if S > 0 {
            let enc = try slice(encoded, S * grid.outputWidth * 4)
            let dOut = try slice(densityOut, S * 64)
            let dHid = try slice(densityHidden, density.hiddenBytes(count: S))
            let cIn = try slice(colourIn, S * cols * 4)
            let rgb = try slice(rgbRaw, S * 12)
            let cHid = try slice(colourHidden, colour.hiddenBytes(count: S))
            try grid.encode(s, points: samples.points, table: table, encoded: enc, count: S)
            try density.forward(s, input: enc, weights: densityWeights, output: dOut, hidden: dHid, count: S)
            try sh.encode(s, directions: samples.directions, encoded: cIn, count: S, stride: cols, column: 0)
            try batch.recordConcat(s, density: dOut, colour: cIn, samples: S, columns: cols)
            try colour.forward(s, input: cIn, weights: colourWeights, output: rgb, hidden: cHid, count: S)
            try volume.render(s, rays: samples.ranges, rayCount: R, density: dOut, densityStride: 16, rgb: rgb, dt: samples.dt, t: samples.t,
                              background: .perRay(bgB), output: outB, depth: depthB)
            try batch.recordLoss(s, rendered: outB, targets: targetsB, backgrounds: bgB, count: R, huber: config.loss == "Huber",
                                 loss: lossB, gradient: dCB)
            let gDens = try slice(dDensityOut, S * 64), gRGB = try slice(dRGB, S * 12)
            s.fill(gDens.buffer, value: 0, offset: 0, bytes: S * 64)
            try volume.backward(s, rays: samples.ranges, rayCount: R, density: dOut, densityStride: 16, rgb: rgb, dt: samples.dt,
                                output: outB, outputGradient: dCB, densityGradient: gDens, rgbGradient: gRGB)
            let cDel = try slice(colourDeltas, colour.deltaBytes(count: S)), gCIn = try slice(dColourIn, S * cols * 4)
            try colour.backward(s, outputGradient: gRGB, weights: colourWeights, hidden: cHid, deltas: cDel, inputGradient: gCIn, count: S)
            s.fill(colourWeightsGrad, value: 0)
            try colour.weightGradient(s, input: cIn, hidden: cHid, deltas: cDel, weightGradient: colourWeightsGrad, count: S)
            try batch.recordConcat(s, density: gDens, colour: gCIn, samples: S, columns: cols, backward: true)
            let dDel = try slice(densityDeltas, density.deltaBytes(count: S)), gEnc = try slice(dEncoded, S * grid.outputWidth * 4)
            try density.backward(s, outputGradient: gDens, weights: densityWeights, hidden: dHid, deltas: dDel, inputGradient: gEnc, count: S)
            s.fill(densityWeightsGrad, value: 0)
            try density.weightGradient(s, input: enc, hidden: dHid, deltas: dDel, weightGradient: densityWeightsGrad, count: S)
            s.fill(tableGrad, value: 0)
            try grid.backward(s, points: samples.points, encodedGradient: gEnc, tableGradient: tableGrad, count: S)
            try recordAdam(s)
        } else {
            // No ray met an occupied cell: every ray shows its background.
            try volume.render(s, rays: samples.ranges, rayCount: R, density: dCB, densityStride: 1, rgb: dCB, dt: dCB, t: dCB,
                              background: .perRay(bgB), output: outB, depth: depthB)
            try batch.recordLoss(s, rendered: outB, targets: targetsB, backgrounds: bgB, count: R, huber: config.loss == "Huber",
                                 loss: lossB, gradient: dCB)
        }
        try reduction.record(s, .sumF32, input: lossB, count: R, result: lossTotal.slice(offset: 0, length: 4))
        try finish(s, stage: "networks, rendering, loss, backward, Adam")
        let value = try lossTotal.read(Float.self, count: 1, device: device)[0]
        guard value.isFinite else { throw NonFiniteLoss(iteration: iteration, value: value) }
        return value
    }
    let renderRays = ScratchBuffer(label: "nerf render rays"), renderNear = ScratchBuffer(label: "nerf render near")
    /// Samples per rendering round (2^19: the encoded samples stay within 64
    /// MiB): with fewer rays still going, each takes more samples a round.
    public var renderSamples = 1 << 19
    /// Samples one rendering dispatch holds at most (see `preferredRenderChunk`).
    /// An SDF field evaluates 5 points per sample (its stencil): its chunks
    /// shrink until the stencil's widest buffer fits one binding.
    public lazy var renderChunkSamples: Int = {
        let points = config.pointsPerSample, widest = max(config.fieldInputs, 16, colour.dims[0]) * 4
        var chunk = Self.preferredRenderChunk(device.info, bytesPerSample: (3 + 3 + 1 + 1 + colour.dims[0] + 3) * 4
                                                  + points * (config.fieldInputs + 16 + 3) * 4,
                                              widestRowBytes: widest * points)
        while chunk > 1024 && chunk * points * widest > device.info.maxStorageBufferRange { chunk /= 2 }
        return chunk
    }()

    /// On a CPU the network's arithmetic sets the pace and 2^19 samples a
    /// dispatch keep the scratch memory small. On a GPU each dispatch costs a
    /// few host round trips (march count, march, network, read-back) that
    /// outweigh its arithmetic (2^19 samples take ~4 ms on an H200), so a
    /// dispatch holds as many samples as one storage-buffer binding of the
    /// widest per-sample buffer allows and a 16th of the device-local memory
    /// holds, up to 2^21.
    /// - Parameters: bytesPerSample: all per-sample buffers of a dispatch
    ///   (points, directions, dt, t, encoding, density outputs, colour input,
    ///   RGB); widestRowBytes: the widest of them, bound whole.
    public static func preferredRenderChunk(_ info: DeviceInfo, bytesPerSample: Int, widestRowBytes: Int) -> Int {
        var chunk = 1 << 19
        guard info.kind != .cpu else { return chunk }
        let deviceLocal = info.heaps.filter(\.deviceLocal).map(\.bytes).max() ?? 0
        while chunk < 1 << 21 && 2 * chunk * widestRowBytes <= info.maxStorageBufferRange
                && 2 * chunk * bytesPerSample <= deviceLocal / 16 {
            chunk *= 2
        }
        return chunk
    }

    /// Chunks of at least this many rays are set up and composited on all
    /// host cores (a 1280x720 frame of a 60 s fox model marches ~0.9M rays in
    /// each of ~60 rounds: serial host loops took a third of the frame on an H200).
    public var renderParallelRays = 1 << 16

    /// Where the last `render` spent its time (host clock, seconds).
    public struct RenderProfile: Equatable {
        /// Ray set-up and compositing on the host.
        public var host = 0.0
        /// `OccupancyGrid.march` (count, scan, write).
        public var march = 0.0
        /// The networks, volume rendering and the read-back.
        public var network = 0.0
        /// Dispatch chunks.
        public var chunks = 0
    }
    public private(set) var lastRenderProfile = RenderProfile()
    /// Ray transmittance below which a rendered ray stops (instant-ngp: 1e-4).
    public var renderMinTransmittance: Float = 1e-4

    /// A rendered view.
    public struct Image: Equatable {
        public var width: Int
        public var height: Int
        public var color: [Float]   // [H, W, 3] f32: C + T * background
        public var alpha: [Float]   // [H, W] f32: 1 - T
        public var depth: [Float]   // [H, W] f32: sum of T_i alpha_i z_i (camera-space z; divide by alpha for expected depth)
        /// [H, W, 3] f32: sum of T_i alpha_i n_i, unit SDF gradients in world axes (`render(normals: true)`), else empty.
        public var normal: [Float] = []
        /// Samples the network evaluated and marching rounds.
        public var samples: Int
        public var rounds: Int
    }

    /// Renders a view as instant-ngp renders: every pixel's ray marches in
    /// rounds of a few samples (`samplesPerRound` per ray, by default as many
    /// as fit `renderSamples` over the rays still going, at least 8), each
    /// round's samples are evaluated and composited, and rays whose
    /// transmittance fell below `renderMinTransmittance` or that left the
    /// grid drop out. An opaque surface thus costs its first few samples, not
    /// every occupied cell behind it (a young occupancy grid is mostly full).
    /// With `normals` (an SDF field) also each pixel's normal: the unit SDF
    /// gradients composited with the same weights, in the world's axes.
    public func render(intrinsics k: Intrinsics, pose: Pose, background bg: SIMD3<Float>, samplesPerRound: Int? = nil,
                       normals wantNormals: Bool = false) throws -> Image {
        if wantNormals && sdfField == nil { throw ComputeError.invalidArgument("normals need an SDF field (a NeuS model)") }
        var normalSum = [Float](repeating: 0, count: wantNormals ? k.width * k.height * 3 : 0)
        let cam = NerfBatch.camera(intrinsics: k, pose: pose, pixelOffset: 0, center: boxCenter, size: boxSize)
        let n = k.width * k.height
        var color = [Float](repeating: 0, count: n * 3), transmittance = [Float](repeating: 1, count: n)
        var depthSum = [Float](repeating: 0, count: n)
        var alive = [Int32](0..<Int32(n)), near = [Float](repeating: 0, count: n)
        let cols = colour.dims[0]
        let maxPerRay = occupancy.settings.maxSamplesPerRay
        var totalSamples = 0, rounds = 0
        var profile = RenderProfile()
        func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds &- start) / 1e9 }
        var rays = [Float](), keep = [Bool]()
        while !alive.isEmpty {
            rounds += 1
            let perRay = min(maxPerRay, max(1, samplesPerRound ?? max(8, renderSamples / alive.count)))
            let chunk = max(1, renderChunkSamples / perRay)
            var nextAlive: [Int32] = [], nextNear: [Float] = []
            nextAlive.reserveCapacity(alive.count)
            nextNear.reserveCapacity(alive.count)
            var start = 0
            while start < alive.count {
                profile.chunks += 1
                var clock = DispatchTime.now().uptimeNanoseconds
                let m = min(chunk, alive.count - start)
                if rays.count < m * 6 { rays = [Float](repeating: 0, count: m * 6) }
                let first = start
                rays.withUnsafeMutableBufferPointer { r in
                    alive.withUnsafeBufferPointer { a in
                        let parts = m >= renderParallelRays ? ProcessInfo.processInfo.activeProcessorCount : 1
                        DispatchQueue.concurrentPerform(iterations: parts) { part in
                            for i in (part * m / parts)..<((part + 1) * m / parts) {
                                let p = Int(a[first + i])
                                let d = NerfBatch.rayDirection(cam, x: UInt32(p % k.width), y: UInt32(p / k.width))
                                r[6 * i] = cam.px; r[6 * i + 1] = cam.py; r[6 * i + 2] = cam.pz
                                r[6 * i + 3] = d.x; r[6 * i + 4] = d.y; r[6 * i + 5] = d.z
                            }
                        }
                    }
                }
                let raysB = try slice(renderRays, m * 24), nearB = try slice(renderNear, m * 4)
                try raysB.buffer.write(Array(rays[0..<(m * 6)]), device: device)
                try nearB.buffer.write(Array(near[start..<(start + m)]), device: device)
                profile.host += seconds(since: clock)
                clock = DispatchTime.now().uptimeNanoseconds
                // m rays of at most perRay samples fit the budget: all are kept.
                let samples = try occupancy.march(rays: raysB, rayCount: m, near: 0, maxSamples: .max, rayNear: nearB, samplesPerRay: perRay)
                profile.march += seconds(since: clock)
                clock = DispatchTime.now().uptimeNanoseconds
                let S = samples.count
                totalSamples += S
                let s = try CommandStream(device: device)
                let outB = try slice(rendered, m * 16), depthB = try slice(self.depth, m * 4)
                if S > 0, sdfField != nil {
                    let (alpha, rgb) = try recordSDFForward(s, points: samples.points, directions: samples.directions, dt: samples.dt,
                                                            count: S, training: false)
                    try volume.render(s, rays: samples.ranges, rayCount: m, density: alpha, densityStride: 1, rgb: rgb, dt: samples.dt,
                                      t: samples.t, background: .constant(.zero), output: outB, depth: depthB, weight: .alpha)
                } else if S > 0 {
                    let dOut = try recordDensity(s, points: samples.points, count: S)
                    let cIn = try slice(colourIn, S * cols * 4), rgb = try slice(rgbRaw, S * 12)
                    try sh.encode(s, directions: samples.directions, encoded: cIn, count: S, stride: cols, column: 0)
                    try batch.recordConcat(s, density: dOut, colour: cIn, samples: S, columns: cols)
                    try colour.forward(s, input: cIn, weights: colourWeights, output: rgb, count: S)
                    try volume.render(s, rays: samples.ranges, rayCount: m, density: dOut, densityStride: 16, rgb: rgb, dt: samples.dt,
                                      t: samples.t, background: .constant(.zero), output: outB, depth: depthB)
                } else {
                    try volume.render(s, rays: samples.ranges, rayCount: m, density: outB, densityStride: 1, rgb: outB, dt: outB, t: outB,
                                      background: .constant(.zero), output: outB, depth: depthB)
                }
                try s.run()
                if wantNormals && S > 0 {
                    // Each ray's normal: its samples' unit SDF gradients under the same weights T_i alpha_i.
                    let ranges = try samples.ranges.buffer.read(UInt32.self, count: 2 * m, device: device)
                    let alpha = try slice(alphas, S * 4).buffer.read(Float.self, count: S, device: device)
                    let cIn = try slice(colourIn, S * cols * 4).buffer.read(Float.self, count: S * cols, device: device)
                    for i in 0..<m {
                        let p = Int(alive[first + i])
                        var T = transmittance[p]
                        for j in Int(ranges[2 * i])..<Int(ranges[2 * i] + ranges[2 * i + 1]) {
                            if T < renderMinTransmittance { break }
                            let g = SIMD3(cIn[j * cols + 19], cIn[j * cols + 20], cIn[j * cols + 21])
                            let length = (g * g).sum().squareRoot()
                            let a = min(max(alpha[j], 0), 1)
                            if length > 0 { for c in 0..<3 { normalSum[3 * p + c] += T * a * g[c] / length } }
                            T *= 1 - a
                        }
                    }
                }
                let out = try outB.buffer.read(Float.self, count: m * 4, device: device)
                let segmentDepth = try depthB.buffer.read(Float.self, count: m, device: device)
                let stops = try nearB.buffer.read(Float.self, count: m, device: device)
                profile.network += seconds(since: clock)
                clock = DispatchTime.now().uptimeNanoseconds
                // Composite this round's segments behind what each ray has so far
                // (rays are distinct pixels: a large chunk in parallel), then keep
                // the rays still going, in order.
                let minT = renderMinTransmittance, scale = Float(boxSize), width = k.width
                if keep.count < m { keep = [Bool](repeating: false, count: m) }
                color.withUnsafeMutableBufferPointer { colorP in
                    depthSum.withUnsafeMutableBufferPointer { depthP in
                        transmittance.withUnsafeMutableBufferPointer { tP in
                            keep.withUnsafeMutableBufferPointer { keepP in
                                alive.withUnsafeBufferPointer { a in
                                    let parts = m >= renderParallelRays ? ProcessInfo.processInfo.activeProcessorCount : 1
                                    DispatchQueue.concurrentPerform(iterations: parts) { part in
                                        for i in (part * m / parts)..<((part + 1) * m / parts) {
                                            let p = Int(a[first + i])
                                            let T = tP[p]
                                            for c in 0..<3 { colorP[3 * p + c] += T * out[4 * i + c] }
                                            // Unit-space t -> camera z: t * box size / |camera-space direction (z = 1)|.
                                            let dx = (Float(p % width) + 0.5 - cam.cx) / cam.fx
                                            let dy = (Float(p / width) + 0.5 - cam.cy) / cam.fy
                                            depthP[p] += T * segmentDepth[i] * scale / (dx * dx + dy * dy + 1).squareRoot()
                                            tP[p] = T * (1 - out[4 * i + 3])
                                            keepP[i] = tP[p] >= minT && stops[i] >= 0
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                for i in 0..<m where keep[i] {
                    nextAlive.append(alive[first + i])
                    nextNear.append(stops[i])
                }
                profile.host += seconds(since: clock)
                start += m
            }
            alive = nextAlive
            near = nextNear
        }
        lastRenderProfile = profile
        for p in 0..<n { for c in 0..<3 { color[3 * p + c] += transmittance[p] * bg[c] } }
        return Image(width: k.width, height: k.height, color: color, alpha: transmittance.map { 1 - $0 }, depth: depthSum,
                     normal: normalSum, samples: totalSamples, rounds: rounds)
    }
}
