import Foundation

/// The `.splat` format of the web viewers (antimatter15/splat): no header,
/// 32 bytes per Gaussian, little-endian:
///
/// | bytes | content |
/// |---|---|
/// | 0..<12  | position x, y, z (f32) |
/// | 12..<24 | exp(scale_0..2), the standard deviations (f32) |
/// | 24..<28 | R, G, B = clamp(0.5 + C0 f_dc, 0, 1) * 255, A = sigmoid(opacity) * 255 (u8) |
/// | 28..<32 | normalised quaternion w, x, y, z as clamp(q * 128 + 128, 0, 255) (u8) |
///
/// Bytes are rounded to nearest (ties to even), as the viewer's own PLY
/// converter does (it stores into a Uint8ClampedArray). Gaussians are written
/// largest first by exp(scale_0 + scale_1 + scale_2) * sigmoid(opacity), ties
/// in model order. Only degree-0 colour survives: higher SH bands are dropped.
/// Stored scales are clamped to the largest finite float (log scales above
/// about 88.7), so a written file always reads back.
public enum SplatFile {
    /// Bytes per Gaussian.
    public static let bytesPerGaussian = 32
    /// The degree-0 SH constant.
    public static let shC0 = 0.28209479177387814

    /// The order `encode` writes the Gaussians in: indices sorted by
    /// exp(sum of log scales) * sigmoid(opacity), largest first, ties by index.
    public static func order(_ model: GaussianModel) -> [Int] {
        let n = model.count
        var keys = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let logVolume = Double(model.scales[i * 3]) + Double(model.scales[i * 3 + 1]) + Double(model.scales[i * 3 + 2])
            keys[i] = exp(logVolume) * sigmoid(Double(model.opacities[i]))
        }
        return keys.withUnsafeBufferPointer { keys in
            (0..<n).sorted { a, b in keys[a] != keys[b] ? keys[a] > keys[b] : a < b }
        }
    }

    /// The 32 bytes of Gaussian `i` of `model` (see the type's table).
    public static func encodeGaussian(_ model: GaussianModel, _ i: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: bytesPerGaussian)
        bytes.withUnsafeMutableBytes { encode(model, i, into: $0.baseAddress!) }
        return bytes
    }

    /// The whole file's bytes, sorted as `order(_:)`. Throws when the model's
    /// array shapes disagree.
    public static func encode(_ model: GaussianModel, path: String = "<model>") throws -> Data {
        if let problem = model.shapeProblem() { throw DatasetError(path, problem) }
        if model.isImage2D { throw DatasetError(path, "a .splat holds 3D Gaussians; this model is 2D (image2d)") }
        if model.hasTime {
            throw DatasetError(path, "a .splat holds 3D Gaussians; this model is 4D (gaussians4d): write its slice at one time (splat convert MODEL OUT.ply --time T)")
        }
        let order = order(model)
        var data = Data(count: model.count * bytesPerGaussian)
        data.withUnsafeMutableBytes { out in
            for (slot, i) in order.enumerated() {
                encode(model, i, into: out.baseAddress! + slot * bytesPerGaussian)
            }
        }
        return data
    }

    /// Writes `model` as a .splat, atomically (a failed write leaves no file).
    public static func write(_ model: GaussianModel, to path: String) throws {
        try AtomicFile.write(try encode(model, path: path), to: path)
    }

    /// Reads a .splat into a degree-0 model, inverting the encoding as well as
    /// 8 bits allow: scale = log(stored scale), opacity = logit(A / 255) with
    /// A / 255 clamped to [0.25/255, 254.75/255] (so it stays finite and
    /// re-encodes to the same byte), f_dc = (RGB / 255 - 0.5) / C0, rotation =
    /// (byte - 128) / 128. A stored scale of exactly 0 reads as the log of the
    /// smallest positive float.
    public static func read(path: String) throws -> GaussianModel {
        try decode(try GaussianModelFile.readFile(path), path: path)
    }

    /// Decodes .splat bytes; `path` names the file in errors.
    public static func decode(_ data: Data, path: String) throws -> GaussianModel {
        guard data.count % bytesPerGaussian == 0 else {
            throw DatasetError(path, "size \(data.count) bytes is not a multiple of \(bytesPerGaussian) (not a .splat file, or truncated)")
        }
        let n = data.count / bytesPerGaussian
        guard n <= GaussianPLY.maxVertexCount else {
            throw DatasetError(path, "absurd Gaussian count \(n) (more than \(GaussianPLY.maxVertexCount))")
        }
        var model = GaussianModel(count: n, shDegree: 0)
        let smallestLog = log(Float.leastNonzeroMagnitude)
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            for i in 0..<n {
                let g = raw.baseAddress! + i * bytesPerGaussian
                func float(_ k: Int) -> Float {
                    Float(bitPattern: UInt32(littleEndian: g.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self)))
                }
                func byte(_ k: Int) -> Float { Float(g.load(fromByteOffset: 24 + k, as: UInt8.self)) }
                for a in 0..<3 {
                    let p = float(a)
                    guard p.isFinite else {
                        throw DatasetError(path, "Gaussian \(i): position \(["x", "y", "z"][a]) is \(p)")
                    }
                    model.positions[i * 3 + a] = p
                    let s = float(3 + a)
                    guard s.isFinite, s >= 0 else {
                        throw DatasetError(path, "Gaussian \(i): scale_\(a) is \(s) (a scale must be a finite number >= 0)")
                    }
                    model.scales[i * 3 + a] = s > 0 ? log(s) : smallestLog
                    model.shDC[i * 3 + a] = Float((Double(byte(a)) / 255 - 0.5) / shC0)
                }
                let alpha = min(max(Double(byte(3)) / 255, 0.25 / 255), 254.75 / 255)
                model.opacities[i] = Float(log(alpha / (1 - alpha)))
                for k in 0..<4 { model.rotations[i * 4 + k] = (byte(4 + k) - 128) / 128 }
            }
        }
        return model
    }

    private static func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }

    private static func toByte(_ x: Double) -> UInt8 {
        guard x.isFinite else { return x > 0 ? 255 : 0 }  // NaN -> 0
        return UInt8(min(max(x, 0), 255).rounded(.toNearestOrEven))
    }

    private static func encode(_ model: GaussianModel, _ i: Int, into out: UnsafeMutableRawPointer) {
        for a in 0..<3 {
            out.storeBytes(of: model.positions[i * 3 + a].bitPattern.littleEndian, toByteOffset: 4 * a, as: UInt32.self)
            // Log scales above 88.7 would overflow to infinity: keep the largest float.
            let scale = min(exp(model.scales[i * 3 + a]), .greatestFiniteMagnitude)
            out.storeBytes(of: scale.bitPattern.littleEndian, toByteOffset: 12 + 4 * a, as: UInt32.self)
            let colour = min(max(0.5 + shC0 * Double(model.shDC[i * 3 + a]), 0), 1)
            out.storeBytes(of: toByte(colour * 255), toByteOffset: 24 + a, as: UInt8.self)
        }
        out.storeBytes(of: toByte(sigmoid(Double(model.opacities[i])) * 255), toByteOffset: 27, as: UInt8.self)
        var q = SIMD4<Double>(Double(model.rotations[i * 4]), Double(model.rotations[i * 4 + 1]),
                              Double(model.rotations[i * 4 + 2]), Double(model.rotations[i * 4 + 3]))
        let norm = (q * q).sum().squareRoot()
        // A zero (or non-finite) quaternion has no direction: write the identity.
        q = norm > 0 && norm.isFinite ? q / norm : SIMD4(1, 0, 0, 0)
        for k in 0..<4 {
            out.storeBytes(of: toByte(q[k] * 128 + 128), toByteOffset: 28 + k, as: UInt8.self)
        }
    }
}
