import Foundation

/// A human-readable description of a Gaussian model file, for `splat info PATH`.
public enum ModelInfo {
    /// For a .ply (3DGS layout) or .splat: the format, Gaussian count, SH
    /// degree, bounds of the positions and file size, one per line:
    ///
    ///     scene.ply
    ///       format     PLY, 3DGS layout
    ///       Gaussians  1,234,567
    ///       SH degree  3
    ///       bounds     min (-1.250, -0.500, -2.000)  max (1.250, 0.750, 2.000)
    ///       file size  292.2 MiB (306,395,432 bytes)
    ///
    /// Reads the whole file (warnings about extra properties go to
    /// `Diagnostics`); bad input is a `DatasetError`.
    public static func describe(path: String) throws -> String {
        let format = try GaussianModelFormat(path: path)
        let model = try GaussianModelFile.read(path: path)
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        let kind: String
        let degree: String
        switch format {
        case .ply:
            kind = model.isImage2D ? "PLY, 2D image Gaussians (image2d: x, y, chol_0..2, red, green, blue, opacity)"
                : model.hasTime ? "PLY, 4D Gaussians (3DGS layout + t, scale_t, rot_r_0..3)" : "PLY, 3DGS layout"
            degree = "\(model.shDegree)"
        case .splat:
            kind = ".splat (web viewer layout)"
            degree = "0 (a .splat holds base colour only)"
        case .spz:
            kind = ".spz (Niantic, gzip, quantised)"
            degree = "\(model.shDegree)"
        }
        var bounds = "none (no Gaussians)"
        if let b = model.bounds {
            bounds = "min \(vector(b.min))  max \(vector(b.max))"
        } else if model.isImage2D, model.count > 0 {
            let xs = stride(from: 0, to: model.means2D.count, by: 2).map { model.means2D[$0] }
            let ys = stride(from: 1, to: model.means2D.count, by: 2).map { model.means2D[$0] }
            bounds = String(format: "x %.1f to %.1f, y %.1f to %.1f (pixels)", xs.min()!, xs.max()!, ys.min()!, ys.max()!)
        }
        var time = ""
        if model.hasTime, let lo = model.timeMeans.min(), let hi = model.timeMeans.max() {
            time = "\n  time means \(String(format: "%.3f", lo)) to \(String(format: "%.3f", hi))"
        }
        return """
        \(path)
          format     \(kind)
          Gaussians  \(grouped(model.count))
          SH degree  \(degree)
          bounds     \(bounds)\(time)
          file size  \(size(bytes))
        """
    }

    /// "1,234,567".
    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (value < 0 ? "-" : "") + out
    }

    /// "292.2 MiB (306,395,432 bytes)".
    static func size(_ bytes: Int) -> String {
        let units = ["KiB", "MiB", "GiB", "TiB"]
        guard bytes >= 1024 else { return "\(bytes) bytes" }
        var value = Double(bytes) / 1024
        var unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        return "\(String(format: "%.1f", value)) \(units[unit]) (\(grouped(bytes)) bytes)"
    }

    private static func vector(_ v: SIMD3<Float>) -> String {
        "(\(String(format: "%.3f", Double(v.x))), \(String(format: "%.3f", Double(v.y))), \(String(format: "%.3f", Double(v.z))))"
    }
}
