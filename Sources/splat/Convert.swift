import ArgumentParser
import Compute
import Datasets
import Foundation
import Models
import Splatting

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a Gaussian model between .ply (3DGS layout), .splat and .spz.",
        discussion: """
        The formats follow the files' extensions: .ply is the original 3DGS
        layout (any SH degree), .splat the web viewers' 32 bytes per Gaussian
        (base colour only, sorted by size x opacity, largest first), .spz
        Niantic's gzipped, quantised format (versions 2 and 3 read, 3
        written; SH kept; about 10x smaller than a .ply).
        `--sh-degree D` drops the SH bands above D (ply -> ply included).
        A .splat read back into a .ply has SH degree 0, its colours, opacities
        and rotations quantised to 8 bits; an .spz read back keeps its SH
        degree, quantised as the format stores it. The output is written to a
        temporary name and renamed when complete.

        4D models (kind gaussians4d; a .ply with t, scale_t, rot_r_*):
        --time T writes the 3D Gaussians the model shows at time T (each
        sliced Gaussian with its covariance's axes as rotation and scales
        and its time weight in the opacity; Gaussians invisible at T are
        left out) as a standard 3DGS .ply or .splat, which other viewers
        open. Without --time a 4D model converts to a 4D .ply only.
        """)

    @Argument(help: "The model to read: a .ply (3DGS layout, or 4D with time properties), a .splat, an .spz, or a training output folder.")
    var input: String

    @Argument(help: "The file to write: .ply, .splat or .spz.")
    var output: String

    @Option(name: .customLong("sh-degree"), help: "Keep SH bands up to this degree (0-3), dropping the higher ones.")
    var shDegree: Int?

    @Option(help: "4D models: write the 3D slice at this time, in [0, 1].")
    var time: Double?

    func validate() throws {
        try OptionCheck.number("--time", time, 0...1)
        if let d = shDegree, !(0...GaussianModel.maxSHDegree).contains(d) {
            throw ValidationError("--sh-degree must be 0, 1, 2 or 3 (got \(d))")
        }
        if let d = shDegree, d > 0, (try? GaussianModelFormat(path: output)) == .splat {
            throw ValidationError("--sh-degree \(d): a .splat holds SH degree 0 only")
        }
    }

    func run() throws {
        try runReportingErrors {
            let format = try GaussianModelFormat(path: output)
            var model = try RenderModel.load(input).gaussians(for: "splat convert")
            if let time {
                guard model.hasTime else {
                    throw DatasetError(input, "a 3D Gaussian model has no time; --time is for 4D Gaussian models (gaussians4d)")
                }
                let total = model.count
                model = GaussianSlice.sliceModel(model, time: time)
                log("splat convert: the slice at time \(time) keeps \(model.count) of \(total) Gaussians (the others are not visible then)")
            } else if model.hasTime && format != .ply {
                throw DatasetError(output, "a .\(format.rawValue) holds 3D Gaussians; \(input) is a 4D model: give --time T to write its slice at T")
            }
            if let d = shDegree {
                guard d <= model.shDegree else {
                    throw DatasetError(input, "has SH degree \(model.shDegree); --sh-degree \(d) can only drop bands")
                }
                model = model.droppingSH(toDegree: d)
            }
            if format == .splat, model.shDegree > 0 { model = model.droppingSH(toDegree: 0) }
            try GaussianModelFile.write(model, to: output)
            let bytes = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? NSNumber)?.intValue ?? 0
            log("splat convert: wrote \(output): \(model.count) \(model.hasTime ? "4D " : "")Gaussians, SH degree \(model.shDegree), \(formatBytes(bytes))")
        }
    }
}
