import ArgumentParser
import Compute
import Datasets
import Foundation

struct EvalSR: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-sr",
        abstract: "Score super-resolution of a set of low-resolution images against their high-resolution originals.",
        discussion: """
        HR_DIR holds the originals (<name>.png), LR_DIR their downscaled
        versions, named <name>x<S>.png (the layout of the usual Set5 / Set14
        folders, LR_bicubic/X<S>/) or <name>.png. Each LR image is upscaled
        by --scale to its original's size and scored on the luma of ITU-R
        BT.601 (Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255, grey
        images as R = G = B), with --scale pixels of border cropped: PSNR
        (peak 255) and SSIM (11x11 Gaussian window, sigma 1.5, over the
        valid region, as BasicSR and the MATLAB reference code compute it).

        --method splat upscales as `splat upscale` does (2D Gaussians fitted
        through the bicubic degradation; --gaussians, --iterations,
        --max-seconds per image); --method bicubic upscales with Pillow's bicubic (a = -0.5, separable,
        8-bit fixed point between the passes), so figures match those made
        with Pillow. Prints each image and the mean; --json prints one JSON
        object. An original whose size is not --scale times its LR image's
        (to the pixel) is an error naming both.
        """)

    @Option(help: ArgumentHelp("The high-resolution originals.", valueName: "HR_DIR"))
    var hr: String
    @Option(help: ArgumentHelp("The low-resolution inputs (<name>x<S>.png or <name>.png).", valueName: "LR_DIR"))
    var lr: String
    @Option(help: "The upscaling factor S (a whole number >= 2, as the sets use).")
    var scale: Int
    @Option(help: "How to upscale: splat (2D Gaussians, as splat upscale) or bicubic (Pillow's).")
    var method = "splat"
    @OptionGroup(title: "--method splat") var fitting: UpscaleOptions
    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    func validate() throws {
        try OptionCheck.whole("--scale", scale, 2...64)
        try OptionCheck.choice("--method", method, ["splat", "bicubic"])
    }

    /// The PNG and JPEG files of a folder, by name.
    static func images(in folder: String) throws -> [String] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw DatasetError(folder, "no such folder")
        }
        return try FileManager.default.contentsOfDirectory(atPath: folder)
            .filter { ["png", "jpg", "jpeg"].contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
    }

    func run() throws {
        try runReportingErrors {
            let originals = try Self.images(in: hr)
            guard !originals.isEmpty else { throw DatasetError(hr, "no PNG or JPEG images") }
            let inputs = Set(try Self.images(in: lr))
            var rows: [[String: Any]] = []
            let device = method == "splat" ? try ComputeDevice.make() : nil
            for name in originals {
                let stem = (name as NSString).deletingPathExtension
                guard let input = ["\(stem)x\(scale).png", "\(stem).png", "\(stem)x\(scale).jpg", "\(stem).jpg"].first(where: inputs.contains) else {
                    throw DatasetError(lr, "no low-resolution image for \(name) (expected \(stem)x\(scale).png or \(stem).png)")
                }
                let hrPath = (hr as NSString).appendingPathComponent(name), lrPath = (lr as NSString).appendingPathComponent(input)
                let original = try ImageIO.read(path: hrPath), small = try ImageIO.read(path: lrPath)
                guard small.width * scale == original.width, small.height * scale == original.height else {
                    throw DatasetError(lrPath, "\(small.width)x\(small.height) at --scale \(scale) gives \(small.width * scale)x\(small.height * scale); \(hrPath) is \(original.width)x\(original.height)")
                }
                let start = Date()
                let upscaled = try device.map {
                    try Upscale.upscale(small, scale: Double(scale), gaussians: fitting.gaussians, iterations: fitting.iterations, maxSeconds: fitting.maxSeconds,
                                        seed: 0, device: $0).image
                } ?? BicubicResize.resize(small, width: original.width, height: original.height)
                let seconds = Date().timeIntervalSince(start)
                let psnr = SuperResolutionMetrics.psnr(upscaled, original, border: scale)
                let ssim = SuperResolutionMetrics.ssim(upscaled, original, border: scale)
                rows.append(["image": stem, "psnr": psnr, "ssim": ssim, "seconds": seconds,
                             "width": original.width, "height": original.height])
                if !json { print(String(format: "%@  %.2f dB  SSIM %.4f  %.2f s", stem, psnr, ssim, seconds)) }
            }
            let meanPSNR = rows.map { $0["psnr"] as! Double }.reduce(0, +) / Double(rows.count)
            let meanSSIM = rows.map { $0["ssim"] as! Double }.reduce(0, +) / Double(rows.count)
            if json {
                try printJSON(["method": method, "scale": scale, "hr": hr, "lr": lr, "metric": "Y (BT.601), border = scale",
                               "images": rows, "psnr": meanPSNR, "ssim": meanSSIM])
            } else {
                print(String(format: "mean  %.2f dB  SSIM %.4f  (%d images, x%d, %@)", meanPSNR, meanSSIM, rows.count, scale, method))
            }
        }
    }
}
