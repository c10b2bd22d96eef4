import CShaderLayouts
import Compute
import ComputePrimitives
import Foundation

/// Adam on the GPU (Kingma & Ba 2015), for parameter groups that live in GPU
/// buffers. Each group has its own moments and learning rate; the step count
/// (for bias correction) is shared. `sparse` skips elements whose gradient is
/// exactly zero, as gsplat's sparse Adam does for Gaussians no pixel saw.
public final class Adam {
    public struct Hyperparameters: Equatable, Codable {
        public var beta1: Float = 0.9
        public var beta2: Float = 0.999
        /// 3DGS uses 1e-15.
        public var epsilon: Float = 1e-15
        public var sparse: Bool = false
        public init(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-15, sparse: Bool = false) {
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
            self.sparse = sparse
        }
    }

    /// One group's moments (grown on need, kept across steps).
    final class Moments {
        let m = ScratchBuffer(label: "adam m")
        let v = ScratchBuffer(label: "adam v")
        var count = 0
    }

    public let device: ComputeDevice
    public var hyperparameters: Hyperparameters
    public private(set) var step = 0
    let kernel: Kernel
    let workgroupSize: Int
    private var moments: [String: Moments] = [:]

    public init(device: ComputeDevice, hyperparameters: Hyperparameters = Hyperparameters()) throws {
        self.device = device
        self.hyperparameters = hyperparameters
        workgroupSize = min(256, device.info.maxWorkgroupInvocations, device.info.maxWorkgroupSize[0])
        kernel = try device.kernel(ShaderLibrary.adam, bindings: [.readWrite, .read, .readWrite, .readWrite, .readWrite, .read, .readWrite, .readWrite],
                                   pushConstantBytes: MemoryLayout<AdamParams>.size, specialization: [UInt32(workgroupSize)])
    }

    /// Starts the next step: the bias corrections use the new step count.
    public func beginStep() { step += 1 }

    /// Records the update of group `name` (`count` floats of `parameters`
    /// with `gradients`) at `learningRate`, the gradient plus `l2` times the
    /// parameter (L2 regularisation; sparse Adam tests the gradient alone). Moments start at zero the first
    /// time a group is seen, and are zeroed again when its size changes
    /// (densification rebuilds them through `resize` instead).
    public func record(_ stream: CommandStream, group name: String, parameters: BufferRange, gradients: BufferRange,
                       count: Int, learningRate: Float, l2: Float = 0) throws {
        precondition(step > 0, "call beginStep() first")
        guard count > 0 else { return }
        let group = moments[name] ?? Moments()
        moments[name] = group
        let m = try group.m.atLeast(count * 4, device: device)
        let v = try group.v.atLeast(count * 4, device: device)
        if group.count != count {
            stream.fill(m, value: 0, offset: 0, bytes: count * 4)
            stream.fill(v, value: 0, offset: 0, bytes: count * 4)
            group.count = count
        }
        let h = hyperparameters
        let params = AdamParams(count: UInt32(count), flags: h.sparse ? ADAM_FLAG_SPARSE : 0, learningRate: learningRate,
                                beta1: h.beta1, beta2: h.beta2, epsilon: h.epsilon,
                                biasCorrection1: 1 - pow(h.beta1, Float(step)), biasCorrection2: 1 - pow(h.beta2, Float(step)),
                                l2: l2, pad0: 0, pad1: 0, pad2: 0)
        let ms = m.slice(offset: 0, length: count * 4), vs = v.slice(offset: 0, length: count * 4)
        // One thread per 4 elements, plus one for the tail (adam.comp).
        try stream.dispatch(kernel, [parameters, gradients, ms, vs, parameters, gradients, ms, vs],
                            push: params, groups: (count / 4 + 1 + workgroupSize - 1) / workgroupSize, label: "adam \(name)")
    }

    /// Group `name`'s moments ([count] f32 each), nil before its first step.
    public func momentBuffers(_ name: String) -> (m: GPUBuffer, v: GPUBuffer, count: Int)? {
        guard let g = moments[name], let m = g.m.buffer, let v = g.v.buffer else { return nil }
        return (m, v, g.count)
    }

    /// Installs moment buffers holding `count` floats each for group `name`
    /// (after a change of the group's size, such as densification) and
    /// returns the previous ones for reuse.
    @discardableResult
    public func exchangeMoments(_ name: String, m: GPUBuffer, v: GPUBuffer, count: Int) -> (m: GPUBuffer?, v: GPUBuffer?) {
        let group = moments[name] ?? Moments()
        moments[name] = group
        group.count = count
        return (group.m.exchange(m), group.v.exchange(v))
    }

    /// Records zeroing group `name`'s moments (a fresh optimiser state for it).
    public func recordZeroMoments(_ stream: CommandStream, _ name: String) {
        guard let g = moments[name], g.count > 0, let m = g.m.buffer, let v = g.v.buffer else { return }
        stream.fill(m, value: 0, offset: 0, bytes: g.count * 4)
        stream.fill(v, value: 0, offset: 0, bytes: g.count * 4)
    }

    /// Every group's moments, downloaded (for checkpoints): name -> (m, v).
    public func downloadMoments() throws -> [String: (m: [Float], v: [Float])] {
        var out: [String: (m: [Float], v: [Float])] = [:]
        for (name, g) in moments where g.count > 0 {
            out[name] = (try g.m.buffer!.read(Float.self, count: g.count, device: device),
                         try g.v.buffer!.read(Float.self, count: g.count, device: device))
        }
        return out
    }

    /// Restores the step count and moments saved by `downloadMoments` (resuming).
    public func restore(step: Int, moments saved: [String: (m: [Float], v: [Float])]) throws {
        self.step = step
        moments = [:]
        for (name, mv) in saved {
            guard mv.m.count == mv.v.count else { throw ComputeError.invalidArgument("Adam moments of \(name) differ in length") }
            let g = Moments()
            if !mv.m.isEmpty {
                try g.m.atLeast(mv.m.count * 4, device: device).write(mv.m, device: device)
                try g.v.atLeast(mv.v.count * 4, device: device).write(mv.v, device: device)
            }
            g.count = mv.m.count
            moments[name] = g
        }
    }

    /// The Swift twin: one Adam step on arrays (moments updated in place).
    public static func reference(parameters: inout [Float], gradients: [Float], m: inout [Float], v: inout [Float],
                                 step: Int, learningRate: Float, hyperparameters h: Hyperparameters, l2: Float = 0) {
        let c1 = 1 - pow(h.beta1, Float(step)), c2 = 1 - pow(h.beta2, Float(step))
        for i in parameters.indices {
            if h.sparse && gradients[i] == 0 { continue }
            let g = gradients[i] + l2 * parameters[i]
            m[i] = h.beta1 * m[i] + (1 - h.beta1) * g
            v[i] = h.beta2 * v[i] + (1 - h.beta2) * g * g
            parameters[i] -= learningRate * (m[i] / c1) / ((v[i] / c2).squareRoot() + h.epsilon)
        }
    }
}
