import CZlib
import Foundation

/// Niantic's `.spz` (versions 2 and 3 read, version 3 written): a gzip
/// stream holding a 16-byte little-endian header and then the Gaussians
/// attribute by attribute.
///
/// | header bytes | content |
/// |---|---|
/// | 0..<4   | magic 0x5053474e ("NGSP" as bytes N G S P read little-endian) |
/// | 4..<8   | version (2 or 3) |
/// | 8..<12  | Gaussian count N |
/// | 12      | SH degree (0-3) |
/// | 13      | fractional bits F of the fixed-point positions |
/// | 14      | flags: 0x1 antialiased (ignored here), 0x2 extensions follow (not read) |
/// | 15      | reserved, 0 |
///
/// Then, for all Gaussians in turn, each array:
/// - positions: 3 x 24-bit signed two's complement fixed point, value x 2^F;
/// - alphas: u8, sigmoid(opacity) x 255;
/// - colours: 3 x u8, f_dc x (0.15 x 255) + 127.5;
/// - scales: 3 x u8, (log scale + 10) x 16;
/// - rotations: version 2, 3 x u8 (x, y, z of the normalised quaternion
///   with w >= 0, as (q + 1) x 127.5; w = sqrt(1 - |xyz|^2)); version 3,
///   one little-endian u32 "smallest three": bits 30-31 the index (in x, y,
///   z, w order) of the largest component, made positive, then the other
///   three from the lowest index up, 10 bits each (sign bit, then 9 bits of
///   |q| / sqrt(1/2) x 511), the last in the lowest bits;
/// - SH: (K - 1) x 3 u8 per Gaussian, coefficient-major with the channel
///   innermost, value x 128 + 128; written (as the reference encoder does)
///   with 5 significant bits for degree 1 and 4 for degrees 2 and 3.
///
/// Every u8 is rounded to nearest (halves away from zero) and clamped.
///
/// Coordinates: SPZ is RUB (x right, y up, z back, as OpenGL); this
/// package's Gaussians, like the 3DGS PLY, are RDF (OpenCV). Reading and
/// writing both negate y and z of positions, y and z of the quaternion's
/// vector part, and the SH coefficients odd under that flip (per
/// coefficient 1-15: - - + - + + - + - + - - + - +).
///
/// Positions are written with 12 fractional bits (about 0.24 mm at unit
/// scale), fewer when the model is larger than +-2048 so the 24 bits hold it.
public enum SPZFile {
    public static let magic: UInt32 = 0x5053_474e
    public static let headerSize = 16
    /// The version `encode` writes.
    public static let writtenVersion: UInt32 = 3
    /// The DC colour scale of the format (smaller than the SH constant
    /// 0.282 so colours a little outside [0, 1] survive).
    public static let colorScale = 0.15
    /// Sign of each SH coefficient 1...15 under RDF <-> RUB (y and z negated).
    public static let shFlip: [Float] = [-1, -1, 1, -1, 1, 1, -1, 1, -1, 1, -1, -1, 1, -1, 1]

    static let flagAntialiased: UInt8 = 0x1
    static let flagExtensions: UInt8 = 0x2
    static let sqrtHalf = Float(0.707106781186547524401)

    // MARK: Reading

    public static func read(path: String) throws -> GaussianModel {
        try decode(try GaussianModelFile.readFile(path), path: path)
    }

    /// Decodes (gunzips and unpacks) .spz bytes; `path` names the file in errors.
    public static func decode(_ data: Data, path: String) throws -> GaussianModel {
        let raw = try Gzip.inflate(data, path: path) { header in
            // Bounded output: once the header is in, the size is known.
            guard header.count >= headerSize else { return nil }
            let h = try parseHeader(header, path: path)
            return headerSize + h.count * bytesPerGaussian(version: h.version, shDegree: h.shDegree)
        }
        return try unpack(raw, path: path)
    }

    struct Header { var version: UInt32; var count: Int; var shDegree: Int; var fractionalBits: Int; var flags: UInt8 }

    static func bytesPerGaussian(version: UInt32, shDegree: Int) -> Int {
        9 + 1 + 3 + 3 + (version >= 3 ? 4 : 3) + 3 * (GaussianModel.coefficientCount(degree: shDegree) - 1)
    }

    static func parseHeader(_ raw: Data, path: String) throws -> Header {
        guard raw.count >= headerSize else {
            throw DatasetError(path, "truncated .spz: \(raw.count) bytes after gunzip, less than the \(headerSize)-byte header")
        }
        func u32(_ o: Int) -> UInt32 {
            let b = raw.startIndex + o
            return UInt32(raw[b]) | UInt32(raw[b + 1]) << 8 | UInt32(raw[b + 2]) << 16 | UInt32(raw[b + 3]) << 24
        }
        func u8(_ o: Int) -> UInt8 { raw[raw.startIndex + o] }
        guard u32(0) == magic else {
            throw DatasetError(path, String(format: "not an .spz file: magic 0x%08x, expected 0x%08x (\"NGSP\")", u32(0), magic))
        }
        let version = u32(4)
        guard version == 2 || version == 3 else {
            throw DatasetError(path, ".spz version \(version) is not supported (versions 2 and 3 are)")
        }
        let count = Int(u32(8))
        guard count <= GaussianPLY.maxVertexCount else {
            throw DatasetError(path, "absurd Gaussian count \(count) (more than \(GaussianPLY.maxVertexCount))")
        }
        let degree = Int(u8(12))
        guard degree <= GaussianModel.maxSHDegree else {
            throw DatasetError(path, "SH degree \(degree): splat supports degrees 0 to \(GaussianModel.maxSHDegree)")
        }
        let bits = Int(u8(13))
        guard bits <= 23 else { throw DatasetError(path, "\(bits) fractional bits for 24-bit positions (at most 23)") }
        let flags = u8(14)
        guard flags & flagExtensions == 0 else {
            throw DatasetError(path, "the .spz has extensions (flag 0x2), which splat does not read")
        }
        return Header(version: version, count: count, shDegree: degree, fractionalBits: bits, flags: flags)
    }

    /// Unpacks the gunzipped bytes.
    static func unpack(_ raw: Data, path: String) throws -> GaussianModel {
        let h = try parseHeader(raw, path: path)
        let n = h.count
        let expected = headerSize + n * bytesPerGaussian(version: h.version, shDegree: h.shDegree)
        guard raw.count >= expected else {
            throw DatasetError(path, "truncated .spz: \(raw.count) bytes after gunzip, \(n) Gaussians need \(expected)")
        }
        guard raw.count == expected else {
            throw DatasetError(path, "corrupt .spz: \(raw.count - expected) bytes more than \(n) Gaussians need")
        }
        let k1 = GaussianModel.coefficientCount(degree: h.shDegree) - 1
        var model = GaussianModel(count: n, shDegree: h.shDegree)
        let posScale = 1 / Float(1 << h.fractionalBits)
        raw.withUnsafeBytes { (buf: UnsafeRawBufferPointer) in
            let b = buf.bindMemory(to: UInt8.self)
            var o = headerSize
            let flip: [Float] = [1, -1, -1]
            for i in 0..<(n * 3) {
                var v = Int32(b[o]) | Int32(b[o + 1]) << 8 | Int32(b[o + 2]) << 16
                if v & 0x80_0000 != 0 { v |= ~0xff_ffff }
                model.positions[i] = flip[i % 3] * Float(v) * posScale
                o += 3
            }
            for i in 0..<n {
                let a = min(max(Double(b[o + i]) / 255, 0.25 / 255), 254.75 / 255)
                model.opacities[i] = Float(log(a / (1 - a)))
            }
            o += n
            for i in 0..<(n * 3) { model.shDC[i] = Float((Double(b[o + i]) / 255 - 0.5) / colorScale) }
            o += n * 3
            for i in 0..<(n * 3) { model.scales[i] = Float(b[o + i]) / 16 - 10 }
            o += n * 3
            for i in 0..<n {
                var q = SIMD4<Float>()  // x, y, z, w (SPZ order, RUB)
                if h.version >= 3 {
                    var comp = UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24
                    let largest = Int(comp >> 30)
                    var sum: Float = 0
                    for c in stride(from: 3, through: 0, by: -1) where c != largest {
                        let mag = Float(comp & 511) / 511 * sqrtHalf
                        q[c] = comp & 512 != 0 ? -mag : mag
                        sum += q[c] * q[c]
                        comp >>= 10
                    }
                    q[largest] = max(0, 1 - sum).squareRoot()
                    o += 4
                } else {
                    for c in 0..<3 { q[c] = Float(b[o + c]) / 127.5 - 1 }
                    q.w = max(0, 1 - (q.x * q.x + q.y * q.y + q.z * q.z)).squareRoot()
                    o += 3
                }
                model.rotations[i * 4] = q.w
                model.rotations[i * 4 + 1] = q.x
                model.rotations[i * 4 + 2] = -q.y
                model.rotations[i * 4 + 3] = -q.z
            }
            for i in 0..<n {
                for j in 0..<k1 {
                    for c in 0..<3 {
                        model.shRest[i * 3 * k1 + c * k1 + j] = shFlip[j] * (Float(b[o + j * 3 + c]) - 128) / 128
                    }
                }
                o += 3 * k1
            }
        }
        return model
    }

    // MARK: Writing

    /// Writes `model` as a version-3 .spz, atomically.
    public static func write(_ model: GaussianModel, to path: String) throws {
        try AtomicFile.write(try encode(model, path: path), to: path)
    }

    /// The gzipped version-3 .spz bytes of `model`, Gaussians in model order.
    public static func encode(_ model: GaussianModel, path: String = "<model>") throws -> Data {
        try Gzip.deflate(try pack(model, path: path), path: path)
    }

    /// The fractional bits `pack` uses for positions whose largest magnitude
    /// is `maxAbs`: 12, or fewer so that it fits in 24 signed bits; nil when
    /// not even 0 bits do.
    public static func fractionalBits(maxAbs: Float) -> Int? {
        var bits = 12
        while bits >= 0 {
            if (Double(maxAbs) * Double(1 << bits)).rounded() <= Double(0x7f_ffff) { return bits }
            bits -= 1
        }
        return nil
    }

    /// The uncompressed version-3 payload (header and arrays).
    static func pack(_ model: GaussianModel, path: String) throws -> Data {
        if let problem = model.shapeProblem() { throw DatasetError(path, problem) }
        if model.isImage2D { throw DatasetError(path, "an .spz holds 3D Gaussians; this model is 2D (image2d)") }
        if model.hasTime {
            throw DatasetError(path, "an .spz holds 3D Gaussians; this model is 4D (gaussians4d): write its slice at one time (splat convert MODEL OUT.spz --time T)")
        }
        let n = model.count
        guard n <= Int(UInt32.max) else { throw DatasetError(path, "\(n) Gaussians are too many for an .spz") }
        var maxAbs: Float = 0
        for (i, p) in model.positions.enumerated() {
            guard p.isFinite else {
                throw DatasetError(path, "Gaussian \(i / 3): position \(["x", "y", "z"][i % 3]) is \(p)")
            }
            maxAbs = max(maxAbs, abs(p))
        }
        guard let bits = fractionalBits(maxAbs: maxAbs) else {
            throw DatasetError(path, "a position of magnitude \(maxAbs) does not fit the 24-bit positions of an .spz (at most 8388607)")
        }
        let k1 = GaussianModel.coefficientCount(degree: model.shDegree) - 1
        let total = headerSize + n * bytesPerGaussian(version: 3, shDegree: model.shDegree)
        var out = [UInt8](repeating: 0, count: total)
        func put32(_ v: UInt32, _ o: Int) { for k in 0..<4 { out[o + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(k))) } }
        put32(magic, 0)
        put32(writtenVersion, 4)
        put32(UInt32(n), 8)
        out[12] = UInt8(model.shDegree)
        out[13] = UInt8(bits)
        var o = headerSize
        let scale = Double(1 << bits)
        let flip: [Double] = [1, -1, -1]
        for i in 0..<(n * 3) {
            let v = Int32((flip[i % 3] * Double(model.positions[i]) * scale).rounded())
            out[o] = UInt8(truncatingIfNeeded: v)
            out[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
            out[o + 2] = UInt8(truncatingIfNeeded: v >> 16)
            o += 3
        }
        for i in 0..<n { out[o + i] = toByte(255 / (1 + exp(-Double(model.opacities[i])))) }
        o += n
        for i in 0..<(n * 3) { out[o + i] = toByte(Double(model.shDC[i]) * (colorScale * 255) + 127.5) }
        o += n * 3
        for i in 0..<(n * 3) { out[o + i] = toByte((Double(model.scales[i]) + 10) * 16) }
        o += n * 3
        for i in 0..<n {
            put32(smallestThree(w: model.rotations[i * 4], x: model.rotations[i * 4 + 1],
                                y: model.rotations[i * 4 + 2], z: model.rotations[i * 4 + 3]), o)
            o += 4
        }
        for i in 0..<n {
            for j in 0..<k1 {
                let bucket = j < 3 ? 8 : 16  // 5 bits for degree 1, 4 bits above
                for c in 0..<3 {
                    let v = Double(shFlip[j] * model.shRest[i * 3 * k1 + c * k1 + j])
                    out[o + j * 3 + c] = shByte(v, bucket: bucket)
                }
            }
            o += 3 * k1
        }
        return Data(out)
    }

    /// The version-3 packing of the RDF quaternion (w, x, y, z), converted to RUB.
    /// A zero or non-finite quaternion is written as the identity.
    public static func smallestThree(w: Float, x: Float, y: Float, z: Float) -> UInt32 {
        var q = SIMD4<Double>(Double(x), -Double(y), -Double(z), Double(w))  // SPZ order x, y, z, w; RUB
        let norm = (q * q).sum().squareRoot()
        q = norm > 0 && norm.isFinite ? q / norm : SIMD4(0, 0, 0, 1)
        var largest = 0
        for c in 1..<4 where abs(q[c]) > abs(q[largest]) { largest = c }
        let negate = q[largest] < 0
        var comp = UInt32(largest)
        for c in 0..<4 where c != largest {
            let mag = min(UInt32(511 * abs(q[c]) / Double(sqrtHalf) + 0.5), 511)
            // No sign on a zero magnitude, so that decoding and re-encoding is stable.
            let sign: UInt32 = mag > 0 && (q[c] < 0) != negate ? 1 : 0
            comp = comp << 10 | sign << 9 | mag
        }
        return comp
    }

    static func shByte(_ v: Double, bucket: Int) -> UInt8 {
        guard v.isFinite else { return v > 0 ? 255 : (v < 0 ? 0 : 128) }
        var q = Int(max(min(v * 128, 1e6), -1e6).rounded()) + 128
        q = (q + bucket / 2) / bucket * bucket
        return UInt8(min(max(q, 0), 255))
    }

    static func toByte(_ x: Double) -> UInt8 {
        guard x.isFinite else { return x > 0 ? 255 : 0 }  // NaN -> 0
        return UInt8(min(max(x, 0), 255).rounded())
    }
}

/// gzip (RFC 1952) through zlib: windowBits 16 + 15.
enum Gzip {
    /// Gunzips `data`. `limit`, given the output so far, returns the total
    /// size the output may reach once it can tell (nil: not yet), so a
    /// small file cannot inflate without bound; more output is an error.
    static func inflate(_ data: Data, path: String, limit: (Data) throws -> Int?) throws -> Data {
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + 15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DatasetError(path, "zlib: inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var out = Data()
        var cap: Int?
        let chunk = 1 << 16
        var buffer = [UInt8](repeating: 0, count: chunk)
        let status: Int32 = try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) -> Int32 in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(input.count)
            while true {
                let res: Int32 = buffer.withUnsafeMutableBufferPointer { b in
                    stream.next_out = b.baseAddress
                    stream.avail_out = uInt(chunk)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk - Int(stream.avail_out)
                out.append(contentsOf: buffer[0..<produced])
                if cap == nil { cap = try limit(out) }
                if let cap, out.count > cap {
                    throw DatasetError(path, "corrupt .spz: the gzip stream holds more than the \(cap) bytes its header describes")
                }
                if res == Z_STREAM_END { return res }
                if res != Z_OK { return res }
                if produced == 0 && stream.avail_in == 0 { return Z_BUF_ERROR }
            }
        }
        switch status {
        case Z_STREAM_END: return out
        case Z_BUF_ERROR: throw DatasetError(path, "truncated .spz: the gzip stream ends early (\(out.count) bytes inflated)")
        default:
            let message = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
            throw DatasetError(path, "corrupt .spz: not a valid gzip stream (\(message))")
        }
    }

    /// Gzips `data` (default level).
    static func deflate(_ data: Data, path: String) throws -> Data {
        var stream = z_stream()
        guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + 15, 9, Z_DEFAULT_STRATEGY,
                            zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DatasetError(path, "zlib: deflateInit2 failed")
        }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(data.count)))
        var out = [UInt8](repeating: 0, count: bound)
        let res: Int32 = data.withUnsafeBytes { (input: UnsafeRawBufferPointer) -> Int32 in
            out.withUnsafeMutableBufferPointer { o in
                stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
                stream.avail_in = uInt(input.count)
                stream.next_out = o.baseAddress
                stream.avail_out = uInt(bound)
                return CZlib.deflate(&stream, Z_FINISH)
            }
        }
        guard res == Z_STREAM_END else { throw DatasetError(path, "zlib: deflate failed (\(res))") }
        return Data(out[0..<Int(stream.total_out)])
    }
}
