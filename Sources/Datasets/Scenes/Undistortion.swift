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
    ///
    /// Errors are `DatasetError`s with the path "camera"; callers that know
    /// the file replace it (`SceneImages` names the image).
    public init(source: Intrinsics, distortion: Distortion) throws {
        try Self.check(source, distortion)
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
        // Crop a hair inside, so bilinear taps stay within the source. The
        // sizes are clamped as Doubles: Int() would trap on a huge or NaN value.
        let widthInPixels = ((right - left) * source.fx).rounded(.down) - 1
        let heightInPixels = ((bottom - top) * source.fy).rounded(.down) - 1
        guard widthInPixels >= 1, heightInPixels >= 1 else {
            throw DatasetError("camera", "the lens distortion leaves an empty undistorted image")
        }
        let width = Int(min(widthInPixels, Double(source.width * 2)))
        let height = Int(min(heightInPixels, Double(source.height * 2)))
        let cx = -left * source.fx - 0.5, cy = -top * source.fy - 0.5
        guard cx.isFinite, cy.isFinite else {
            throw DatasetError("camera", "the lens distortion leaves no valid undistorted region")
        }
        target = Intrinsics(width: width, height: height, fx: source.fx, fy: source.fy, cx: cx, cy: cy)
    }

    /// Refuses intrinsics and coefficients the undistortion cannot work with,
    /// saying which value is wrong (a zero focal length would otherwise show
    /// up as a distortion that "cannot be inverted").
    static func check(_ camera: Intrinsics, _ distortion: Distortion) throws {
        guard camera.width > 0, camera.height > 0, camera.width <= 65536, camera.height <= 65536 else {
            throw DatasetError("camera", "size \(camera.width)x\(camera.height) is invalid; width and height must be 1...65536")
        }
        for (name, f) in [("fx", camera.fx), ("fy", camera.fy)] {
            guard f.isFinite else { throw DatasetError("camera", "focal length \(name) must be a finite number, got \(f)") }
            guard f > 0 else { throw DatasetError("camera", "focal length must be > 0, got \(COLMAP.number(f)) (\(name))") }
        }
        for (name, c) in [("cx", camera.cx), ("cy", camera.cy)] where !c.isFinite {
            throw DatasetError("camera", "principal point \(name) must be a finite number, got \(c)")
        }
        let coefficients: [Double]
        switch distortion {
        case .none: coefficients = []
        case let .opencv(k1, k2, k3, p1, p2): coefficients = [k1, k2, k3, p1, p2]
        case let .fisheye(k1, k2, k3, k4): coefficients = [k1, k2, k3, k4]
        }
        guard coefficients.allSatisfy(\.isFinite) else {
            throw DatasetError("camera", "distortion coefficients must be finite numbers, got \(coefficients)")
        }
    }

    /// Index of the pixel at or below `coordinate`, clamped to 0..<count
    /// (NaN and infinities included, which Int() would trap on).
    static func clampedIndex(_ coordinate: Double, _ count: Int) -> Int {
        guard coordinate > 0 else { return 0 }  // also NaN
        guard coordinate < Double(count - 1) else { return count - 1 }
        return Int(coordinate.rounded(.down))
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
                        let u0 = Self.clampedIndex(u, sw), v0 = Self.clampedIndex(v, sh)
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
