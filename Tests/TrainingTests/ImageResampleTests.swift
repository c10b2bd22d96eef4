import Compute
import ComputeTestSupport
import Geometry
@testable import Training
import XCTest

/// image_resample against its Double twin, and its transpose as the adjoint
/// (<R x, y> = <x, R^T y>), which is what makes it the backward pass.
final class ImageResampleTests: GPUTestCase {
    /// A random sparse axis: each output row takes 1-5 consecutive inputs.
    func axis(in inSize: Int, out outSize: Int, _ rng: inout SplitMix64) -> SparseAxis {
        var offsets: [UInt32] = [0], indices: [UInt32] = [], weights: [Float] = []
        for _ in 0..<outSize {
            let first = Int(rng.next() % UInt64(inSize)), length = 1 + Int(rng.next() % 5)
            for k in first..<min(inSize, first + length) { indices.append(UInt32(k)); weights.append(rng.uniform(-0.5, 1)) }
            offsets.append(UInt32(indices.count))
        }
        return SparseAxis(offsets: offsets, indices: indices, weights: weights, inputSize: inSize)
    }

    func testGPUMatchesTheTwinAndTheTransposeIsTheAdjoint() throws {
        var rng = SplitMix64(seed: 4)
        let (inW, inH, outW, outH) = (23, 17, 9, 7)
        let rows = axis(in: inH, out: outH, &rng), columns = axis(in: inW, out: outW, &rng)
        let x = (0..<(inW * inH * 4)).map { _ in rng.uniform(-1, 1) }   // stride 4, 3 channels used
        let resample = try ImageResample(device: device, rows: rows, columns: columns)
        let input = try GPUBuffer(device: device, x, label: "x")
        let output = try GPUBuffer(device: device, [Float](repeating: 7, count: outW * outH * 4), label: "Rx")
        let stream = try CommandStream(device: device)
        try resample.record(stream, input: input.slice(offset: 0, length: x.count * 4), inStride: 4,
                            output: output.slice(offset: 0, length: outW * outH * 16), outStride: 4, channels: 3)
        try stream.run()
        let gpu = try output.read(Float.self, count: outW * outH * 4, device: device)
        let x3 = (0..<(inW * inH)).flatMap { p in (0..<3).map { Double(x[4 * p + $0]) } }
        let twin = ImageResample.reference(x3, channels: 3, rows: rows, columns: columns)
        for p in 0..<(outW * outH) {
            for c in 0..<3 { XCTAssertEqual(Double(gpu[4 * p + c]), twin[3 * p + c], accuracy: 1e-5) }
            XCTAssertEqual(gpu[4 * p + 3], 7, "the fourth float is left as it was")
        }
        // Adjoint: <R x, y> = <x, R^T y> for a random y.
        let y = (0..<(outW * outH * 3)).map { _ in Double(rng.uniform(-1, 1)) }
        let back = ImageResample.reference(y, channels: 3, rows: rows.transposed, columns: columns.transposed)
        XCTAssertEqual(back.count, x3.count)
        let left = zip(twin, y).reduce(0) { $0 + $1.0 * $1.1 }, right = zip(x3, back).reduce(0) { $0 + $1.0 * $1.1 }
        XCTAssertEqual(left, right, accuracy: 1e-9 * max(1, abs(left)))
    }
}
