import Foundation
import Geometry

/// Undistortion of an image from a distorted camera to a pinhole camera, as
/// COLMAP's image_undistorter does with blank pixels 0: the focal lengths stay,
/// and the output is cropped to the largest rectangle whose every pixel maps
/// inside the source image.
public struct UndistortionPlan: Equatable {
    public let source: Intrinsics
    public let distortion: Distortion
    /// The pinhole camera of the undistorted image.
    public let target: Intrinsics

    /// The plan for a camera; nil-distortion cameras keep their intrinsics.
    public init(source: Intrinsics, distortion: Distortion) throws {
        self.source = source
        self.distortion = distortion
        if distortion.isNone {
            target = source
            return
        }
        // Undistort points along the border of the source image (pixel edges).
        let w = Double(source.width), h = Double(source.height)
        let steps = 256
        func undistorted(_ u: Double, _ v: Double) throws -> (Double, Double) {
            guard let p = distortion.undistort((u - source.cx) / source.fx, (v - source.cy) / source.fy) else {
                throw DatasetError("camera", "the lens distortion cannot be inverted at pixel (\(u), \(v))")
            }
            return p
        }
        var left = -Double.infinity, right = Double.infinity, top = -Double.infinity, bottom = Double.infinity
        for k in 0...steps {
            let t = Double(k) / Double(steps)
            left = max(left, try undistorted(0, t * h).0)
            right = min(right, try undistorted(w, t * h).0)
            top = max(top, try undistorted(t * w, 0).1)
            bottom = min(bottom, try undistorted(t * w, h).1)
        }
        guard right > left, bottom > top else {
            throw DatasetError("camera", "the lens distortion leaves no valid undistorted region")
        }
        // Crop a hair inside, so bilinear taps stay within the source.
        let width = min(Int(((right - left) * source.fx).rounded(.down)) - 1, source.width * 2)
        let height = min(Int(((bottom - top) * source.fy).rounded(.down)) - 1, source.height * 2)
        guard width > 0, height > 0 else { throw DatasetError("camera", "the undistorted image would be empty") }
        let cx = -left * source.fx - 0.5, cy = -top * source.fy - 0.5
        target = Intrinsics(width: width, height: height, fx: source.fx, fy: source.fy, cx: cx, cy: cy)
    }

    /// The undistorted image: each target pixel centre is distorted into the
    /// source and sampled bilinearly (edges clamped).
    public func apply(_ image: Image8) -> Image8 {
        if distortion.isNone { return image }
        let c = image.channels
        let sw = image.width, sh = image.height
        let tw = target.width, th = target.height
        // The source camera may describe a different resolution than the image
        // (e.g. a pre-downscaled folder): scale into the image's pixels.
        let scaleX = Double(sw) / Double(source.width), scaleY = Double(sh) / Double(source.height)
        var out = [UInt8](repeating: 0, count: tw * th * c)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                DispatchQueue.concurrentPerform(iterations: th) { j in
                    let y = (Double(j) + 0.5 - target.cy) / target.fy
                    for i in 0..<tw {
                        let x = (Double(i) + 0.5 - target.cx) / target.fx
                        let (xd, yd) = distortion.distort(x, y)
                        let u = (source.fx * xd + source.cx) * scaleX - 0.5
                        let v = (source.fy * yd + source.cy) * scaleY - 0.5
                        let u0 = max(0, min(sw - 1, Int(u.rounded(.down)))), v0 = max(0, min(sh - 1, Int(v.rounded(.down))))
                        let u1 = min(sw - 1, u0 + 1), v1 = min(sh - 1, v0 + 1)
                        let fu = Float(max(0, min(1, u - Double(u0)))), fv = Float(max(0, min(1, v - Double(v0))))
                        let o = (j * tw + i) * c
                        for ch in 0..<c {
                            let a = Float(src[(v0 * sw + u0) * c + ch]), b = Float(src[(v0 * sw + u1) * c + ch])
                            let d = Float(src[(v1 * sw + u0) * c + ch]), e = Float(src[(v1 * sw + u1) * c + ch])
                            let top = a + (b - a) * fu, bottom = d + (e - d) * fu
                            dst[o + ch] = UInt8(max(0, min(255, (top + (bottom - top) * fv).rounded())))
                        }
                    }
                }
            }
        }
        return Image8(width: tw, height: th, channels: c, pixels: out)
    }
}
