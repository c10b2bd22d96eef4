import Foundation

/// Reading and writing images: PNG (libpng) and JPEG (libjpeg-turbo).
///
/// The format is told by the file's first bytes, never by its extension.
/// Every failure is a `DatasetError` naming the file; no input crashes.
public enum ImageIO {
    /// The formats `read(path:)` understands.
    public enum Format: String, Sendable {
        case png, jpeg
    }

    /// The most pixels an image may have (268 million): a larger header is
    /// taken as a corrupt file rather than allocated.
    static let maximumPixels = 1 << 28

    /// Reads a PNG or JPEG file as 8-bit (see docs/conventions.md, "Images and colour").
    ///
    /// - PNG: grey gives 1 channel; RGB 3; RGBA, grey + alpha and grey or
    ///   palette images with transparency give RGBA (4); palettes are
    ///   expanded. 16-bit values v become round(v * 255 / 65535). Colour
    ///   chunks (gAMA, cHRM, sRGB, iCCP) are ignored: the stored values are
    ///   returned as they are, never linearised or re-encoded.
    /// - JPEG: RGB (3 channels), grey JPEGs 1 channel; CMYK is refused.
    ///   An EXIF orientation other than 1 is ignored with a warning, as COLMAP
    ///   does. A truncated JPEG is an error, not a partly grey image.
    ///
    /// Only regular files are opened: a folder, device or FIFO is refused
    /// (a FIFO would block the reader forever).
    public static func read(path: String) throws -> Image8 {
        try decode(readFile(path), path: path)
    }

    /// Decodes the bytes of a whole PNG or JPEG file, as `read(path:)` does;
    /// `path` names it in errors and warnings. Touches no file system (the
    /// fuzzing entry point of the image decoders).
    public static func decode(_ data: Data, path: String) throws -> Image8 {
        if data.isEmpty { throw DatasetError(path, "empty file, not an image") }
        switch detect(data) {
        case .png: return try decodePNG(data, path: path)
        case .jpeg: return try decodeJPEG(data, path: path)
        case nil: throw notAnImage(path, data)
        }
    }

    /// The size of a PNG or JPEG image, read from its header only (the PNG
    /// IHDR chunk; the JPEG frame header, found by skipping the segments
    /// before it) without reading or decoding the pixels. Only regular files
    /// are opened.
    public static func readSize(path: String) throws -> (width: Int, height: Int) {
        let file = try OpenFile(path)
        return try readSize(path: path, bytesAt: file.bytes(at:count:))
    }

    /// The size of the PNG or JPEG image whose file starts with `data`, from
    /// its header only, as `readSize(path:)` gives it; `path` names it in
    /// errors. Touches no file system (a fuzzing entry point).
    public static func readSize(data: Data, path: String) throws -> (width: Int, height: Int) {
        try readSize(path: path) { offset, count in
            guard offset >= 0, count > 0, offset < data.count else { return [] }
            let start = data.startIndex + offset
            return [UInt8](data[start ..< start + min(count, data.count - offset)])
        }
    }

    /// The header-only size reader over `bytesAt(offset, count)`, which gives
    /// up to `count` bytes from `offset` (fewer at the end).
    static func readSize(path: String, bytesAt: (Int, Int) -> [UInt8]) throws -> (width: Int, height: Int) {
        let head = bytesAt(0, 24)
        switch detect(head) {
        case .png:
            // Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4).
            guard head.count >= 24, Array(head[12 ..< 16]) == Array("IHDR".utf8) else {
                throw DatasetError(path, "invalid or truncated PNG: no IHDR header")
            }
            let width = Int(bigEndian32(head, 16)), height = Int(bigEndian32(head, 20))
            try checkSize(width, height, path: path, format: "PNG")
            return (width, height)
        case .jpeg:
            let size = try jpegFrameSize(path: path, bytesAt: bytesAt)
            try checkSize(size.width, size.height, path: path, format: "JPEG")
            return size
        case nil:
            throw notAnImage(path, head)
        }
    }

    /// Writes `image` as an 8-bit PNG (grey, RGB or RGBA as its channels,
    /// marked sRGB), atomically: encoded in memory, then written with
    /// `AtomicFile`. Compression favours speed (PNG_IMAGE_FLAG_FAST: about 4x
    /// faster than the default, files somewhat larger).
    /// Writes 16-bit grey samples as a PNG (depth maps for looking at), atomically.
    public static func writePNG16(gray samples: [UInt16], width: Int, height: Int, to path: String) throws {
        try AtomicFile.write(try encodePNG16(gray: samples, width: width, height: height, path: path), to: path)
    }

    public static func writePNG(_ image: Image8, to path: String) throws {
        try AtomicFile.write(encodePNG(image, path: path), to: path)
    }

    /// The format the bytes start with, or nil when neither.
    public static func detect<Bytes: Collection>(_ bytes: Bytes) -> Format? where Bytes.Element == UInt8 {
        if bytes.starts(with: pngSignature) { return .png }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        return nil
    }

    // MARK: - Internal

    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    static func notAnImage<Bytes: Collection>(_ path: String, _ head: Bytes) -> DatasetError where Bytes.Element == UInt8 {
        if head.isEmpty { return DatasetError(path, "empty file, not an image") }
        return DatasetError(path, "not a PNG or JPEG image (it starts with neither signature)")
    }

    /// The whole file, or a `DatasetError` saying why it cannot be read.
    static func readFile(_ path: String) throws -> Data {
        try RegularFile.read(path)
    }

    /// Refuses an image size that is empty or larger than `maximumPixels`,
    /// before anything is allocated for it.
    static func checkSize(_ width: Int, _ height: Int, path: String, format: String) throws {
        guard width > 0, height > 0 else {
            throw DatasetError(path, "invalid \(format): size \(width)x\(height)")
        }
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, pixels <= maximumPixels else {
            throw DatasetError(path, "\(format) of \(width)x\(height) pixels is too large (more than \(maximumPixels) pixels)")
        }
    }

    /// The bytes of a width x height x channels image, after `checkSize`;
    /// overflow-checked all the same, as the size comes from the file.
    static func byteCount(_ width: Int, _ height: Int, channels: Int, path: String, format: String) throws -> Int {
        try checkSize(width, height, path: path, format: format)
        let (bytes, overflow) = (width * height).multipliedReportingOverflow(by: channels)
        guard !overflow else { throw DatasetError(path, "\(format) of \(width)x\(height)x\(channels) is too large") }
        return bytes
    }

    static func bigEndian32<Bytes: RandomAccessCollection>(_ b: Bytes, _ offset: Int) -> UInt32
        where Bytes.Element == UInt8, Bytes.Index == Int {
        let i = b.startIndex + offset
        return UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }

    static func bigEndian16<Bytes: RandomAccessCollection>(_ b: Bytes, _ offset: Int) -> Int
        where Bytes.Element == UInt8, Bytes.Index == Int {
        let i = b.startIndex + offset
        return Int(b[i]) << 8 | Int(b[i + 1])
    }
}

/// A file open for reading; closed when released.
final class OpenFile {
    let path: String
    private let descriptor: Int32

    /// Opens `path`, refusing anything but a regular file (`RegularFile.open`).
    init(_ path: String) throws {
        self.path = path
        descriptor = try RegularFile.open(path)
    }

    deinit { close(descriptor) }

    /// Up to `count` bytes from `offset`; fewer at the end of the file or on a read error.
    func bytes(at offset: Int, count: Int) -> [UInt8] {
        guard count > 0, offset >= 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            done += n
        }
        bytes.removeLast(count - done)
        return bytes
    }
}
