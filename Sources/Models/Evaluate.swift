import Compute
import Datasets
import Foundation
import Splatting
import Training

/// Test-set metrics: PSNR (renders clamped to [0, 1]) and SSIM (GPU, 11x11
/// Gaussian window), means over images. 4D models render each frame at its
/// own time.
public enum Evaluate {
    public static func metrics(rasterizer: GaussianRasterizer, frames: [LoadedFrame], background: SIMD3<Float>) throws
        -> (psnr: Double, ssim: Double, perImage: [(name: String, psnr: Double, ssim: Double)]) {
        try metrics(device: rasterizer.device, frames: frames, background: background) { f in
            try rasterizer.render(camera: RasterCamera(intrinsics: f.intrinsics, pose: f.frame.pose),
                                  settings: RasterSettings(background: background, time: Float(f.frame.time ?? 0))).color
        }
    }

    /// The same for any engine: `render` gives a frame's [H, W, 3] f32 colours over `background`.
    public static func metrics(device: ComputeDevice, frames: [LoadedFrame], background: SIMD3<Float>, render: (LoadedFrame) throws -> [Float]) throws
        -> (psnr: Double, ssim: Double, perImage: [(name: String, psnr: Double, ssim: Double)]) {
        let loss = try ImageLoss(device: device)
        var results: [(String, Double, Double)] = []
        for f in frames {
            let image = (width: f.image.width, height: f.image.height, color: try render(f))
            let bg = SIMD3<Double>(Double(background.x), Double(background.y), Double(background.z))
            let target = GaussianTrainer.composite(f.image, over: bg)
            let psnr = ImageMetrics.psnr(rendered: image.color, target: target.pixels)
            // SSIM on the GPU through the loss's SSIM map.
            var packed = [UInt32](repeating: 0, count: image.width * image.height)
            for p in packed.indices {
                packed[p] = UInt32(target.pixels[3 * p]) | UInt32(target.pixels[3 * p + 1]) << 8 | UInt32(target.pixels[3 * p + 2]) << 16
            }
            var clamped = [Float](repeating: 1, count: image.width * image.height * 4)
            for p in 0..<(image.width * image.height) {
                for c in 0..<3 { clamped[4 * p + c] = min(1, max(0, image.color[3 * p + c])) }
            }
            let r = try GPUBuffer(device: device, clamped), t = try GPUBuffer(device: device, packed)
            let g = try GPUBuffer(device: device, length: image.width * image.height * 12)
            let stream = try CommandStream(device: device)
            try loss.record(stream, rendered: r, target: t, gradient: g, width: image.width, height: image.height)
            try stream.run()
            results.append((f.frame.name, psnr, Double(try loss.values().ssim)))
        }
        let n = Double(max(results.count, 1))
        return (results.map(\.1).reduce(0, +) / n, results.map(\.2).reduce(0, +) / n, results)
    }

    /// PSNR over the pixels whose mask is above half (NeuS's masked PSNR on
    /// DTU): `rendered` [H, W, 3] f32 (clamped to [0, 1]) against the image's
    /// RGB; nil when no pixel is inside the mask.
    public static func maskedPSNR(rendered: [Float], image: Image8, mask: [UInt8]) -> Double? {
        let rgb = image.rgb()
        var sum = 0.0, count = 0
        for p in 0..<(rgb.width * rgb.height) where mask[p] > 127 {
            for c in 0..<3 {
                let e = Double(min(1, max(0, rendered[3 * p + c]))) - Double(rgb.pixels[3 * p + c]) / 255
                sum += e * e
            }
            count += 3
        }
        guard count > 0 else { return nil }
        return -10 * log10(max(sum / Double(count), 1e-20))
    }
}
