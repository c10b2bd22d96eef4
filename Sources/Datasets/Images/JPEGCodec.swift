import CJPEG
import Foundation

// JPEG through libjpeg-turbo's TurboJPEG API (tjDecompressHeader3 /
// tjDecompress2). The defaults are libjpeg's: accurate integer DCT and fancy
// upsampling, as PIL decodes. TurboJPEG returns -1 both for fatal errors and,
// after decoding, for warnings; a warning about missing data ("Premature end
// of JPEG file", "premature end of data segment") means a truncated image whose
// missing part libjpeg filled with grey, so it is an error too. Other warnings
// keep the image and are passed on through `Diagnostics.warn`.

extension ImageIO {
    static func decodeJPEG(_ data: Data, path: String) throws -> Image8 {
        guard let handle = tjInitDecompress() else {
            throw DatasetError(path, "cannot start the JPEG decoder: \(String(cString: tjGetErrorStr2(nil)))")
        }
        defer { tjDestroy(handle) }
        func reason() -> String { String(cString: tjGetErrorStr2(handle)) }

        let image = try data.withUnsafeBytes { raw -> Image8 in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
                throw DatasetError(path, "empty file, not an image")
            }
            let size = UInt(raw.count)
            var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colourspace: Int32 = 0
            guard tjDecompressHeader3(handle, base, size, &width, &height, &subsampling, &colourspace) == 0 else {
                throw DatasetError(path, "invalid or truncated JPEG: \(reason())")
            }
            let channels: Int, pixelFormat: Int32
            switch colourspace {
            case Int32(TJCS_GRAY.rawValue):
                (channels, pixelFormat) = (1, Int32(TJPF_GRAY.rawValue))
            case Int32(TJCS_CMYK.rawValue), Int32(TJCS_YCCK.rawValue):
                throw DatasetError(path, "CMYK JPEGs are not supported; convert the image to RGB")
            default:
                (channels, pixelFormat) = (3, Int32(TJPF_RGB.rawValue))
            }
            let byteCount = try byteCount(Int(width), Int(height), channels: channels, path: path, format: "JPEG")
            // A header may claim 16384x16384 in a few hundred bytes (found by fuzzing: 800 MB zeroed and
            // 5 s before "premature end"). Above 2^24 pixels the decoder stops at its first warning, and
            // the pixels are not zeroed first, so pages of rows never decoded are never touched; a huge
            // image with warnings is refused rather than kept.
            let large = Int(width) * Int(height) > 1 << 24
            var status: Int32 = 0
            let pixels = [UInt8](unsafeUninitializedCapacity: byteCount) { out, count in  // [height * width * channels] u8
                if !large { out.initialize(repeating: 0) }
                status = tjDecompress2(handle, base, size, out.baseAddress, width, 0, height, pixelFormat,
                                       large ? Int32(TJFLAG_STOPONWARNING) : 0)
                count = byteCount
            }
            if status != 0, large {
                throw DatasetError(path, "invalid or truncated JPEG of \(width)x\(height) pixels: \(reason())")
            }
            if status != 0 {
                let why = reason()
                if tjGetErrorCode(handle) == Int32(TJERR_FATAL.rawValue) {
                    throw DatasetError(path, "invalid JPEG: \(why)")
                }
                if why.lowercased().contains("premature end") {
                    throw DatasetError(path, "truncated JPEG (\(why))")
                }
                Diagnostics.warn("\(path): \(why)")
            }
            return Image8(width: Int(width), height: Int(height), channels: channels, pixels: pixels)
        }

        if let orientation = data.withUnsafeBytes({ exifOrientation(jpeg: $0) }), orientation != 1 {
            Diagnostics.warn("\(path): EXIF orientation \(orientation) is ignored (as COLMAP does)")
        }
        return image
    }

    /// The Orientation tag (0x0112) of IFD0 in the JPEG's APP1 "Exif" segment,
    /// or nil when there is none (or it cannot be followed). Reads only the
    /// segments before the scan; every offset is bounds-checked.
    static func exifOrientation(jpeg b: UnsafeRawBufferPointer) -> Int? {
        guard b.count >= 4, b[0] == 0xFF, b[1] == 0xD8 else { return nil }
        var i = 2
        while i + 4 <= b.count {
            guard b[i] == 0xFF else { return nil }
            let marker = b[i + 1]
            if marker == 0xFF { i += 1; continue }                              // fill byte
            if marker == 0x01 || (0xD0 ... 0xD8).contains(marker) { i += 2; continue }  // no length
            if marker == 0xDA || marker == 0xD9 { return nil }                  // scan or end: no more headers
            let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            let start = i + 4, end = i + 2 + length
            guard length >= 2, end <= b.count else { return nil }
            if marker == 0xE1, end - start >= 14,
               b[start] == 0x45, b[start + 1] == 0x78, b[start + 2] == 0x69, b[start + 3] == 0x66,  // "Exif"
               b[start + 4] == 0, b[start + 5] == 0,
               let orientation = tiffOrientation(UnsafeRawBufferPointer(rebasing: b[start + 6 ..< end])) {
                return orientation
            }
            i = end
        }
        return nil
    }

    /// The Orientation entry of a TIFF header's IFD0.
    static func tiffOrientation(_ t: UnsafeRawBufferPointer) -> Int? {
        guard t.count >= 8 else { return nil }
        let little: Bool
        switch (t[0], t[1]) {
        case (0x49, 0x49): little = true   // "II"
        case (0x4D, 0x4D): little = false  // "MM"
        default: return nil
        }
        func u16(_ o: Int) -> Int? {
            guard o >= 0, o + 2 <= t.count else { return nil }
            return little ? Int(t[o]) | Int(t[o + 1]) << 8 : Int(t[o]) << 8 | Int(t[o + 1])
        }
        func u32(_ o: Int) -> Int? {
            guard let a = u16(o), let b = u16(o + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard u16(2) == 42, let ifd = u32(4), let count = u16(ifd) else { return nil }
        for entry in 0 ..< count {
            let o = ifd + 2 + 12 * entry
            guard let tag = u16(o) else { return nil }
            if tag == 0x0112 {
                guard u16(o + 2) == 3 else { return nil }  // SHORT
                return u16(o + 8)
            }
        }
        return nil
    }

    /// A JPEG's size from its frame header (SOF), skipping the segments before it.
    static func jpegFrameSize(path: String, bytesAt: (Int, Int) -> [UInt8]) throws -> (width: Int, height: Int) {
        var i = 2
        while true {
            let head = bytesAt(i, 4)
            guard head.count >= 2, head[0] == 0xFF else {
                throw DatasetError(path, "invalid or truncated JPEG: no frame header before byte \(i)")
            }
            let marker = head[1]
            if marker == 0xFF { i += 1; continue }
            if marker == 0x01 || (0xD0 ... 0xD8).contains(marker) { i += 2; continue }
            if marker == 0xDA || marker == 0xD9 {
                throw DatasetError(path, "invalid JPEG: no frame header before the image data")
            }
            guard head.count == 4 else {
                throw DatasetError(path, "invalid or truncated JPEG: no frame header before byte \(i)")
            }
            let length = bigEndian16(head, 2)
            guard length >= 2 else { throw DatasetError(path, "invalid JPEG: segment of length \(length) at byte \(i)") }
            let isFrame = (0xC0 ... 0xCF).contains(marker) && ![0xC4, 0xC8, 0xCC].contains(marker)
            if isFrame {
                // Length (2), precision (1), height (2), width (2).
                let frame = bytesAt(i + 4, 5)
                guard frame.count == 5 else { throw DatasetError(path, "invalid or truncated JPEG: cut in its frame header") }
                let height = bigEndian16(frame, 1), width = bigEndian16(frame, 3)
                guard width > 0, height > 0 else { throw DatasetError(path, "invalid JPEG: size \(width)x\(height)") }
                return (width, height)
            }
            i += 2 + length
        }
    }
}
