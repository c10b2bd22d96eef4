import CShaderLayouts
import Compute
import Foundation
import Geometry

/// The per-batch kernels of NeRF training that are not networks: random
/// training rays with targets (`nerf_rays`), the loss and its gradient
/// (`nerf_loss`), and the colour network's input assembly (`nerf_concat`).
/// Each has a Swift twin.
public final class NerfBatch {
    let raysKernel, lossKernel, concatKernel, concatBackwardKernel: Kernel
    let workgroupSize: Int

    public init(device: ComputeDevice) throws {
        workgroupSize = min(256, device.info.maxWorkgroupInvocations, device.info.maxWorkgroupSize[0])
        let wg = UInt32(workgroupSize)
        let push = MemoryLayout<NerfBatchParams>.size
        raysKernel = try device.kernel(ShaderLibrary.nerfRays, bindings: [.read, .read, .write, .write, .write], pushConstantBytes: push, specialization: [wg])
        lossKernel = try device.kernel(ShaderLibrary.nerfLoss, bindings: [.read, .read, .read, .write, .write], pushConstantBytes: push, specialization: [wg])
        concatKernel = try device.kernel(ShaderLibrary.nerfConcat, bindings: [.readWrite, .readWrite], pushConstantBytes: push, specialization: [wg, 0, 0, 0])
        concatBackwardKernel = try device.kernel(ShaderLibrary.nerfConcat, bindings: [.readWrite, .readWrite], pushConstantBytes: push, specialization: [wg, 0, 0, 1])
    }

    func groups(_ n: Int) -> Int { (n + workgroupSize - 1) / workgroupSize }

    /// A camera in unit space: world -> unit is (x - center) / size + 0.5.
    public static func camera(intrinsics k: Intrinsics, pose: Pose, pixelOffset: Int, center: Vector3, size: Double) -> NerfCamera {
        let c2w = pose.rotation.transposed
        let p = (pose.position - center) / size + Vector3(0.5, 0.5, 0.5)
        let r0 = c2w.rows[0], r1 = c2w.rows[1], r2 = c2w.rows[2]
        return NerfCamera(fx: Float(k.fx), fy: Float(k.fy), cx: Float(k.cx), cy: Float(k.cy),
                          width: UInt32(k.width), height: UInt32(k.height), pixelOffset: UInt32(pixelOffset), pad0: 0,
                          r00: Float(r0.x), r01: Float(r0.y), r02: Float(r0.z), px: Float(p.x),
                          r10: Float(r1.x), r11: Float(r1.y), r12: Float(r1.z), py: Float(p.y),
                          r20: Float(r2.x), r21: Float(r2.y), r22: Float(r2.z), pz: Float(p.z))
    }

    /// Records `count` random training rays.
    /// - Parameters: cameras [V] NerfCamera; pixels [sum W H] u32 RGBA8;
    ///   rays [R, 6] f32, targets [R, 4] f32, background [R, 3] f32 (written)
    public func recordRays(_ stream: CommandStream, cameras: BufferRange, cameraCount: Int, pixels: BufferRange, count: Int, seed: UInt32,
                           background: SIMD3<Float>, randomBackground: Bool,
                           rays: BufferRange, targets: BufferRange, backgrounds: BufferRange) throws {
        guard count > 0 else { return }
        let p = NerfBatchParams(rays: UInt32(count), cameras: UInt32(cameraCount), seed: seed,
                                flags: randomBackground ? NERF_FLAG_RANDOM_BACKGROUND : 0,
                                backgroundR: background.x, backgroundG: background.y, backgroundB: background.z, columns: 0,
                                maskWeight: 0, pad0: 0, pad1: 0, pad2: 0)
        try stream.dispatch(raysKernel, [cameras, pixels, rays, targets, backgrounds], push: p, groups: groups(count), label: "nerf rays")
    }

    /// Records the loss (mean over rays and channels; L2 or Huber) and its gradient.
    /// - Parameters: rendered [R, 4] f32; targets [R, 4] f32; backgrounds [R, 3] f32;
    ///   loss [R] f32 (each ray's share of the mean), gradient [R, 3] f32 (written);
    ///   with `maskWeight` (an SDF field's alpha compositing) gradient is [R, 4]
    ///   f32 with the opacity's, and the loss adds maskWeight BCE(opacity, target alpha).
    public func recordLoss(_ stream: CommandStream, rendered: BufferRange, targets: BufferRange, backgrounds: BufferRange,
                           count: Int, huber: Bool, loss: BufferRange, gradient: BufferRange, maskWeight: Float? = nil) throws {
        guard count > 0 else { return }
        var p = NerfBatchParams()
        p.rays = UInt32(count)
        p.flags = huber ? NERF_FLAG_HUBER : 0
        if let maskWeight {
            p.flags |= NERF_FLAG_OPACITY
            p.maskWeight = maskWeight
        }
        try stream.dispatch(lossKernel, [rendered, targets, backgrounds, loss, gradient], push: p, groups: groups(count), label: "nerf loss")
    }

    /// Records copying the density outputs [S, 16] into the last 16 columns of
    /// the colour input [S, columns] (`backward`: adding those columns'
    /// gradient to the density outputs' gradient).
    public func recordConcat(_ stream: CommandStream, density: BufferRange, colour: BufferRange, samples: Int, columns: Int,
                             backward: Bool = false) throws {
        guard samples > 0 else { return }
        var p = NerfBatchParams()
        p.rays = UInt32(samples)
        p.columns = UInt32(columns)
        try stream.dispatch(backward ? concatBackwardKernel : concatKernel, [density, colour], push: p,
                            groups: groups(samples * 16), label: backward ? "nerf concat backward" : "nerf concat")
    }

    // MARK: Swift twins

    /// The unit-space ray through pixel (x, y)'s centre: [origin, unit direction]
    /// (as nerf_rays.comp computes it).
    public static func ray(_ cam: NerfCamera, x: UInt32, y: UInt32) -> [Float] {
        let w = rayDirection(cam, x: x, y: y)
        return [cam.px, cam.py, cam.pz, w.x, w.y, w.z]
    }

    /// The unit world-space direction through pixel (x, y)'s centre.
    @inline(__always)
    public static func rayDirection(_ cam: NerfCamera, x: UInt32, y: UInt32) -> SIMD3<Float> {
        let d = SIMD3<Float>((Float(x) + 0.5 - cam.cx) / cam.fx, (Float(y) + 0.5 - cam.cy) / cam.fy, 1)
        let w = SIMD3<Float>((SIMD3(cam.r00, cam.r01, cam.r02) * d).sum(), (SIMD3(cam.r10, cam.r11, cam.r12) * d).sum(),
                             (SIMD3(cam.r20, cam.r21, cam.r22) * d).sum())
        return w / (w * w).sum().squareRoot()
    }

    /// The Swift twin of `recordRays`: (rays [R, 6], targets [R, 4], backgrounds [R, 3]).
    public static func referenceRays(cameras: [NerfCamera], pixels: [UInt32], count: Int, seed: UInt32, background: SIMD3<Float>,
                                     randomBackground: Bool) -> (rays: [Float], targets: [Float], backgrounds: [Float]) {
        let hash = OccupancyGrid.hash
        var rays: [Float] = [], targets: [Float] = [], bgs: [Float] = []
        func unit(_ h: UInt32) -> Float { Float(h >> 8) * (1.0 / 16_777_216.0) }
        for r in 0..<UInt32(count) {
            let h = hash(seed ^ hash(r))
            let cam = cameras[Int(h % UInt32(cameras.count))]
            let h1 = hash(h), h2 = hash(h1)
            let x = h1 % cam.width, y = h2 % cam.height
            rays += ray(cam, x: x, y: y)
            let px = pixels[Int(cam.pixelOffset + y * cam.width + x)]
            targets += (0..<4).map { Float((px >> (8 * UInt32($0))) & 255) / 255 }
            var bg = background
            if randomBackground {
                let h3 = hash(h2), h4 = hash(h3), h5 = hash(h4)
                bg = SIMD3(unit(h3), unit(h4), unit(h5))
            }
            bgs += [bg.x, bg.y, bg.z]
        }
        return (rays, targets, bgs)
    }

    /// The Swift twin of `recordLoss`: (loss per ray, gradient [R, 3], or
    /// [R, 4] with `maskWeight`).
    public static func referenceLoss(rendered: [Float], targets: [Float], backgrounds: [Float], huber: Bool,
                                     maskWeight: Float? = nil) -> (loss: [Float], gradient: [Float]) {
        let count = rendered.count / 4
        let n = Float(3 * count)
        var loss: [Float] = [], grad: [Float] = []
        for r in 0..<count {
            var l: Float = 0
            for c in 0..<3 {
                let a = targets[4 * r + 3]
                let target = targets[4 * r + c] * a + backgrounds[3 * r + c] * (1 - a)
                let e = rendered[4 * r + c] - target
                if huber {
                    let delta: Float = 0.1
                    l += abs(e) < delta ? 0.5 * e * e / delta : abs(e) - 0.5 * delta
                    grad.append((abs(e) < delta ? e / delta : (e > 0 ? 1 : e < 0 ? -1 : 0)) / n)
                } else {
                    l += e * e
                    grad.append(2 * e / n)
                }
            }
            l /= n
            if let w = maskWeight {
                let o = rendered[4 * r + 3], m = targets[4 * r + 3]
                let oc = min(max(o, 1e-3), 1 - 1e-3)
                l -= w * (m * log(oc) + (1 - m) * log(1 - oc)) / Float(count)
                grad.append(o == oc ? w * (oc - m) / (oc * (1 - oc)) / Float(count) : 0)
            }
            loss.append(l)
        }
        return (loss, grad)
    }

    /// The Swift twin of `recordConcat`, in place as the kernel works:
    /// forward copies each sample's density outputs into the last 16 columns
    /// of its colour-input row; `backward` adds those columns (the colour
    /// input's gradient) to the density outputs' gradient.
    /// - Parameters: density [S, 16] f32 (outputs, or their gradient when `backward`);
    ///   colour [S, columns] f32 (input, or its gradient when `backward`); columns >= 16
    /// - Returns: (density [S, 16] f32, colour [S, columns] f32), one of them changed
    public static func referenceConcat(density: [Float], colour: [Float], samples: Int, columns: Int,
                                       backward: Bool = false) -> (density: [Float], colour: [Float]) {
        var density = density, colour = colour
        for s in 0..<samples {
            for j in 0..<16 {
                let c = s * columns + (columns - 16) + j
                if backward {
                    density[16 * s + j] += colour[c]
                } else {
                    colour[c] = density[16 * s + j]
                }
            }
        }
        return (density, colour)
    }
}
