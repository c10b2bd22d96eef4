import Foundation
import Geometry

/// One frame ready for an engine: its undistorted, downscaled image (8-bit,
/// RGB or RGBA with straight alpha) and the pinhole intrinsics of that image.
public struct LoadedFrame {
    public var frame: SceneFrame
    public var intrinsics: Intrinsics
    public var image: Image8

    /// RGB over `background` (images without alpha are returned as RGB).
    public func composited(over background: Background, seed: UInt64 = 0) -> Image8 {
        image.hasAlpha ? image.composited(over: background, seed: seed) : image.rgb()
    }
}

/// Reads a scene's images: undistorts distorted cameras to pinhole ones,
/// downscales by an integer factor with an area filter, and caches the result
/// (`ImageCache`). Existing `images_2/4/8` folders (3DGS convention) are used
/// when their images have the expected size.
public enum SceneImages {
    /// Operation tag of the cache key; bump when the processing changes.
    static let version = "v1"

    public struct Statistics {
        public var cacheHits = 0
        public var cacheMisses = 0
        public var pixels = 0
        public var bytes = 0
    }

    /// The intrinsics a frame's image has after undistortion and downscaling.
    public static func intrinsics(of frame: SceneFrame, downscale: Int) throws -> Intrinsics {
        scaled(try plan(for: frame).target, downscale)
    }

    /// The undistortion plan of a frame, after checking its intrinsics
    /// (`UndistortionPlan`) and pose; errors name the frame's image.
    ///
    /// Every frame an engine trains or evaluates on passes here, so a bad
    /// camera from any scene format is reported with its image rather than as
    /// the rasterizer's anonymous "non-finite or non-positive intrinsics or pose".
    static func plan(for frame: SceneFrame) throws -> UndistortionPlan {
        let pose = frame.pose
        let values = pose.rotation.rows.flatMap { [$0.x, $0.y, $0.z] } + [pose.translation.x, pose.translation.y, pose.translation.z]
        // The engines compute in float32: a value beyond its range is as bad as infinity.
        guard values.allSatisfy({ $0.isFinite && abs($0) <= Double(Float.greatestFiniteMagnitude) }) else {
            throw DatasetError(frame.imagePath, "camera: the pose (rotation \(pose.rotation.rows.map { [$0.x, $0.y, $0.z] }), translation \([pose.translation.x, pose.translation.y, pose.translation.z])) must be finite")
        }
        do { return try UndistortionPlan(source: frame.intrinsics, distortion: frame.distortion) } catch let e as DatasetError {
            throw DatasetError(frame.imagePath, "camera: \(e.problem)")
        }
    }

    /// Intrinsics after downscaling by `k`, to the size `Image8.downscaled(by:)` gives.
    static func scaled(_ i: Intrinsics, _ k: Int) -> Intrinsics {
        guard k > 1 else { return i }
        let size = Image8.downscaledSize(width: i.width, height: i.height, by: k)
        return i.scaled(toWidth: size.width, height: size.height)
    }

    public static func load(_ frames: [SceneFrame], root: String, downscale: Int, cache: ImageCache? = nil,
                            progress: ((Int, Int) -> Void)? = nil) throws -> ([LoadedFrame], Statistics) {
        guard downscale >= 1 else { throw DatasetError(root, "--downscale must be an integer >= 1, got \(downscale)") }
        let cache = cache ?? ImageCache(sceneRoot: root)
        var results = [Result<(LoadedFrame, Bool), Error>?](repeating: nil, count: frames.count)
        let lock = NSLock()
        var done = 0
        results.withUnsafeMutableBufferPointer { slots in
            let slots = slots
            DispatchQueue.concurrentPerform(iterations: frames.count) { i in
                let result = Result { try loadOne(frames[i], root: root, downscale: downscale, cache: cache) }
                lock.lock()
                slots[i] = result
                done += 1
                let d = done
                lock.unlock()
                progress?(d, frames.count)
            }
        }
        var stats = Statistics()
        var loaded: [LoadedFrame] = []
        loaded.reserveCapacity(frames.count)
        for r in results {
            let (frame, hit) = try r!.get()
            if hit { stats.cacheHits += 1 } else { stats.cacheMisses += 1 }
            stats.pixels += frame.image.width * frame.image.height
            stats.bytes += frame.image.pixels.count
            loaded.append(frame)
        }
        return (loaded, stats)
    }

    static func loadOne(_ frame: SceneFrame, root: String, downscale: Int, cache: ImageCache) throws -> (LoadedFrame, Bool) {
        let plan = try plan(for: frame)
        let final = scaled(plan.target, downscale)
        let operation = "undistort \(frame.intrinsics) \(frame.distortion) | downscale \(downscale) | \(version)"
        let key = cache.key(source: frame.imagePath, operation: operation)
        if let key, let image = cache.load(key), image.width == final.width, image.height == final.height {
            return (LoadedFrame(frame: frame, intrinsics: final, image: image), true)
        }
        var image: Image8
        if let prescaled = try prescaledImage(frame, root: root, downscale: downscale, expected: final) {
            image = prescaled
        } else {
            let source = try ImageIO.read(path: frame.imagePath)
            guard source.width == frame.intrinsics.width, source.height == frame.intrinsics.height else {
                throw DatasetError(frame.imagePath, "image is \(source.width)x\(source.height) but its camera says \(frame.intrinsics.width)x\(frame.intrinsics.height)")
            }
            image = plan.apply(source)
            if downscale > 1 { image = image.downscaled(by: downscale) }
        }
        guard image.width == final.width, image.height == final.height else {
            throw DatasetError(frame.imagePath, "processed image is \(image.width)x\(image.height), expected \(final.width)x\(final.height)")
        }
        if let key { cache.store(image, key: key) }
        return (LoadedFrame(frame: frame, intrinsics: final, image: image), false)
    }

    /// The foreground mask at `path` of an image of `width` x `height`, as
    /// [H * W] values 0...255 (0 is background), downscaled by `downscale`
    /// like the image (`Image8.downscaled(by:)`: area filter, the same output
    /// size), so that mask pixels stay aligned with image pixels and edge
    /// pixels get partial values.
    ///
    /// Grey masks are used as they are. Masks saved as RGB (DTU's are) take
    /// the largest channel, so a white, red or any non-black object counts as
    /// foreground; RGBA ones are that value times alpha / 255, so both a
    /// black and a transparent background are 0.
    public static func loadMask(_ path: String, width: Int, height: Int, downscale: Int = 1) throws -> [UInt8] {
        guard downscale >= 1 else { throw DatasetError(path, "--downscale must be an integer >= 1, got \(downscale)") }
        let image = try ImageIO.read(path: path)
        guard image.width == width, image.height == height else {
            throw DatasetError(path, "mask is \(image.width)x\(image.height) but its image is \(width)x\(height)")
        }
        let count = width * height
        var mask = [UInt8](repeating: 0, count: count)
        image.pixels.withUnsafeBufferPointer { p in
            switch image.channels {
            case 1:
                for i in 0..<count { mask[i] = p[i] }
            case 3:
                for i in 0..<count { mask[i] = max(p[3 * i], p[3 * i + 1], p[3 * i + 2]) }
            default:
                for i in 0..<count {
                    let value = UInt32(max(p[4 * i], p[4 * i + 1], p[4 * i + 2])) * UInt32(p[4 * i + 3])
                    mask[i] = UInt8((value + 127) / 255)
                }
            }
        }
        guard downscale > 1 else { return mask }
        return Image8(width: width, height: height, channels: 1, pixels: mask).downscaled(by: downscale).pixels
    }

    /// The mask of `frame` (`SceneFrame.maskPath`) at the size of its image
    /// downscaled by `downscale`, or nil when the frame has none. Masks are
    /// not undistorted: only NeuS scenes have them, and their cameras are
    /// pinhole.
    public static func mask(of frame: SceneFrame, downscale: Int = 1) throws -> [UInt8]? {
        guard let path = frame.maskPath else { return nil }
        return try loadMask(path, width: frame.intrinsics.width, height: frame.intrinsics.height, downscale: downscale)
    }

    /// `images_K/<file>` beside `images/<file>` (3DGS convention), when the
    /// camera is undistorted already and the file has the expected size.
    static func prescaledImage(_ frame: SceneFrame, root: String, downscale: Int, expected: Intrinsics) throws -> Image8? {
        guard [2, 4, 8].contains(downscale), frame.distortion.isNone, frame.name.hasPrefix("images/") else { return nil }
        let path = (root as NSString).appendingPathComponent("images_\(downscale)/" + frame.name.dropFirst("images/".count))
        guard FileManager.default.fileExists(atPath: path),
              let size = try? ImageIO.readSize(path: path),
              abs(size.width - expected.width) <= 1, abs(size.height - expected.height) <= 1 else { return nil }
        let image = try ImageIO.read(path: path)
        return image.width == expected.width && image.height == expected.height ? image : nil
    }
}
