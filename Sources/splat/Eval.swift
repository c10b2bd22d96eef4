import ArgumentParser
import Compute
import Datasets
import Foundation
import Models
import Splatting

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a model (Gaussians or NeRF) on a scene's held-out images (PSNR, SSIM).",
        discussion: """
        The split is the one training recorded in the model folder's
        cameras.json (by image name); without it, the scene's test split file,
        else every 8th image by name. PSNR is per image on renders clamped to
        [0, 1], SSIM uses an 11x11 Gaussian window (sigma 1.5) with zero
        padding; both are means over images (docs/conventions.md). Renders and
        targets use the model's background. Without SCENE, the scene the
        training run recorded in the model folder's config.json.
        """)

    @Argument(help: "A training output folder or a .ply / .splat / .nerf.")
    var model: String
    @Argument(help: "The scene folder or transforms.json (default: the scene the model folder's config.json names).")
    var scene: String?
    @Option(help: "Which images: test, train or all.")
    var split = "test"
    @OptionGroup var imageScale: ImageScaleOptions
    @Flag(help: "Print one JSON object on stdout.")
    var json = false
    @Option(help: "Also write each render as PNG into this folder.")
    var saveRenders: String?

    func validate() throws {
        try OptionCheck.choice("--split", split, ["test", "train", "all"])
    }

    func run() throws {
        try runReportingErrors {
            let input = try RenderModel.load(model)
            guard let scene = scene ?? RenderModel.recordedConfig(model)?["scene"] as? String else {
                throw DatasetError(model, "no scene given and no config.json naming one beside the model: give SCENE (splat eval MODEL SCENE)")
            }
            var loaded = try SceneLoader.load(scene, options: SceneOptions(eval: true))
            if let recorded = input.trainingCameras {
                let splits = Dictionary(recorded.map { ($0.name, $0.split) }, uniquingKeysWith: { a, _ in a })
                for i in loaded.frames.indices {
                    if let s = splits[loaded.frames[i].name] { loaded.frames[i].split = s }
                }
            }
            let chosen = loaded.frames.filter { split == "all" || $0.split.rawValue == split }
            if chosen.isEmpty { throw DatasetError(scene, "no \(split) images to evaluate") }
            if let saveRenders { try OutputFolder.prepare(saveRenders) }
            // Score at the resolution the model was trained at unless told otherwise.
            let recorded = (RenderModel.recordedConfig(model)?["downscale"] as? Int).flatMap { $0 >= 1 ? $0 : nil }
            let factor = imageScale.factor(or: recorded ?? 1)
            let (frames, _) = try SceneImages.load(chosen, root: loaded.root, downscale: factor)
            let device = try ComputeDevice.make()
            let renderer = try input.renderer(device: device)
            var index = 0
            var progress = RenderProgress(total: frames.count)
            // Scenes with masks (NeuS/IDR): also PSNR over the pixels inside each mask, as NeuS reports on DTU.
            var masked: [String: Double] = [:]
            let (psnr, ssim, perImage) = try Evaluate.metrics(device: device, frames: frames, background: input.settings.background) { f in
                var settings = input.settings
                settings.time = Float(f.frame.time ?? 0)  // 4D models: each view at its own time
                let image = try renderer.render(intrinsics: f.intrinsics, pose: f.frame.pose, settings: settings)
                if let mask = try SceneImages.mask(of: f.frame, downscale: factor),
                   let value = Evaluate.maskedPSNR(rendered: image.color, image: f.image, mask: mask) { masked[f.frame.name] = value }
                if let saveRenders {
                    try ImageIO.writePNG(RenderOutput.rgb(image), to: "\(saveRenders)/\(String(format: "%05d", index)).png")
                }
                index += 1
                progress.update(done: index)
                return image.color
            }
            progress.abandon()
            let maskedMean = masked.isEmpty ? nil : masked.values.reduce(0, +) / Double(masked.count)
            if json {
                var object: [String: Any] = ["psnr": psnr, "ssim": ssim, "images": perImage.count, "downscale": factor,
                                             "per_image": perImage.map { r -> [String: Any] in
                                                 var o: [String: Any] = ["name": r.name, "psnr": r.psnr, "ssim": r.ssim]
                                                 if let m = masked[r.name] { o["masked_psnr"] = m }
                                                 return o
                                             }]
                if let maskedMean { object["masked_psnr"] = maskedMean }
                try printJSON(object)
            } else {
                for r in perImage {
                    print("\(r.name)  PSNR \(String(format: "%.2f", r.psnr)) dB  SSIM \(String(format: "%.4f", r.ssim))"
                          + (masked[r.name].map { String(format: "  masked PSNR %.2f dB", $0) } ?? ""))
                }
                print(String(format: "mean over %d images at downscale %d: PSNR %.2f dB, SSIM %.4f", perImage.count, factor, psnr, ssim)
                      + (maskedMean.map { String(format: ", masked PSNR %.2f dB (pixels with mask > 0.5)", $0) } ?? ""))
            }
        }
    }
}
