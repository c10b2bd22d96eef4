import CShaderLayouts
import Compute
import Foundation
import Geometry

/// The direction encoding of instant-ngp's colour network: the 16 real
/// spherical harmonics of degree 0-3 (tiny-cuda-nn calls this
/// `{"otype": "SphericalHarmonics", "degree": 4}`) of the normalised
/// direction, with the basis the Gaussian rasterizer uses (Geometry's
/// `SphericalHarmonics`, Shaders/common/sh.glsl). Directions are inputs,
/// never trained, so there is no backward pass.
public final class SphericalHarmonicsEncoding {
    public static let outputWidth = 16
    let kernel: Kernel
    let workgroupSize: Int

    public init(device: ComputeDevice) throws {
        workgroupSize = min(256, device.info.maxWorkgroupInvocations, device.info.maxWorkgroupSize[0])
        kernel = try device.kernel(ShaderLibrary.shEncode, bindings: [.read, .write],
                                   pushConstantBytes: MemoryLayout<SHEncodeParams>.size, specialization: [UInt32(workgroupSize)])
    }

    /// Records encoding `count` directions into columns `column ..< column + 16`
    /// of `encoded`, whose rows are `stride` floats.
    /// - Parameters:
    ///   - directions: [count, 3] f32 (any length; zero maps to +z)
    ///   - encoded: [count, stride] f32
    public func encode(_ stream: CommandStream, directions: BufferRange, encoded: BufferRange, count: Int,
                       stride: Int = outputWidth, column: Int = 0) throws {
        guard count > 0 else { return }
        guard column + Self.outputWidth <= stride else {
            throw ComputeError.invalidArgument("SH encoding: columns \(column)..<\(column + 16) exceed rows of \(stride)")
        }
        try stream.dispatch(kernel, [directions, encoded],
                            push: SHEncodeParams(count: UInt32(count), stride: UInt32(stride), column: UInt32(column), pad0: 0),
                            groups: (count + workgroupSize - 1) / workgroupSize, label: "sh encode")
    }

    /// The Swift twin: [count, 16] from directions [count, 3].
    public static func reference(directions: [Float]) -> [Float] {
        stride(from: 0, to: directions.count, by: 3).flatMap { i -> [Float] in
            var d = SIMD3<Double>(Double(directions[i]), Double(directions[i + 1]), Double(directions[i + 2]))
            let len = (d * d).sum().squareRoot()
            d = len > 0 ? d / len : SIMD3(0, 0, 1)
            return SphericalHarmonics.basis(d, degree: 3).values.map(Float.init)
        }
    }
}
