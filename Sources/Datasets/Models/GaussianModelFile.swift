import Foundation

/// The Gaussian model files splat reads and writes, told apart by extension.
public enum GaussianModelFormat: String, Sendable, CaseIterable {
    /// `.ply` in the original 3DGS layout (`GaussianPLY`).
    case ply
    /// `.splat`, the web viewers' 32 bytes per Gaussian (`SplatFile`).
    case splat
    /// `.spz`, Niantic's compressed format, versions 2 and 3 read, 3 written (`SPZFile`).
    case spz

    /// The format of `path` by its extension (case-insensitive); any other
    /// extension is a `DatasetError` naming the file.
    public init(path: String) throws {
        let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
        guard let format = GaussianModelFormat(rawValue: ext) else {
            throw DatasetError(path, ext.isEmpty
                ? "no file extension: a Gaussian model file is .ply, .splat or .spz"
                : "unknown extension '.\(ext)': a Gaussian model file is .ply, .splat or .spz")
        }
        self = format
    }
}

/// Reads and writes a Gaussian model in the format its extension names.
public enum GaussianModelFile {
    /// Reads a .ply (3DGS layout), a .splat (degree 0) or an .spz.
    public static func read(path: String) throws -> GaussianModel {
        switch try GaussianModelFormat(path: path) {
        case .ply: return try GaussianPLY.read(path: path)
        case .splat: return try SplatFile.read(path: path)
        case .spz: return try SPZFile.read(path: path)
        }
    }

    /// Writes a .ply (3DGS layout), a .splat (degree-0 colour only) or an
    /// .spz (version 3), atomically.
    public static func write(_ model: GaussianModel, to path: String) throws {
        switch try GaussianModelFormat(path: path) {
        case .ply: try GaussianPLY.write(model, to: path)
        case .splat: try SplatFile.write(model, to: path)
        case .spz: try SPZFile.write(model, to: path)
        }
    }

    /// The file's bytes (memory-mapped), or a `DatasetError` naming it.
    static func readFile(_ path: String) throws -> Data {
        try RegularFile.mapped(path, kind: "model")
    }
}
