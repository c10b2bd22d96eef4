import Geometry
/// An 8-bit image held in memory: row-major, channels interleaved.
///
/// Values are the file's sRGB-encoded values (no linearisation); alpha is
/// straight (not premultiplied). Images are never held as float, so a scene of
/// a thousand images stays at <= 4 bytes per pixel (see docs/conventions.md,
/// "Images and colour").
public struct Image8: Equatable, Sendable {
    public let width: Int
    public let height: Int
    /// 1 (grey), 3 (RGB) or 4 (RGBA).
    public let channels: Int
    /// [height * width * channels] u8, row-major, channels interleaved.
    public var pixels: [UInt8]

    /// An image over `pixels` ([height * width * channels] u8).
    /// Traps when the sizes disagree or `channels` is not 1, 3 or 4.
    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0, "Image8: negative size \(width)x\(height)")
        precondition(channels == 1 || channels == 3 || channels == 4,
                     "Image8: channels must be 1, 3 or 4, not \(channels)")
        precondition(pixels.count == width * height * channels,
                     "Image8: \(pixels.count) bytes for \(width)x\(height)x\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// An image of `width` x `height` with every channel of every pixel set to `value`.
    public init(width: Int, height: Int, channels: Int, filledWith value: UInt8 = 0) {
        self.init(width: width, height: height, channels: channels,
                  pixels: [UInt8](repeating: value, count: width * height * channels))
    }

    /// True when the image has an alpha channel (4 channels).
    public var hasAlpha: Bool { channels == 4 }

    /// The `channels` values of pixel (x, y); (0, 0) is the top-left pixel.
    public func pixel(x: Int, y: Int) -> [UInt8] {
        precondition(x >= 0 && x < width && y >= 0 && y < height,
                     "Image8.pixel: (\(x), \(y)) outside \(width)x\(height)")
        let start = (y * width + x) * channels
        return Array(pixels[start ..< start + channels])
    }

    /// The colour channels as RGB: grey is replicated to R = G = B, RGB is
    /// returned as it is, and RGBA loses its alpha without compositing (use
    /// `composited(over:seed:)` to composite over a background).
    public func rgb() -> Image8 {
        if channels == 3 { return self }
        let count = width * height
        var out = [UInt8](repeating: 0, count: count * 3)  // [height * width * 3] u8
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                if channels == 1 {
                    for i in 0 ..< count {
                        let v = src[i]
                        dst[3 * i] = v; dst[3 * i + 1] = v; dst[3 * i + 2] = v
                    }
                } else {
                    for i in 0 ..< count {
                        dst[3 * i] = src[4 * i]
                        dst[3 * i + 1] = src[4 * i + 1]
                        dst[3 * i + 2] = src[4 * i + 2]
                    }
                }
            }
        }
        return Image8(width: width, height: height, channels: 3, pixels: out)
    }

    /// The alpha channel as a 1-channel image, or nil when the image has no alpha.
    public func alphaMask() -> Image8? {
        guard hasAlpha else { return nil }
        let count = width * height
        var out = [UInt8](repeating: 0, count: count)  // [height * width] u8
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0 ..< count { dst[i] = src[4 * i + 3] }
            }
        }
        return Image8(width: width, height: height, channels: 1, pixels: out)
    }

    /// This image composited over `background`, as RGB.
    ///
    /// Straight alpha: out = round((c * a + b * (255 - a)) / 255) per channel,
    /// with c the colour, a the alpha and b the background, all 8-bit.
    /// An image without alpha is returned as `rgb()` (grey replicated).
    ///
    /// `.random` gives every pixel its own colour, each of R, G and B uniform
    /// in 0...255: one 64-bit draw per pixel, in row-major order, from a
    /// SplitMix64 generator seeded with `seed`, R, G and B being its lowest
    /// three bytes. The same seed gives the same background on every machine.
    /// `seed` is unused for `.white` and `.black`.
    public func composited(over background: Background, seed: UInt64 = 0) -> Image8 {
        var generator = SplitMix64(seed: seed)
        return composited { () -> (UInt32, UInt32, UInt32) in
            switch background {
            case .white: return (255, 255, 255)
            case .black: return (0, 0, 0)
            case .random:
                let r = generator.next()
                return (UInt32(r & 0xFF), UInt32((r >> 8) & 0xFF), UInt32((r >> 16) & 0xFF))
            }
        }
    }

    /// This image composited over one 8-bit colour, as RGB (same rounding).
    public func composited(overRGB r: UInt8, _ g: UInt8, _ b: UInt8) -> Image8 {
        composited { (UInt32(r), UInt32(g), UInt32(b)) }
    }

    /// Straight-alpha compositing with the background colour of each pixel
    /// from `next`, called once per pixel in row-major order.
    private func composited(_ next: () -> (UInt32, UInt32, UInt32)) -> Image8 {
        guard hasAlpha else { return rgb() }
        let count = width * height
        var out = [UInt8](repeating: 0, count: count * 3)  // [height * width * 3] u8
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0 ..< count {
                    let a = UInt32(src[4 * i + 3])
                    let inverse = 255 - a
                    let bg = next()
                    // (x + 127) / 255 rounds x / 255 to nearest (255 is odd: no ties).
                    dst[3 * i] = UInt8((UInt32(src[4 * i]) * a + bg.0 * inverse + 127) / 255)
                    dst[3 * i + 1] = UInt8((UInt32(src[4 * i + 1]) * a + bg.1 * inverse + 127) / 255)
                    dst[3 * i + 2] = UInt8((UInt32(src[4 * i + 2]) * a + bg.2 * inverse + 127) / 255)
                }
            }
        }
        return Image8(width: width, height: height, channels: 3, pixels: out)
    }
}

/// What an image with alpha is composited over (docs/conventions.md, "Images and colour").
public enum Background: String, Sendable, CaseIterable {
    case white
    case black
    /// A uniform random colour per pixel from a seeded generator
    /// (see `Image8.composited(over:seed:)`).
    case random
}

