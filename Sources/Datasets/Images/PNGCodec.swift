import CPNG
import Foundation

// PNG through libpng's simplified API (`png_image`). libpng reports errors by
// longjmp, which Swift cannot catch; the simplified API catches them itself
// and returns 0 with the reason in `png_image.message`.
//
// How values come out: libpng's simplified reader converts between the file's
// gamma and the output's (sRGB for 8-bit output) and, without a gAMA/sRGB/iCCP
// chunk, takes 16-bit data as linear. Datasets want the stored values as they
// are (docs/conventions.md: values are never linearised; PIL, which 3DGS and nerfstudio
// read with, ignores those chunks too), so the reader drops the colour chunks (gAMA, cHRM, sRGB, iCCP; each
// ancillary, with its own CRC, so dropping one leaves a valid file) and sets
// PNG_IMAGE_FLAG_16BIT_sRGB. Input and output gamma then agree, libpng makes
// no gamma change, and 16-bit values are scaled by png_set_scale_16:
// round(v * 255 / 65535). 8-bit output is straight (not premultiplied) alpha.
// libpng's warnings (a file that still decodes) are not passed on.

extension ImageIO {
    /// Every chunk's declared length must fit in the bytes after it: libpng
    /// allocates a chunk's declared length before reading its data, so a
    /// 60-byte file declaring a 1.9 GB tEXt chunk cost 1.9 GB (found by
    /// fuzzing). Walks the chunks up to IEND or the end of the file.
    static func checkChunkLengths(_ raw: UnsafeRawBufferPointer, path: String) throws {
        var offset = 8  // after the signature
        while raw.count - offset >= 8 {
            let length = (0..<4).reduce(0) { $0 << 8 | Int(raw[offset + $1]) }
            let type = String(decoding: raw[(offset + 4)..<(offset + 8)].map { (0x20...0x7e).contains($0) ? $0 : 0x3f }, as: UTF8.self)
            let left = raw.count - offset - 12  // after this chunk's length, type and CRC
            guard length <= left else {
                throw DatasetError(path, "invalid or truncated PNG: chunk '\(type)' at byte \(offset) declares \(length) bytes; \(max(left, 0)) are left")
            }
            if type == "IEND" { return }
            offset += 12 + length
        }
    }

    static func decodePNG(_ data: Data, path: String) throws -> Image8 {
        let bytes = withoutColourChunks(data)
        let image = UnsafeMutablePointer<png_image>.allocate(capacity: 1)
        image.initialize(to: png_image())
        defer {
            png_image_free(image)  // safe after success, failure or nothing
            image.deinitialize(count: 1)
            image.deallocate()
        }
        image.pointee.version = UInt32(PNG_IMAGE_VERSION)
        // libpng keeps a pointer to the bytes from begin_read to finish_read,
        // so both run inside one withUnsafeBytes.
        return try bytes.withUnsafeBytes { raw -> Image8 in
            try checkChunkLengths(raw, path: path)
            guard png_image_begin_read_from_memory(image, raw.baseAddress, raw.count) != 0 else {
                throw DatasetError(path, "invalid or truncated PNG: \(message(image))")
            }
            image.pointee.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)  // only settable after begin_read
            let fileFormat = image.pointee.format
            let colour = fileFormat & PNG_FORMAT_FLAG_COLOR != 0
            let alpha = fileFormat & PNG_FORMAT_FLAG_ALPHA != 0
            // Grey + alpha becomes RGBA so that channels are 1, 3 or 4.
            let channels = alpha ? 4 : (colour ? 3 : 1)
            image.pointee.format = pngFormat(channels: channels)
            let width = Int(image.pointee.width), height = Int(image.pointee.height)
            let byteCount = try byteCount(width, height, channels: channels, path: path, format: "PNG")
            // Deflate data inflates at most 1032:1, so a file too short to hold the
            // IHDR's rows is truncated: refuse it before allocating the pixels
            // (a 68-byte file could otherwise cost 1 GiB; found by fuzzing).
            let samples = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][Int(raw[25])] ?? 4
            let rowBytes = (width * samples * Int(raw[24]) + 7) / 8 + 1
            guard rowBytes.multipliedReportingOverflow(by: height).partialValue / 1032 <= raw.count else {
                throw DatasetError(path, "invalid or truncated PNG: \(width)x\(height) pixels cannot fit in \(raw.count) bytes")
            }
            var pixels = [UInt8](repeating: 0, count: byteCount)  // [height * width * channels] u8
            let finished = pixels.withUnsafeMutableBytes { out in
                png_image_finish_read(image, nil, out.baseAddress, 0, nil)
            }
            guard finished != 0 else {
                throw DatasetError(path, "invalid or truncated PNG: \(message(image))")
            }
            return Image8(width: width, height: height, channels: channels, pixels: pixels)
        }
    }

    /// `image` as an 8-bit PNG file's bytes, marked sRGB.
    static func encodePNG(_ image: Image8, path: String) throws -> Data {
        try image.pixels.withUnsafeBytes {
            try encode($0, width: image.width, height: image.height, channels: image.channels,
                       format: pngFormat(channels: image.channels), path: path)
        }
    }

    /// 16-bit grey samples (row-major) as a PNG file's bytes. libpng's
    /// simplified API stores "linear" 16-bit data unchanged (with gAMA 1.0).
    static func encodePNG16(gray samples: [UInt16], width: Int, height: Int, path: String) throws -> Data {
        guard samples.count == width * height else {
            throw DatasetError(path, "16-bit image of \(width)x\(height) needs \(width * height) samples, got \(samples.count)")
        }
        return try samples.withUnsafeBytes {
            try encode($0, width: width, height: height, channels: 1, format: PNG_FORMAT_FLAG_LINEAR, path: path)
        }
    }

    static func encode(_ pixels: UnsafeRawBufferPointer, width: Int, height: Int, channels: Int, format: UInt32,
                       path: String) throws -> Data {
        guard width > 0, height > 0 else {
            throw DatasetError(path, "cannot write an empty \(width)x\(height) image as PNG")
        }
        guard width <= Int(Int32.max) / channels, height <= Int(Int32.max) else {
            throw DatasetError(path, "cannot write a \(width)x\(height) image as PNG: too large")
        }
        let control = UnsafeMutablePointer<png_image>.allocate(capacity: 1)
        control.initialize(to: png_image())
        defer {
            png_image_free(control)
            control.deinitialize(count: 1)
            control.deallocate()
        }
        // Enough for zlib's worst case (stored blocks) and the chunk framing;
        // if libpng needs more it says how much and we try again.
        let raw = height * (1 + pixels.count / height)
        var capacity = raw + raw / 64 + 4096
        for _ in 0 ..< 2 {
            control.pointee = png_image()
            control.pointee.version = UInt32(PNG_IMAGE_VERSION)
            control.pointee.width = UInt32(width)
            control.pointee.height = UInt32(height)
            control.pointee.format = format
            control.pointee.flags = UInt32(PNG_IMAGE_FLAG_FAST)
            var out = [UInt8](repeating: 0, count: capacity)
            var size = capacity
            let ok = out.withUnsafeMutableBytes { memory in
                png_image_write_to_memory(control, memory.baseAddress, &size, 0, pixels.baseAddress, 0, nil)
            }
            if ok != 0 { return Data(out[0 ..< size]) }
            // Too small a buffer is a failure without warning_or_error set; retry once.
            if control.pointee.warning_or_error == 0 && size > capacity {
                png_image_free(control)
                capacity = size
                continue
            }
            throw DatasetError(path, "cannot encode PNG: \(message(control))")
        }
        throw DatasetError(path, "cannot encode PNG: libpng asked for ever more memory")
    }

    /// The 8-bit simplified-API format of 1 (grey), 3 (RGB) or 4 (RGBA)
    /// channels (png.h's PNG_FORMAT_RGBA and kin are macros Swift does not import).
    static func pngFormat(channels: Int) -> UInt32 {
        switch channels {
        case 1: return 0  // PNG_FORMAT_GRAY
        case 3: return PNG_FORMAT_FLAG_COLOR
        default: return PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA
        }
    }

    /// png_image.message as a String.
    static func message(_ image: UnsafeMutablePointer<png_image>) -> String {
        let text = withUnsafeBytes(of: image.pointee.message) { bytes in
            String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return text.isEmpty ? "libpng gave no reason" : text
    }

    /// The chunks that make libpng change values; see the top of this file.
    static let colourChunks: Set<[UInt8]> = [Array("gAMA".utf8), Array("cHRM".utf8),
                                            Array("sRGB".utf8), Array("iCCP".utf8)]

    /// The PNG bytes without gAMA, cHRM, sRGB and iCCP chunks. Anything it does
    /// not follow (a chunk running past the end) is kept as it is for libpng
    /// to report.
    static func withoutColourChunks(_ data: Data) -> [UInt8] {
        let bytes = [UInt8](data)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        out.append(contentsOf: bytes.prefix(8))
        var i = 8
        while i + 8 <= bytes.count {
            let length = Int(bigEndian32(bytes, i))
            let end = i + 12 + length
            guard end <= bytes.count else { break }
            if !colourChunks.contains(Array(bytes[i + 4 ..< i + 8])) {
                out.append(contentsOf: bytes[i ..< end])
            }
            i = end
        }
        if i < bytes.count { out.append(contentsOf: bytes[i...]) }
        return out
    }
}
