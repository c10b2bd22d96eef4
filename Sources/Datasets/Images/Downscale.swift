extension Image8 {
    /// The output size of `downscaled(by:)`: round(width / k) x round(height / k),
    /// rounding halves to even as Python's `round` does in 3DGS (its `-r k` and
    /// `images_k` folders), and at least 1.
    public static func downscaledSize(width: Int, height: Int, by k: Int) -> (width: Int, height: Int) {
        precondition(k >= 1, "downscale factor must be >= 1, not \(k)")
        func scaled(_ n: Int) -> Int {
            max(1, Int((Double(n) / Double(k)).rounded(.toNearestOrEven)))
        }
        return (scaled(width), scaled(height))
    }

    /// This image shrunk by `k` with an area (box) filter; all channels,
    /// alpha included, are averaged.
    ///
    /// The output is `downscaledSize(width:height:by:)`. Each output pixel
    /// covers width / outWidth x height / outHeight source pixels, and every
    /// source pixel is weighted by the area it shares with it; when k divides
    /// the size this is the plain average of each k x k block. The weights are
    /// exact integers (x measured in 1 / outWidth and y in 1 / outHeight of a
    /// source pixel), and the average is rounded to nearest, halves up.
    /// `k == 1` returns the image as it is.
    public func downscaled(by k: Int) -> Image8 {
        precondition(k >= 1, "downscale factor must be >= 1, not \(k)")
        if k == 1 || width == 0 || height == 0 { return self }
        let (outWidth, outHeight) = Image8.downscaledSize(width: width, height: height, by: k)
        let columns = AreaWeights(source: width, output: outWidth)
        let rows = AreaWeights(source: height, output: outHeight)
        let c = channels
        var out = [UInt8](repeating: 0, count: outWidth * outHeight * c)  // [outHeight * outWidth * c] u8
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                Image8.areaResample(src, width: width, channels: c, rows: rows, columns: columns, into: dst)
            }
        }
        return Image8(width: outWidth, height: outHeight, channels: c, pixels: out)
    }

    /// The kernel of `downscaled(by:)`: `src` is [height * width * channels] u8,
    /// `dst` [rows.count * columns.count * channels] u8.
    private static func areaResample(_ src: UnsafeBufferPointer<UInt8>, width: Int, channels c: Int,
                                     rows: AreaWeights, columns: AreaWeights,
                                     into dst: UnsafeMutableBufferPointer<UInt8>) {
        let rowLength = width * c
        let outWidth = columns.count
        // Every output value is sum(v * wx * wy) / (source width * source height).
        let total = Int64(columns.source) * Int64(rows.source)
        let half = total / 2
        let acc = UnsafeMutableBufferPointer<Int64>.allocate(capacity: rowLength)  // [width * c] i64
        defer { acc.deallocate() }
        columns.weights.withUnsafeBufferPointer { wx in
            for oy in 0 ..< rows.count {
                // Vertical pass: weighted sum of the source rows this output row covers.
                for i in 0 ..< rowLength { acc[i] = 0 }
                var sourceRow = rows.first[oy]
                for r in rows.offsets[oy] ..< rows.offsets[oy + 1] {
                    let wy = rows.weights[r]
                    let base = sourceRow * rowLength
                    for i in 0 ..< rowLength { acc[i] &+= Int64(src[base + i]) &* wy }
                    sourceRow += 1
                }
                // Horizontal pass.
                let outBase = oy * outWidth * c
                for ox in 0 ..< outWidth {
                    let firstColumn = columns.first[ox]
                    let from = columns.offsets[ox], to = columns.offsets[ox + 1]
                    for ch in 0 ..< c {
                        var sum: Int64 = 0
                        var index = firstColumn * c + ch
                        for w in from ..< to {
                            sum &+= acc[index] &* wx[w]
                            index += c
                        }
                        dst[outBase + ox * c + ch] = UInt8(clamping: (sum + half) / total)
                    }
                }
            }
        }
    }
}

/// The exact area weights of a 1-D area resampling from `source` to `output`
/// samples. On a grid where a source sample is `output` units wide and an
/// output sample `source` units wide, output i covers [i * source, (i + 1) * source)
/// and its weight on source j is the length it shares with [j * output, (j + 1) * output).
/// The weights of one output sample sum to `source`.
struct AreaWeights {
    /// The number of source and of output samples.
    let source: Int
    let count: Int
    /// [output] first source index of each output sample.
    let first: [Int]
    /// [output + 1] where each output sample's weights start in `weights`.
    let offsets: [Int]
    /// [offsets[output]] the weights, output sample after output sample.
    let weights: [Int64]

    init(source: Int, output: Int) {
        precondition(source > 0 && output > 0)
        var first: [Int] = [], offsets: [Int] = [0], weights: [Int64] = []
        first.reserveCapacity(output)
        offsets.reserveCapacity(output + 1)
        for i in 0 ..< output {
            let start = i * source, end = (i + 1) * source
            let j0 = start / output
            let j1 = (end - 1) / output  // last source sample touched
            for j in j0 ... j1 {
                weights.append(Int64(min(end, (j + 1) * output) - max(start, j * output)))
            }
            first.append(j0)
            offsets.append(weights.count)
        }
        self.source = source
        self.count = output
        self.first = first
        self.offsets = offsets
        self.weights = weights
    }
}
