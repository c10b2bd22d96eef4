import CShaderLayouts
import Compute
import Foundation

/// The signed-distance field's stages around its network (NeuS, Wang et al.
/// 2021; NeuS2, Wang et al. 2023), on the GPU with Swift twins:
///
/// - `recordPoints`: each sample's stencil of 5 points (the sample, then the
///   4 vertices of a tetrahedron h away) and the position columns of the SDF
///   network's input rows;
/// - `recordVolumeWeight`: the numerical gradient g = sum_k v_k f_k / (4 h),
///   NeuS's logistic-CDF alpha of each sample's segment, the colour
///   network's position and gradient columns, the eikonal loss;
/// - `recordVolumeWeightBackward`: the same backwards, all first order
///   (the gradient is a finite difference, so its backward is the network's
///   ordinary backward at the 4 stencil points: Neuralangelo's choice,
///   Li et al. 2023, which avoids NeuS2's second-order pass);
/// - `recordOccupancyDensity`: the occupancy grid's density from the SDF.
///
/// Layouts: `Shaders/common/layouts.h`, "Signed-distance fields".
public final class SDFField {
    /// Points evaluated per sample: the sample and the tetrahedron's 4 vertices.
    public static let stencilPoints = 5
    /// The tetrahedron's vertices (sum v v^T = 4 I).
    public static let stencil: [SIMD3<Double>] = [SIMD3(1, -1, -1), SIMD3(-1, -1, 1), SIMD3(-1, 1, -1), SIMD3(1, 1, 1)]
    /// Position columns at the start of the SDF network's input row.
    public static let positionColumns = 3
    /// The colour network's input: SH (16), position (3), gradient (3), SDF outputs (16).
    public static let colourInputWidth = SphericalHarmonicsEncoding.outputWidth + 6 + 16

    public let device: ComputeDevice
    let pointsKernel, weightKernel, weightBackwardKernel, occupancyKernel: Kernel
    let workgroupSize: Int
    let dummy: GPUBuffer

    public init(device: ComputeDevice) throws {
        self.device = device
        workgroupSize = min(256, device.info.maxWorkgroupInvocations, device.info.maxWorkgroupSize[0])
        let spec = [UInt32(workgroupSize)]
        let push = MemoryLayout<SDFParams>.size
        pointsKernel = try device.kernel(ShaderLibrary.sdfPoints, bindings: [.read, .write, .write], pushConstantBytes: push, specialization: spec)
        weightKernel = try device.kernel(ShaderLibrary.sdfVolumeWeight, bindings: [.read, .read, .read, .read, .read, .write, .write, .write],
                                         pushConstantBytes: push, specialization: spec)
        weightBackwardKernel = try device.kernel(ShaderLibrary.sdfVolumeWeightBackward,
                                                 bindings: [.read, .read, .read, .read, .read, .read, .write, .write],
                                                 pushConstantBytes: push, specialization: spec)
        occupancyKernel = try device.kernel(ShaderLibrary.sdfOccupancy, bindings: [.readWrite, .read], pushConstantBytes: push, specialization: spec)
        dummy = try GPUBuffer(device: device, length: 16, label: "sdf unused binding")
    }

    func groups(_ n: Int) -> Int { (n + workgroupSize - 1) / workgroupSize }

    func params(count: Int, inputStride: Int = 0, colourStride: Int = 0, flags: UInt32 = 0, step: Float = 0,
                eikonalWeight: Float = 0, cosAnneal: Float = 1) -> SDFParams {
        SDFParams(count: UInt32(count), inputStride: UInt32(inputStride), colourStride: UInt32(colourStride), flags: flags,
                  step: step, eikonalWeight: eikonalWeight, cosAnneal: cosAnneal, pad0: 0)
    }

    /// Records the stencil points and the SDF input's position columns.
    /// - Parameters: samples [S, 3] f32 (field space); points [5S, 3] f32
    ///   (written unless `centerOnly`); input [5S (S with `centerOnly`),
    ///   inputStride] f32, columns 0..2 written (u - 0.5).
    public func recordPoints(_ stream: CommandStream, samples: BufferRange, count: Int, step: Float, points: BufferRange?,
                             input: BufferRange, inputStride: Int, centerOnly: Bool = false) throws {
        guard count > 0 else { return }
        try stream.dispatch(pointsKernel, [samples, points ?? dummy, input],
                            push: params(count: count, inputStride: inputStride, flags: centerOnly ? SDF_FLAG_CENTER_ONLY : 0, step: step),
                            groups: groups(count), label: "sdf points")
    }

    /// Records the forward after the SDF network.
    /// - Parameters: samples [S, 3] f32; outputs [5S, 16] f32; directions
    ///   [S, 3] f32; dt [S] f32; variance [1] f32; alpha [S] f32 (written);
    ///   colourInput [S, colourStride] f32 (columns 16..21 written); eikonal
    ///   [S] f32, written when given (training: `eikonalWeight` (|g| - 1)^2).
    public func recordVolumeWeight(_ stream: CommandStream, samples: BufferRange, outputs: BufferRange, directions: BufferRange,
                                   dt: BufferRange, variance: BufferRange, alpha: BufferRange, colourInput: BufferRange, colourStride: Int,
                                   eikonal: BufferRange?, count: Int, step: Float, eikonalWeight: Float = 0, cosAnneal: Float = 1) throws {
        guard count > 0 else { return }
        try stream.dispatch(weightKernel, [samples, outputs, directions, dt, variance, alpha, colourInput, eikonal ?? dummy],
                            push: params(count: count, colourStride: colourStride, flags: eikonal == nil ? 0 : SDF_FLAG_TRAINING, step: step,
                                         eikonalWeight: eikonalWeight, cosAnneal: cosAnneal),
                            groups: groups(count), label: "sdf volume weight")
    }

    /// Records the backward of `recordVolumeWeight` plus the eikonal loss.
    /// - Parameters: dAlpha [S] f32; dColourInput [S, colourStride] f32
    ///   (columns 19..21 read); dOutputs [5S, 16] f32 (column 0 written);
    ///   dVariance [S] f32 (written, to be summed).
    public func recordVolumeWeightBackward(_ stream: CommandStream, outputs: BufferRange, directions: BufferRange, dt: BufferRange,
                                           variance: BufferRange, dAlpha: BufferRange, dColourInput: BufferRange, colourStride: Int,
                                           dOutputs: BufferRange, dVariance: BufferRange, count: Int, step: Float,
                                           eikonalWeight: Float, cosAnneal: Float = 1) throws {
        guard count > 0 else { return }
        try stream.dispatch(weightBackwardKernel, [outputs, directions, dt, variance, dAlpha, dColourInput, dOutputs, dVariance],
                            push: params(count: count, colourStride: colourStride, flags: SDF_FLAG_TRAINING, step: step,
                                         eikonalWeight: eikonalWeight, cosAnneal: cosAnneal),
                            groups: groups(count), label: "sdf volume weight backward")
    }

    /// Records replacing the SDF (column 0 of `outputs`, [n, 16] f32) by the
    /// occupancy grid's log-density.
    public func recordOccupancyDensity(_ stream: CommandStream, outputs: BufferRange, variance: BufferRange, count: Int) throws {
        guard count > 0 else { return }
        try stream.dispatch(occupancyKernel, [outputs, variance], push: params(count: count), groups: groups(count),
                            label: "sdf occupancy density")
    }

    // MARK: Swift twins

    /// NeuS's sharpness inv_s = exp(10 variance), clipped to [1e-6, 1e6].
    public static func inverseScale(variance: Double) -> Double { min(max(exp(10 * variance), 1e-6), 1e6) }

    /// The Swift twin of `recordPoints`: stencil points [5S, 3] and position columns [5S, 3].
    public static func referencePoints(samples: [Float], step: Float) -> (points: [Float], positions: [Float]) {
        let n = samples.count / 3
        var points = samples
        for i in 0..<n {
            for v in stencil {
                for c in 0..<3 { points.append(samples[3 * i + c] + step * Float(v[c])) }
            }
        }
        return (points, points.map { $0 - 0.5 })
    }

    static func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

    /// One sample's inputs to the volume weight.
    public struct Sample {
        public var sdf: Double              // f at the sample
        public var stencil: [Double]        // [4] f at u + h v_k
        public var direction: SIMD3<Double> // unit ray direction
        public var dt: Double
        public init(sdf: Double, stencil: [Double], direction: SIMD3<Double>, dt: Double) {
            self.sdf = sdf; self.stencil = stencil; self.direction = direction; self.dt = dt
        }
    }

    /// The numerical gradient sum_k v_k f_k / (4 h).
    public static func gradient(_ s: Sample, step: Double) -> SIMD3<Double> {
        var g = SIMD3<Double>.zero
        for k in 0..<4 { g += stencil[k] * s.stencil[k] }
        return g / (4 * step)
    }

    /// The Swift twin of `recordVolumeWeight` for one sample: alpha (clamped),
    /// the gradient, and the eikonal term (|g| - 1)^2 (unweighted).
    public static func referenceVolumeWeight(_ s: Sample, variance: Double, step: Double, cosAnneal r: Double = 1)
        -> (alpha: Double, gradient: SIMD3<Double>, eikonal: Double) {
        let inv = inverseScale(variance: variance)
        let g = gradient(s, step: step)
        let cosine = (s.direction * g).sum()
        let c = -(max(0.5 - 0.5 * cosine, 0) * (1 - r) + max(-cosine, 0) * r)
        let a = sigmoid(inv * (s.sdf - c * s.dt / 2)), b = sigmoid(inv * (s.sdf + c * s.dt / 2))
        let e = (g * g).sum().squareRoot() - 1
        return (min(max((a - b + 1e-5) / (a + 1e-5), 0), 1), g, e * e)
    }

    /// The Swift twin of `recordVolumeWeightBackward` for one sample: from
    /// d loss / d alpha, d loss / d gradient (the colour network's) and the
    /// eikonal weight, d loss / d (f, f_0..f_3, variance).
    public static func referenceVolumeWeightBackward(_ s: Sample, variance: Double, step: Double, cosAnneal r: Double = 1,
                                                     alphaGradient: Double, gradientGradient: SIMD3<Double>, eikonalWeight: Double)
        -> (sdf: Double, stencil: [Double], variance: Double) {
        let inv = inverseScale(variance: variance)
        let g = gradient(s, step: step)
        let cosine = (s.direction * g).sum()
        let c = -(max(0.5 - 0.5 * cosine, 0) * (1 - r) + max(-cosine, 0) * r)
        let fp = s.sdf - c * s.dt / 2, fn = s.sdf + c * s.dt / 2
        let a = sigmoid(inv * fp), b = sigmoid(inv * fn)
        let raw = (a - b + 1e-5) / (a + 1e-5)
        let dRaw = raw >= 0 && raw <= 1 ? alphaGradient : 0
        let da = dRaw * b / ((a + 1e-5) * (a + 1e-5)), db = -dRaw / (a + 1e-5)
        let dfp = da * inv * a * (1 - a), dfn = db * inv * b * (1 - b)
        let ds = da * fp * a * (1 - a) + db * fn * b * (1 - b)
        let dc = (dfn - dfp) * s.dt / 2
        let dCos = dc * ((cosine < 1 ? 0.5 * (1 - r) : 0) + (cosine < 0 ? r : 0))
        var dg = dCos * s.direction + gradientGradient
        let n = (g * g).sum().squareRoot()
        if n > 0 { dg += eikonalWeight * 2 * (n - 1) / n * g }
        return (dfp + dfn, stencil.map { ($0 * dg).sum() / (4 * step) }, ds * 10 * inv)
    }

    /// The Swift twin of `recordOccupancyDensity`: log(inv_s sigmoid(-inv_s f)).
    public static func referenceOccupancyDensity(sdf: Double, variance: Double) -> Double {
        let inv = inverseScale(variance: variance)
        let x = inv * sdf
        return log(inv) - (max(x, 0) + log(1 + exp(-abs(x))))
    }
}

/// The signed-distance field's training settings (`"sdf"` in a NeRF
/// configuration whose `"field"` is `"sdf"`; NeuS and NeuS2's values unless
/// noted). docs/neus.md lists them.
public struct SDFConfig: Codable, Equatable {
    /// Weight of the eikonal loss mean (|grad f| - 1)^2 over the batch's samples (NeuS: 0.1).
    public var eikonalWeight: Float = 0.1
    /// Weight of the mask's binary cross-entropy on each ray's opacity, when the images have masks (NeuS: 0.1).
    public var maskWeight: Float = 0.1
    /// The sharpness's initial value: inv_s = exp(10 variance) (NeuS: 0.3).
    public var varianceInit: Float = 0.3
    /// The geometric initialisation's sphere radius in the field's unit box
    /// (the NeuS scene box holds the unit sphere: 0.25 is NeuS's radius 0.5).
    public var initRadius: Float = 0.25
    /// Progressive hash levels (NeuS2): the levels active at the start and the
    /// steps between adding one more.
    public var startLevels = 4
    public var levelEvery = 50
    /// NeuS's cosine annealing: steps over which cos_anneal_ratio grows from 0 to 1 (0: 1 from the start).
    public var cosAnnealSteps = 0

    enum CodingKeys: String, CodingKey, CaseIterable {
        case eikonalWeight = "eikonal_weight", maskWeight = "mask_weight", varianceInit = "variance_init", initRadius = "init_radius"
        case startLevels = "start_levels", levelEvery = "level_every", cosAnnealSteps = "cos_anneal_steps"
    }

    public init() {}

    public static var keys: [String] { CodingKeys.allCases.map(\.rawValue) }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SDFConfig()
        eikonalWeight = try c.decodeIfPresent(Float.self, forKey: .eikonalWeight) ?? d.eikonalWeight
        maskWeight = try c.decodeIfPresent(Float.self, forKey: .maskWeight) ?? d.maskWeight
        varianceInit = try c.decodeIfPresent(Float.self, forKey: .varianceInit) ?? d.varianceInit
        initRadius = try c.decodeIfPresent(Float.self, forKey: .initRadius) ?? d.initRadius
        startLevels = try c.decodeIfPresent(Int.self, forKey: .startLevels) ?? d.startLevels
        levelEvery = try c.decodeIfPresent(Int.self, forKey: .levelEvery) ?? d.levelEvery
        cosAnnealSteps = try c.decodeIfPresent(Int.self, forKey: .cosAnnealSteps) ?? d.cosAnnealSteps
    }

    /// Why these settings cannot train, or nil (keys as in the JSON).
    public var problem: String? {
        if !(eikonalWeight >= 0 && eikonalWeight.isFinite) { return "eikonal_weight must be finite and >= 0, got \(eikonalWeight)" }
        if !(maskWeight >= 0 && maskWeight.isFinite) { return "mask_weight must be finite and >= 0, got \(maskWeight)" }
        if !(abs(varianceInit) <= 3) { return "variance_init must be within -3...3, got \(varianceInit)" }
        if !(initRadius > 0 && initRadius < 0.5) { return "init_radius must be within (0, 0.5), got \(initRadius)" }
        if startLevels < 1 { return "start_levels must be >= 1, got \(startLevels)" }
        if levelEvery < 1 { return "level_every must be >= 1, got \(levelEvery)" }
        if cosAnnealSteps < 0 { return "cos_anneal_steps must be >= 0, got \(cosAnnealSteps)" }
        return nil
    }
}
