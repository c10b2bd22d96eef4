import CShaderLayouts
import Compute
import Foundation

/// The opacity entropy regulariser of 4D-Rotor Gaussian Splatting (Duan et
/// al., SIGGRAPH 2024): lambda mean_i(-o_i ln o_i) over the model's
/// opacities o = sigmoid(logit), whose gradient the trainer adds to the
/// loss gradients before the optimiser (`--opacity-entropy`).
public final class OpacityEntropy {
    public let device: ComputeDevice
    /// lambda.
    public var weight: Double
    let kernel: Kernel
    let workgroupSize: Int

    public init(device: ComputeDevice, weight: Double) throws {
        self.device = device
        self.weight = weight
        workgroupSize = min(256, device.info.maxWorkgroupInvocations, device.info.maxWorkgroupSize[0])
        kernel = try device.kernel(ShaderLibrary.opacityEntropy, bindings: [.read, .readWrite],
                                   pushConstantBytes: MemoryLayout<EntropyParams>.size, specialization: [UInt32(workgroupSize)])
    }

    /// Records adding the gradient to the opacity-logit gradients of the
    /// last backward pass.
    public func record(_ stream: CommandStream, rasterizer: GaussianRasterizer) throws {
        let n = rasterizer.gaussianCount
        guard n > 0, weight > 0 else { return }
        guard let k = rasterizer.schema.index(of: .opacityLogit),
              let gradients = rasterizer.trainableGroups().first(where: { $0.name == rasterizer.schema.groups[k].name })?.gradients else {
            throw ComputeError.invalidArgument("the opacity entropy needs the opacity gradients of a backward pass")
        }
        try record(stream, opacities: rasterizer.modelBuffers[k].slice(offset: 0, length: n * 4), gradients: gradients, count: n)
    }

    /// opacity_entropy on explicit buffers: logits [N], gradients [N] (read and written).
    func record(_ stream: CommandStream, opacities: BufferRange, gradients: BufferRange, count n: Int) throws {
        var p = EntropyParams()
        p.count = UInt32(n)
        p.weight = Float(weight / Double(n))
        try stream.dispatch(kernel, [opacities, gradients], push: p, groups: (n + workgroupSize - 1) / workgroupSize, label: "opacity entropy")
    }

    /// Twin of opacity_entropy: adds lambda / N d(-o ln o)/d logit to `gradients`.
    public static func gradient(logits: [Float], weight: Double, gradients: inout [Float]) {
        let n = Double(logits.count)
        for (i, l) in logits.enumerated() {
            let logit = Double(l)
            let o = 1 / (1 + exp(-logit))
            let logO = logit < -20 ? logit : -log(1 + exp(-logit))
            gradients[i] += Float(weight / n * -(logO + 1) * o * (1 - o))
        }
    }

    /// The regulariser's value lambda mean(-o ln o), for tests and reports.
    public static func value(logits: [Float], weight: Double) -> Double {
        let sum = logits.reduce(0.0) { total, l in
            let o = 1 / (1 + exp(-Double(l)))
            return total + (o > 0 ? -o * log(o) : 0)
        }
        return weight * sum / Double(max(1, logits.count))
    }
}
