import ArgumentParser
import Compute
import Datasets
import Foundation

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a Gaussian model between .ply (3DGS layout) and .splat.",
        discussion: """
        The formats follow the files' extensions: .ply is the original 3DGS
        layout (any SH degree), .splat the web viewers' 32 bytes per Gaussian
        (base colour only, sorted by size x opacity, largest first).
        `--sh-degree D` drops the SH bands above D (ply -> ply included).
        A .splat read back into a .ply has SH degree 0, its colours, opacities
        and rotations quantised to 8 bits. The output is written to a
        temporary name and renamed when complete.
        """)

    @Argument(help: "The model to read: a .ply (3DGS layout) or a .splat.")
    var input: String

    @Argument(help: "The file to write: .ply or .splat.")
    var output: String

    @Option(name: .customLong("sh-degree"), help: "Keep SH bands up to this degree (0-3), dropping the higher ones.")
    var shDegree: Int?

    func validate() throws {
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
            var model = try GaussianModelFile.read(path: input)
            if let d = shDegree {
                guard d <= model.shDegree else {
                    throw DatasetError(input, "has SH degree \(model.shDegree); --sh-degree \(d) can only drop bands")
                }
                model = model.droppingSH(toDegree: d)
            }
            if format == .splat, model.shDegree > 0 { model = model.droppingSH(toDegree: 0) }
            try GaussianModelFile.write(model, to: output)
            let bytes = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? NSNumber)?.intValue ?? 0
            log("splat convert: wrote \(output): \(model.count) Gaussians, SH degree \(model.shDegree), \(formatBytes(bytes))")
        }
    }
}
