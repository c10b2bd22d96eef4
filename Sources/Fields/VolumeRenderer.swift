import CShaderLayouts
import Compute
import Foundation

/// Volume rendering of compacted ray samples on the GPU (the NeRF
/// quadrature, Mildenhall et al. 2020, composited as instant-ngp does):
/// sigma = exp(raw density), colour = sigmoid(raw rgb), alpha = 1 - exp(-sigma dt),
/// C = sum T_i alpha_i c_i + T_end background, stopping once T < 1e-4.
/// Each ray owns a contiguous range of samples (`rays`: first, count).
///
/// The volume weight is a stage of its own: `.density` is NeRF's, `.alpha`
/// takes each sample's alpha from the field (NeuS's logistic-CDF weight,
/// `SDFField`), and the compositing and its backward are shared.
public final class VolumeRenderer {
    /// How a sample's column-0 value becomes its alpha.
    public enum Weight: Equatable {
        /// NeRF: raw log-density, alpha = 1 - exp(-exp(raw) dt).
        case density
        /// The value is alpha itself (clamped to [0, 1]); the backward pass
        /// writes d loss / d alpha and takes d loss / d (rgb, opacity).
        case alpha
    }

    public let device: ComputeDevice
    /// Early termination (instant-ngp: 1e-4).
    public var minTransmittance: Float = 1e-4
    let forwardKernel, backwardKernel: Kernel
    let workgroupSize: Int
    let dummy: GPUBuffer

    public init(device: ComputeDevice) throws {
        self.device = device
        workgroupSize = min(256, device.info.maxWorkgroupInvocations, device.info.maxWorkgroupSize[0])
        let spec = [UInt32(workgroupSize)]
        let push = MemoryLayout<VolumeRenderParams>.size
        forwardKernel = try device.kernel(ShaderLibrary.volumeRender, bindings: [.read, .read, .read, .read, .read, .read, .write, .write],
                                          pushConstantBytes: push, specialization: spec)
        backwardKernel = try device.kernel(ShaderLibrary.volumeRenderBackward,
                                           bindings: [.read, .read, .read, .read, .read, .read, .readWrite, .write, .read],
                                           pushConstantBytes: push, specialization: spec)
        dummy = try GPUBuffer(device: device, length: 16, label: "volume unused binding")
    }

    /// A ray's background: one colour for all, or one per ray (instant-ngp's
    /// random background for scenes with transparent backgrounds).
    public enum Background {
        case constant(SIMD3<Float>)
        case perRay(BufferRange)  // [R, 3] f32
    }

    func params(rays: Int, densityStride: Int, background: Background, weight: Weight = .density) -> VolumeRenderParams {
        var p = VolumeRenderParams()
        if weight == .alpha { p.flags |= VOLUME_FLAG_ALPHA }
        p.rayCount = UInt32(rays)
        p.densityStride = UInt32(densityStride)
        p.minTransmittance = minTransmittance
        switch background {
        case .constant(let c):
            p.backgroundR = c.x; p.backgroundG = c.y; p.backgroundB = c.z
        case .perRay:
            p.flags |= VOLUME_FLAG_RAY_BACKGROUND
        }
        return p
    }

    /// Records compositing `rayCount` rays.
    /// - Parameters:
    ///   - rays: [R, 2] u32 (first sample, sample count)
    ///   - density: [S, densityStride] f32, raw log-density in column 0 (alpha with `weight` .alpha)
    ///   - rgb: [S, 3] f32 raw colour
    ///   - dt: [S] f32 step lengths; t: [S] f32 distances (for depth)
    ///   - output: [R, 4] f32 (rgb, opacity), written; depth: [R] f32, written
    public func render(_ stream: CommandStream, rays: BufferRange, rayCount: Int, density: BufferRange, densityStride: Int,
                       rgb: BufferRange, dt: BufferRange, t: BufferRange, background: Background,
                       output: BufferRange, depth: BufferRange, weight: Weight = .density) throws {
        guard rayCount > 0 else { return }
        var bg: BufferRange = dummy
        if case .perRay(let b) = background { bg = b }
        try stream.dispatch(forwardKernel, [rays, density, rgb, dt, t, bg, output, depth],
                            push: params(rays: rayCount, densityStride: densityStride, background: background, weight: weight),
                            groups: (rayCount + workgroupSize - 1) / workgroupSize, label: "volume render")
    }

    /// Records the backward pass: from d loss / d C ([R, 3] f32) writes
    /// d loss / d raw density into column 0 of `densityGradient` ([S,
    /// densityStride] f32; the other columns are left as they are) and
    /// d loss / d raw rgb ([S, 3] f32) for every sample of every ray.
    /// With `weight` .alpha: `outputGradient` is [R, 4] f32 (rgb, opacity),
    /// column 0 gets d loss / d alpha, and `background` must be the forward's.
    public func backward(_ stream: CommandStream, rays: BufferRange, rayCount: Int, density: BufferRange, densityStride: Int,
                         rgb: BufferRange, dt: BufferRange, output: BufferRange, outputGradient: BufferRange,
                         densityGradient: BufferRange, rgbGradient: BufferRange, weight: Weight = .density,
                         background: Background = .constant(.zero)) throws {
        guard rayCount > 0 else { return }
        var bg: BufferRange = dummy
        if case .perRay(let b) = background { bg = b }
        try stream.dispatch(backwardKernel, [rays, density, rgb, dt, output, outputGradient, densityGradient, rgbGradient, bg],
                            push: params(rays: rayCount, densityStride: densityStride, background: background, weight: weight),
                            groups: (rayCount + workgroupSize - 1) / workgroupSize, label: "volume render backward")
    }

    // MARK: Swift twins

    /// One ray's samples, raw network outputs (Double for finite differences).
    public struct RaySamples {
        public var density: [Double]   // [n] raw log-density
        public var rgb: [SIMD3<Double>] // [n] raw colour
        public var dt: [Double]
        public var t: [Double]
        public init(density: [Double], rgb: [SIMD3<Double>], dt: [Double], t: [Double]) {
            self.density = density; self.rgb = rgb; self.dt = dt; self.t = t
        }
    }

    static func sigmoid(_ x: SIMD3<Double>) -> SIMD3<Double> {
        SIMD3(1 / (1 + exp(-x.x)), 1 / (1 + exp(-x.y)), 1 / (1 + exp(-x.z)))
    }

    /// The Swift twin of `render` for one ray: (rgb, opacity, depth).
    public static func reference(_ s: RaySamples, background: SIMD3<Double>, minTransmittance: Double = 1e-4)
        -> (rgb: SIMD3<Double>, opacity: Double, depth: Double) {
        var T = 1.0, d = 0.0
        var c = SIMD3<Double>.zero
        for i in s.density.indices {
            if T < minTransmittance { break }
            let alpha = 1 - exp(-exp(s.density[i]) * s.dt[i])
            let w = T * alpha
            c += w * sigmoid(s.rgb[i])
            d += w * s.t[i]
            T *= 1 - alpha
        }
        return (c + T * background, 1 - T, d)
    }

    /// The Swift twin of `backward` for one ray: d loss / d raw density and
    /// d loss / d raw rgb per sample from d loss / d C.
    public static func referenceBackward(_ s: RaySamples, background: SIMD3<Double>, outputGradient g: SIMD3<Double>,
                                         minTransmittance: Double = 1e-4) -> (density: [Double], rgb: [SIMD3<Double>]) {
        let C = reference(s, background: background, minTransmittance: minTransmittance).rgb
        var dDensity = [Double](repeating: 0, count: s.density.count)
        var dRGB = [SIMD3<Double>](repeating: .zero, count: s.density.count)
        var T = 1.0
        var front = SIMD3<Double>.zero
        for i in s.density.indices {
            if T < minTransmittance { break }
            let raw = s.density[i]
            let alpha = 1 - exp(-exp(raw) * s.dt[i])
            let w = T * alpha
            let c = sigmoid(s.rgb[i])
            front += w * c
            let Tnext = T * (1 - alpha)
            let dSigma = s.dt[i] * (g * (Tnext * c - (C - front))).sum()
            dDensity[i] = dSigma * exp(min(max(raw, -15), 15))
            dRGB[i] = w * g * c * (1 - c)
            T = Tnext
        }
        return (dDensity, dRGB)
    }

    /// The Swift twin of `render` with `weight` .alpha for one ray
    /// (`s.density` holds each sample's alpha): (rgb, opacity, depth).
    public static func referenceAlpha(_ s: RaySamples, background: SIMD3<Double>, minTransmittance: Double = 1e-4)
        -> (rgb: SIMD3<Double>, opacity: Double, depth: Double) {
        var T = 1.0, d = 0.0
        var c = SIMD3<Double>.zero
        for i in s.density.indices {
            if T < minTransmittance { break }
            let alpha = min(max(s.density[i], 0), 1)
            c += T * alpha * sigmoid(s.rgb[i])
            d += T * alpha * s.t[i]
            T *= 1 - alpha
        }
        return (c + T * background, 1 - T, d)
    }

    /// The Swift twin of `backward` with `weight` .alpha for one ray:
    /// d loss / d alpha and d loss / d raw rgb per sample from d loss / d
    /// (rgb, opacity), by the product rule on the forward sum directly
    /// (not the kernel's back-to-front recurrence), so the two agree only
    /// if both are right.
    public static func referenceAlphaBackward(_ s: RaySamples, background: SIMD3<Double>, outputGradient g: SIMD3<Double>,
                                              opacityGradient: Double, minTransmittance: Double = 1e-4)
        -> (alpha: [Double], rgb: [SIMD3<Double>]) {
        let n = s.density.count
        var dAlpha = [Double](repeating: 0, count: n), dRGB = [SIMD3<Double>](repeating: .zero, count: n)
        var alphas: [Double] = []
        var T = 1.0
        for i in 0..<n {
            if T < minTransmittance { break }
            alphas.append(min(max(s.density[i], 0), 1))
            T *= 1 - alphas[i]
        }
        let m = alphas.count
        for i in 0..<m {
            // C = sum_j T_j a_j c_j + T_m bg, T_j = prod_{k<j} (1 - a_k); O = 1 - T_m.
            var dC = SIMD3<Double>.zero, dO = 0.0
            var Tj = 1.0
            for j in 0..<m {
                let cj = sigmoid(s.rgb[j])
                if j == i { dC += Tj * cj } else if j > i { dC -= Tj / (1 - alphas[i]) * alphas[j] * cj }
                Tj *= 1 - alphas[j]
            }
            // d T_m / d a_i = -T_m / (1 - a_i), computed as a product without the division.
            var others = 1.0
            for j in 0..<m where j != i { others *= 1 - alphas[j] }
            dC -= others * background
            dO += others
            let raw = s.density[i]
            dAlpha[i] = raw >= 0 && raw <= 1 ? (g * dC).sum() + opacityGradient * dO : 0
        }
        T = 1
        for i in 0..<m {
            let c = sigmoid(s.rgb[i])
            dRGB[i] = T * alphas[i] * g * c * (1 - c)
            T *= 1 - alphas[i]
        }
        return (dAlpha, dRGB)
    }
}
