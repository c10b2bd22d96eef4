import Foundation

/// Processed (undistorted, downscaled) images, stored once and reused
/// (docs/conventions.md, "Image cache"): in `<scene>/.splat-cache/` when the scene
/// folder is writable, else `$XDG_CACHE_HOME/splat/` (or `~/.cache/splat/`).
/// Entries are keyed by source path, size, modification time and operation,
/// hold raw 8-bit pixels (fast to read back), and are written atomically.
public struct ImageCache {
    public let folder: String

    /// The cache for a scene folder.
    public init(sceneRoot: String) {
        let root = (sceneRoot as NSString).standardizingPath
        let local = (root as NSString).appendingPathComponent(".splat-cache")
        if Self.writable(scene: root, cache: local) {
            folder = local
        } else {
            let env = ProcessInfo.processInfo.environment
            let base = env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? ((env["HOME"] ?? NSTemporaryDirectory()) + "/.cache")
            folder = "\(base)/splat/images"
        }
    }

    public init(folder: String) { self.folder = folder }

    /// Whether the cache may live in the scene folder. Permission bits are
    /// honoured explicitly: root may write anywhere, but a scene folder without
    /// write bits (like the shared read-only scenes) is left untouched.
    static func writable(scene: String, cache folder: String) -> Bool {
        let fm = FileManager.default
        guard let mode = (try? fm.attributesOfItem(atPath: scene))?[.posixPermissions] as? NSNumber,
              mode.intValue & 0o222 != 0, fm.isWritableFile(atPath: scene) else { return false }
        if !fm.fileExists(atPath: folder) {
            guard (try? fm.createDirectory(atPath: folder, withIntermediateDirectories: false)) != nil else { return false }
        }
        return fm.isWritableFile(atPath: folder)
    }

    /// The entry name for `operation` applied to the file at `source`.
    public func key(source: String, operation: String) -> String? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: source),
              let size = attributes[.size] as? NSNumber,
              let modified = attributes[.modificationDate] as? Date else { return nil }
        let text = "\((source as NSString).standardizingPath)|\(size)|\(modified.timeIntervalSince1970)|\(operation)"
        // FNV-1a, 64 bit: a stable name; collisions are caught by the header check.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let stem = ((source as NSString).lastPathComponent as NSString).deletingPathExtension
        return "\(stem)-\(String(hash, radix: 16)).img"
    }

    static let magic: [UInt8] = Array("SPLATIM1".utf8)

    public func load(_ key: String) -> Image8? {
        // Only a regular file: anything else at that name is no cache entry (and a FIFO would block).
        guard let data = try? RegularFile.read("\(folder)/\(key)"), data.count >= 20 else { return nil }
        let bytes = [UInt8](data)
        guard Array(bytes[0..<8]) == Self.magic else { return nil }
        func u32(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24 }
        let (w, h, c) = (u32(8), u32(12), u32(16))
        // The sizes come from a file: a corrupt entry must not overflow the product.
        guard [1, 3, 4].contains(c), w > 0, h > 0, w <= ImageIO.maximumPixels, h <= ImageIO.maximumPixels,
              w * h <= ImageIO.maximumPixels, bytes.count == 20 + w * h * c else { return nil }
        return Image8(width: w, height: h, channels: c, pixels: Array(bytes[20...]))
    }

    public func store(_ image: Image8, key: String) {
        var header = Self.magic
        for v in [image.width, image.height, image.channels] {
            header += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24 & 0xff)]
        }
        var data = Data(header)
        data.append(contentsOf: image.pixels)
        // A cache that cannot be written only costs time next run.
        do { try AtomicFile.write(data, to: "\(folder)/\(key)") } catch {
            Diagnostics.warn("image cache: \(error)")
        }
    }
}
