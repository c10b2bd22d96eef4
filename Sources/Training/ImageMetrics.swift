/// Evaluation metrics computed on the CPU from downloaded renders.
public enum ImageMetrics {
    /// PSNR in dB of `rendered` (f32, clamped to [0, 1]) against 8-bit
    /// `target` of the same layout (docs/conventions.md: per image, renders clamped).
    public static func psnr(rendered: [Float], target: [UInt8]) -> Double {
        precondition(rendered.count == target.count, "PSNR of arrays of different sizes")
        var squared = 0.0
        for i in rendered.indices {
            let d = Double(min(1, max(0, rendered[i]))) - Double(target[i]) / 255
            squared += d * d
        }
        let mse = squared / Double(max(rendered.count, 1))
        return 10 * log10(1 / max(mse, 1e-12))
    }
}

import Foundation
