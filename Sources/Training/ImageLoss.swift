import CShaderLayouts
import Compute
import ComputePrimitives
import Foundation

/// The 3DGS photometric loss on the GPU, with its gradient:
/// L = (1 - lambda) L1 + lambda (1 - SSIM), lambda = 0.2, where L1 and SSIM
/// are means over pixels and channels and SSIM uses an 11x11 Gaussian window
/// (sigma 1.5) with zero padding (Wang et al. 2004; 3DGS's definition).
///
/// Forward and backward are fused: separable blurs of the five local
/// statistics, the SSIM map with its partial derivatives (A, B, C), and the
/// blurred partials give dL/dx_p = G*A + 2 x_p G*B + y_p G*C plus the L1 term.
public final class ImageLoss {
    public let device: ComputeDevice
    public var lambda: Float = 0.2
    /// When set, targets are RGBA with straight alpha, composited over this
    /// colour on the GPU (so a random background costs nothing per
    /// iteration); when nil, the targets' alpha is ignored.
    public var targetBackground: SIMD3<Float>?
    let blurStats: Kernel
    let ssimMap: Kernel
    let blurHorizontal: Kernel
    let blurVertical: Kernel
    let reduction: Reduction
    let workgroupSize: Int
    private let stats = ScratchBuffer(label: "ssim stats")
    private let partials = ScratchBuffer(label: "ssim partials")
    private let partialsBlurred = ScratchBuffer(label: "ssim partials blurred")
    private let l1Pixel = ScratchBuffer(label: "l1 per pixel")
    private let ssimPixel = ScratchBuffer(label: "ssim per pixel")
    private let sums: GPUBuffer  // [0] L1 sum, [4] SSIM sum (16-byte aligned slices)

    /// Pixels each thread of the blur kernels filters (consecutive along the
    /// pass's axis), so that each input is loaded once for all of them.
    public let pixelsPerThread: Int

    /// The blur kernels' pixels per thread for a device: 1 on GPUs; 8 on CPU
    /// drivers (lavapipe), where each input is then loaded once for 8 outputs
    /// (measured on lavapipe, 175x312, machine shared with another job: the four
    /// kernels' GPU time 29 ms with 1, 19 ms with 8, 22 ms with 16; the loss
    /// stage of bench train 29 -> 21 ms).
    public static func preferredPixelsPerThread(for info: DeviceInfo) -> Int { info.kind == .cpu ? 8 : 1 }

    /// `pixelsPerThread` (1 or more) overrides the device's preferred value; tests run both.
    public init(device: ComputeDevice, pixelsPerThread: Int? = nil) throws {
        self.device = device
        let ppt = pixelsPerThread ?? Self.preferredPixelsPerThread(for: device.info)
        guard ppt > 0 else { throw ComputeError.invalidArgument("pixels per loss thread must be positive, got \(ppt)") }
        self.pixelsPerThread = ppt
        workgroupSize = min(256, device.info.maxWorkgroupInvocations, device.info.maxWorkgroupSize[0])
        let push = MemoryLayout<LossParams>.size
        let wg = UInt32(workgroupSize), items = UInt32(ppt)
        blurStats = try device.kernel(ShaderLibrary.lossBlurStats, bindings: [.read, .read, .write], pushConstantBytes: push,
                                      specialization: [wg, 0, items])
        ssimMap = try device.kernel(ShaderLibrary.lossSsimMap, bindings: [.read, .write, .write], pushConstantBytes: push,
                                    specialization: [wg, 0, items])
        let gradientBindings: [BufferAccess] = [.read, .write, .read, .read, .write, .write]
        blurHorizontal = try device.kernel(ShaderLibrary.lossGradient, bindings: gradientBindings, pushConstantBytes: push,
                                           specialization: [wg, 0, items, 0])
        blurVertical = try device.kernel(ShaderLibrary.lossGradient, bindings: gradientBindings, pushConstantBytes: push,
                                         specialization: [wg, 0, items, 1])
        reduction = try Reduction(device: device)
        sums = try GPUBuffer(device: device, length: 32, label: "loss sums")
    }

    /// Records the loss of `rendered` ([H, W, 4] f32, RGB used) against
    /// `target` ([H, W] RGBA8 packed in u32) and its gradient into `gradient`
    /// ([H, W, 3] f32). `lossSums()` reads the L1 and SSIM sums afterwards.
    public func record(_ stream: CommandStream, rendered: BufferRange, target: BufferRange, gradient: BufferRange,
                       width: Int, height: Int) throws {
        let pixels = width * height
        guard pixels > 0 else { throw ComputeError.invalidArgument("image loss of an empty \(width)x\(height) image") }
        let params = LossParams(width: UInt32(width), height: UInt32(height), lambda: lambda, invCount: 1 / Float(3 * pixels),
                                bgR: targetBackground?.x ?? 0, bgG: targetBackground?.y ?? 0, bgB: targetBackground?.z ?? 0,
                                flags: targetBackground == nil ? 0 : LOSS_FLAG_COMPOSITE_TARGET)
        // [H, W, 4] vec4 statistics and [H, W, 3] vec4 partials (loss_common.glsl).
        let s = try stats.atLeast(pixels * 64, device: device).slice(offset: 0, length: pixels * 64)
        let pa = try partials.atLeast(pixels * 48, device: device).slice(offset: 0, length: pixels * 48)
        let pb = try partialsBlurred.atLeast(pixels * 48, device: device).slice(offset: 0, length: pixels * 48)
        let l1 = try l1Pixel.atLeast(pixels * 4, device: device).slice(offset: 0, length: pixels * 4)
        let ss = try ssimPixel.atLeast(pixels * 4, device: device).slice(offset: 0, length: pixels * 4)
        // One thread per run of pixelsPerThread pixels along a row (horizontal passes) or a column (vertical).
        let ppt = pixelsPerThread
        let rowGroups = (height * ((width + ppt - 1) / ppt) + workgroupSize - 1) / workgroupSize
        let columnGroups = (width * ((height + ppt - 1) / ppt) + workgroupSize - 1) / workgroupSize
        try stream.dispatch(blurStats, [rendered, target, s], push: params, groups: rowGroups, label: "loss stats")
        try stream.dispatch(ssimMap, [s, pa, ss], push: params, groups: columnGroups, label: "loss ssim")
        try stream.dispatch(blurHorizontal, [pa, pb, rendered, target, gradient, l1], push: params, groups: rowGroups, label: "loss blur")
        try stream.dispatch(blurVertical, [pb, pa, rendered, target, gradient, l1], push: params, groups: columnGroups, label: "loss gradient")
        try reduction.record(stream, .sumF32, input: l1, count: pixels, result: sums.slice(offset: 0, length: 4))
        try reduction.record(stream, .sumF32, input: ss, count: pixels, result: sums.slice(offset: 16, length: 4))
        lastCount = 3 * pixels
    }

    private var lastCount = 1

    /// After the stream ran: mean L1, mean SSIM and the loss value.
    public func values() throws -> (l1: Float, ssim: Float, loss: Float) {
        let raw = try sums.read(Float.self, count: 5, device: device)
        let l1 = raw[0] / Float(lastCount), ssim = raw[4] / Float(lastCount)
        return (l1, ssim, (1 - lambda) * l1 + lambda * (1 - ssim))
    }

    /// The Swift twin in Double: loss value and gradient w.r.t. the render.
    /// `rendered` and `target` are [H, W, 3].
    public static func reference(rendered x: [Double], target y: [Double], width w: Int, height h: Int, lambda: Double = 0.2)
        -> (loss: Double, l1: Double, ssim: Double, gradient: [Double]) {
        let n = Double(3 * w * h)
        var window = (-5...5).map { exp(-Double($0 * $0) / 4.5) }
        let total = window.reduce(0, +)
        window = window.map { $0 / total }
        let (c1, c2) = (0.0001, 0.0009)
        func at(_ a: [Double], _ px: Int, _ py: Int, _ c: Int) -> Double { a[3 * (py * w + px) + c] }
        var l1 = 0.0, ssimSum = 0.0
        var grad = [Double](repeating: 0, count: 3 * w * h)
        var A = grad, B = grad, C = grad
        for py in 0..<h {
            for px in 0..<w {
                for c in 0..<3 {
                    var mx = 0.0, my = 0.0, exx = 0.0, eyy = 0.0, exy = 0.0
                    for dy in -5...5 {
                        for dx in -5...5 {
                            let qx = px + dx, qy = py + dy
                            guard qx >= 0, qy >= 0, qx < w, qy < h else { continue }
                            let g = window[dx + 5] * window[dy + 5]
                            let xv = at(x, qx, qy, c), yv = at(y, qx, qy, c)
                            mx += g * xv; my += g * yv; exx += g * xv * xv; eyy += g * yv * yv; exy += g * xv * yv
                        }
                    }
                    let vx = exx - mx * mx, vy = eyy - my * my, cxy = exy - mx * my
                    let l = 2 * mx * my + c1, m = mx * mx + my * my + c1, sn = 2 * cxy + c2, d = vx + vy + c2
                    ssimSum += l * sn / (m * d)
                    let up = -lambda / n
                    let dMx = 2 * my * sn / (m * d) - 2 * mx * l * sn / (m * m * d)
                    let dVx = -l * sn / (m * d * d), dCxy = 2 * l / (m * d)
                    let i = 3 * (py * w + px) + c
                    A[i] = up * (dMx - 2 * mx * dVx - my * dCxy)
                    B[i] = up * dVx
                    C[i] = up * dCxy
                    let diff = x[i] - y[i]
                    l1 += abs(diff)
                    grad[i] += (1 - lambda) / n * (diff > 0 ? 1 : diff < 0 ? -1 : 0)
                }
            }
        }
        for py in 0..<h {
            for px in 0..<w {
                for c in 0..<3 {
                    var ga = 0.0, gb = 0.0, gc = 0.0
                    for dy in -5...5 {
                        for dx in -5...5 {
                            let qx = px + dx, qy = py + dy
                            guard qx >= 0, qy >= 0, qx < w, qy < h else { continue }
                            let g = window[dx + 5] * window[dy + 5]
                            ga += g * at(A, qx, qy, c); gb += g * at(B, qx, qy, c); gc += g * at(C, qx, qy, c)
                        }
                    }
                    let i = 3 * (py * w + px) + c
                    grad[i] += ga + 2 * x[i] * gb + y[i] * gc
                }
            }
        }
        let meanL1 = l1 / n, meanSSIM = ssimSum / n
        return ((1 - lambda) * meanL1 + lambda * (1 - meanSSIM), meanL1, meanSSIM, grad)
    }
}
