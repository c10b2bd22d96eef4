import CShaderLayouts
import Compute
import ComputePrimitives
import Foundation

/// A resampling operator R = Rows (x) Columns between two image sizes, as two
/// sparse matrices ([out, in] each, CSR), applied on the GPU
/// (image_resample): out[y, x] = sum_a Rows[y, a] sum_b Columns[x, b] in[a, b].
/// `SparseAxis.bicubic` (Splatting) is Pillow's antialiased bicubic resize in floating
/// point (the degradation that made the usual super-resolution sets), and
/// `transposed` its adjoint, which is its backward pass: dL/din = R^T dL/dout.
public struct SparseAxis: Equatable, Sendable {
    public var offsets: [UInt32]   // [out + 1]
    public var indices: [UInt32]   // [nnz]
    public var weights: [Float]    // [nnz]
    public var inputSize: Int
    public var outputSize: Int { offsets.count - 1 }

    public init(offsets: [UInt32], indices: [UInt32], weights: [Float], inputSize: Int) {
        self.offsets = offsets
        self.indices = indices
        self.weights = weights
        self.inputSize = inputSize
    }

    /// The transposed matrix ([in, out]).
    public var transposed: SparseAxis {
        var rows = [[(UInt32, Float)]](repeating: [], count: inputSize)
        for o in 0..<outputSize {
            for k in Int(offsets[o])..<Int(offsets[o + 1]) { rows[Int(indices[k])].append((UInt32(o), weights[k])) }
        }
        var offsets: [UInt32] = [0], indices: [UInt32] = [], weights: [Float] = []
        for row in rows {
            for (i, w) in row { indices.append(i); weights.append(w) }
            offsets.append(UInt32(indices.count))
        }
        return SparseAxis(offsets: offsets, indices: indices, weights: weights, inputSize: outputSize)
    }
}

public final class ImageResample {
    public let device: ComputeDevice
    public let rows: SparseAxis
    public let columns: SparseAxis
    let kernel: Kernel
    let workgroupSize: Int
    let buffers: [GPUBuffer]   // row offsets, indices, weights, column offsets, indices, weights

    public init(device: ComputeDevice, rows: SparseAxis, columns: SparseAxis) throws {
        self.device = device
        self.rows = rows
        self.columns = columns
        let size = min(256, device.info.maxWorkgroupInvocations, device.info.maxWorkgroupSize[0])
        workgroupSize = size
        kernel = try device.kernel(ShaderLibrary.imageResample, bindings: [.read, .read, .read, .read, .read, .read, .read, .readWrite],
                                   pushConstantBytes: MemoryLayout<ResampleParams>.size, specialization: [UInt32(size)])
        func upload<T>(_ values: [T], _ label: String) throws -> GPUBuffer where T: Numeric {
            try GPUBuffer(device: device, values.isEmpty ? [0 as T] : values, label: label)
        }
        buffers = [try upload(rows.offsets, "resample row offsets"), try upload(rows.indices, "resample row indices"),
                   try upload(rows.weights, "resample row weights"), try upload(columns.offsets, "resample column offsets"),
                   try upload(columns.indices, "resample column indices"), try upload(columns.weights, "resample column weights")]
    }

    /// Output size (width, height).
    public var outputSize: (width: Int, height: Int) { (columns.outputSize, rows.outputSize) }

    /// Records out = R in for the first `channels` (at most 4) of each pixel:
    /// `input` [inHeight, inWidth, inStride], `output` [outHeight, outWidth, outStride].
    public func record(_ stream: CommandStream, input: BufferRange, inStride: Int, output: BufferRange, outStride: Int, channels: Int) throws {
        guard channels >= 1, channels <= 4, channels <= inStride, channels <= outStride else {
            throw ComputeError.invalidArgument("resample of \(channels) channels with strides \(inStride), \(outStride)")
        }
        let (w, h) = outputSize
        let p = ResampleParams(outWidth: UInt32(w), outHeight: UInt32(h), inWidth: UInt32(columns.inputSize), channels: UInt32(channels),
                               inStride: UInt32(inStride), outStride: UInt32(outStride), pad0: 0, pad1: 0)
        let ranges = buffers.map { $0.slice(offset: 0, length: $0.length) as BufferRange }
        try stream.dispatch(kernel, [input] + ranges + [output], push: p, groups: (w * h + workgroupSize - 1) / workgroupSize,
                            label: "image resample")
    }

    /// Twin of image_resample, in Double: `input` [inHeight, inWidth, channels] -> [outHeight, outWidth, channels].
    public static func reference(_ input: [Double], channels c: Int, rows: SparseAxis, columns: SparseAxis) -> [Double] {
        let (w, h) = (columns.outputSize, rows.outputSize), inWidth = columns.inputSize
        var out = [Double](repeating: 0, count: w * h * c)
        for y in 0..<h { for x in 0..<w {
            for a in Int(rows.offsets[y])..<Int(rows.offsets[y + 1]) {
                let row = Int(rows.indices[a])
                for b in Int(columns.offsets[x])..<Int(columns.offsets[x + 1]) {
                    let weight = Double(rows.weights[a]) * Double(columns.weights[b])
                    let at = (row * inWidth + Int(columns.indices[b])) * c
                    for k in 0..<c { out[(y * w + x) * c + k] += weight * input[at + k] }
                }
            }
        } }
        return out
    }
}
