import Foundation

/// The super-resolution literature's metrics (as BasicSR and MATLAB compute
/// them for Set5, Set14 and the like): PSNR and SSIM on the luma channel
/// of ITU-R BT.601, Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 for
/// R, G, B in 0...255 (kept in floating point, range 16...235), with
/// `border` pixels cropped on every side (the scale factor, by convention).
/// A grey image is taken as R = G = B.
public enum SuperResolutionMetrics {
    /// The BT.601 luma of every pixel ([H, W] f64, 16...235); alpha is ignored.
    public static func luma(_ image: Image8) -> [Double] {
        let c = image.channels, n = image.width * image.height
        return (0..<n).map { p in
            let r = Double(image.pixels[p * c]), g = Double(image.pixels[p * c + (c >= 3 ? 1 : 0)])
            let b = Double(image.pixels[p * c + (c >= 3 ? 2 : 0)])
            return 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
        }
    }

    /// `values` [height, width] without `border` pixels on each side.
    static func crop(_ values: [Double], width: Int, height: Int, border: Int) -> (values: [Double], width: Int, height: Int) {
        let w = width - 2 * border, h = height - 2 * border
        guard border > 0, w > 0, h > 0 else { return (values, width, height) }
        var out: [Double] = []
        out.reserveCapacity(w * h)
        for y in border..<(height - border) { out += values[(y * width + border)..<(y * width + border + w)] }
        return (out, w, h)
    }

    /// Y-PSNR in dB (peak 255) of `test` against `reference` (same size), `border` cropped.
    public static func psnr(_ test: Image8, _ reference: Image8, border: Int) -> Double {
        let a = crop(luma(test), width: test.width, height: test.height, border: border).values
        let b = crop(luma(reference), width: reference.width, height: reference.height, border: border).values
        let mse = zip(a, b).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(max(1, a.count))
        return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
    }

    /// Y-SSIM (Wang et al. 2004, as BasicSR's `calculate_ssim` and MATLAB's
    /// reference code compute it): an 11x11 Gaussian window of sigma 1.5 over
    /// the valid region only (no padding), C1 = (0.01 x 255)^2, C2 = (0.03 x
    /// 255)^2, the mean of the SSIM map; `border` cropped first.
    public static func ssim(_ test: Image8, _ reference: Image8, border: Int) -> Double {
        let (a, w, h) = crop(luma(test), width: test.width, height: test.height, border: border)
        let b = crop(luma(reference), width: reference.width, height: reference.height, border: border).values
        return ssim(a, b, width: w, height: h)
    }

    /// SSIM of RGB images: the mean of each channel's SSIM (values 0...255,
    /// the same window and constants, no border).
    public static func ssimRGB(_ test: Image8, _ reference: Image8) -> Double {
        func plane(_ image: Image8, _ k: Int) -> [Double] {
            let c = image.channels
            return (0..<(image.width * image.height)).map { Double(image.pixels[$0 * c + (c >= 3 ? k : 0)]) }
        }
        return (0..<3).map { ssim(plane(test, $0), plane(reference, $0), width: test.width, height: test.height) }.reduce(0, +) / 3
    }

    /// SSIM of two planes [height, width] (values 0...255) over the valid region.
    static func ssim(_ a: [Double], _ b: [Double], width w: Int, height h: Int) -> Double {
        let radius = 5
        guard w > 2 * radius, h > 2 * radius else { return .nan }
        var g = (-radius...radius).map { exp(-Double($0 * $0) / (2 * 1.5 * 1.5)) }
        let total = g.reduce(0, +)
        g = g.map { $0 / total }
        // Separable filtering of a, b, a^2, b^2 and ab over the valid region.
        func filter(_ f: (Int) -> Double) -> [Double] {
            let ow = w - 2 * radius, oh = h - 2 * radius
            var rows = [Double](repeating: 0, count: ow * h)
            for y in 0..<h { for x in 0..<ow {
                var s = 0.0
                for k in 0...(2 * radius) { s += g[k] * f(y * w + x + k) }
                rows[y * ow + x] = s
            } }
            var out = [Double](repeating: 0, count: ow * oh)
            for y in 0..<oh { for x in 0..<ow {
                var s = 0.0
                for k in 0...(2 * radius) { s += g[k] * rows[(y + k) * ow + x] }
                out[y * ow + x] = s
            } }
            return out
        }
        let mu1 = filter { a[$0] }, mu2 = filter { b[$0] }
        let s11 = filter { a[$0] * a[$0] }, s22 = filter { b[$0] * b[$0] }, s12 = filter { a[$0] * b[$0] }
        let c1 = (0.01 * 255.0) * (0.01 * 255.0), c2 = (0.03 * 255.0) * (0.03 * 255.0)
        var sum = 0.0
        for i in mu1.indices {
            let m1 = mu1[i], m2 = mu2[i]
            let v1 = s11[i] - m1 * m1, v2 = s22[i] - m2 * m2, v12 = s12[i] - m1 * m2
            sum += ((2 * m1 * m2 + c1) * (2 * v12 + c2)) / ((m1 * m1 + m2 * m2 + c1) * (v1 + v2 + c2))
        }
        return sum / Double(mu1.count)
    }
}
