import Foundation

/// Bicubic resampling as Pillow's `Image.resize(size, Image.BICUBIC)` does
/// it, so that images splat makes and the shared super-resolution sets
/// (whose LR images Pillow made) are compared alike:
///
/// - the cubic convolution kernel with a = -0.5 (Keys 1981), support 2;
/// - when shrinking by s > 1 the kernel is stretched by s (antialiasing:
///   support 2 s, weights k(x / s));
/// - output pixel x samples around source coordinate (x + 0.5) in / out,
///   over source pixels whose centres lie within the support, clipped to
///   the image, with the weights normalised to sum to 1;
/// - separable: the horizontal pass first, then the vertical one, each in
///   fixed point (22 fractional bits, rounded to nearest) and clamped to
///   0...255 in between, as Pillow's 8-bit path is.
public enum BicubicResize {
    /// Keys' cubic kernel with a = -0.5 (Pillow's `bicubic_filter`).
    public static func kernel(_ x: Double) -> Double {
        let a = -0.5
        let x = abs(x)
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }

    /// Fractional bits of the fixed-point weights (Pillow's PRECISION_BITS).
    static let precisionBits = 22

    /// The weights of one axis: for each output pixel, the first source pixel
    /// and the normalised weights of the source pixels from there.
    public struct AxisWeights: Equatable {
        public var first: [Int]
        public var weights: [[Double]]
    }

    /// Pillow's `precompute_coeffs` for resizing `inSize` pixels to `outSize`.
    public static func weights(inSize: Int, outSize: Int) -> AxisWeights {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = 2 * filterScale
        var first: [Int] = [], weights: [[Double]] = []
        for x in 0..<outSize {
            let center = (Double(x) + 0.5) * scale
            let lo = max(0, Int(center - support + 0.5))
            let hi = min(inSize, Int(center + support + 0.5))
            var w = (lo..<max(lo, hi)).map { kernel((Double($0) - center + 0.5) / filterScale) }
            let sum = w.reduce(0, +)
            if sum != 0 { w = w.map { $0 / sum } }
            first.append(lo)
            weights.append(w)
        }
        return AxisWeights(first: first, weights: weights)
    }

    /// Fixed-point weights, rounded away from zero at the half (Pillow's `normalize_coeffs_8bpc`).
    static func fixedPoint(_ w: AxisWeights) -> [[Int64]] {
        let one = Double(1 << precisionBits)
        return w.weights.map { row in row.map { $0 < 0 ? Int64(-0.5 + $0 * one) : Int64(0.5 + $0 * one) } }
    }

    static func clip8(_ v: Int64) -> UInt8 {
        let shifted = v >> Int64(precisionBits)
        return UInt8(max(0, min(255, shifted)))
    }

    /// `image` resized to `width` x `height`, every channel on its own (as
    /// Pillow does for RGB and L images; for RGBA Pillow resizes premultiplied
    /// colour, which this does not).
    public static func resize(_ image: Image8, width: Int, height: Int) -> Image8 {
        precondition(width > 0 && height > 0, "BicubicResize: empty output size \(width)x\(height)")
        if width == image.width && height == image.height { return image }
        let c = image.channels
        let half = Int64(1) << Int64(precisionBits - 1)
        var current = image
        if width != image.width {
            let w = weights(inSize: image.width, outSize: width)
            let k = fixedPoint(w)
            var out = [UInt8](repeating: 0, count: width * image.height * c)
            for y in 0..<image.height {
                let row = y * image.width * c
                for x in 0..<width {
                    let first = w.first[x]
                    for ch in 0..<c {
                        var sum = half
                        for (j, weight) in k[x].enumerated() { sum += Int64(image.pixels[row + (first + j) * c + ch]) * weight }
                        out[(y * width + x) * c + ch] = clip8(sum)
                    }
                }
            }
            current = Image8(width: width, height: image.height, channels: c, pixels: out)
        }
        if height != current.height {
            let w = weights(inSize: current.height, outSize: height)
            let k = fixedPoint(w)
            var out = [UInt8](repeating: 0, count: width * height * c)
            for y in 0..<height {
                let first = w.first[y]
                for x in 0..<width {
                    for ch in 0..<c {
                        var sum = half
                        for (j, weight) in k[y].enumerated() { sum += Int64(current.pixels[((first + j) * width + x) * c + ch]) * weight }
                        out[(y * width + x) * c + ch] = clip8(sum)
                    }
                }
            }
            current = Image8(width: width, height: height, channels: c, pixels: out)
        }
        return current
    }
}
