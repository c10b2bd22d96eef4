import Foundation
import Geometry

/// What `splat info SCENE` prints: format, cameras, split, points, bounds.
public struct SceneSummary {
    public let scene: Scene

    public init(_ scene: Scene) { self.scene = scene }

    func counted(_ values: [String]) -> [(String, Int)] {
        var counts: [String: Int] = [:]
        for v in values { counts[v, default: 0] += 1 }
        return counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
    }

    var models: [(String, Int)] { counted(scene.frames.map(\.cameraModel)) }
    var resolutions: [(String, Int)] { counted(scene.frames.map { "\($0.intrinsics.width)x\($0.intrinsics.height)" }) }
    var masked: Int { scene.frames.filter { $0.maskPath != nil }.count }
    var distorted: Int { scene.frames.filter { !$0.distortion.isNone }.count }
    func count(_ split: Split) -> Int { scene.frames.filter { $0.split == split }.count }

    static func format(_ v: Vector3) -> String { String(format: "(%.4g, %.4g, %.4g)", v.x, v.y, v.z) }

    public var text: String {
        let list = { (items: [(String, Int)]) in items.prefix(6).map { "\($0.0) x\($0.1)" }.joined(separator: ", ") + (items.count > 6 ? ", ..." : "") }
        var lines = [
            "scene: \(scene.root)",
            "format: \(scene.format.rawValue)",
            "images: \(scene.frames.count) (train \(count(.train)), test \(count(.test)), val \(count(.val)))",
            "split: \(scene.splitSource.isEmpty ? "from the scene's files" : scene.splitSource)",
            "camera models: \(list(models))",
            "resolutions: \(list(resolutions))",
            "distortion: \(distorted == 0 ? "none" : "\(distorted) images distorted; undistorted to pinhole cameras on load")",
            "points: \(scene.points.map { "\($0.count)" } ?? "none (training starts from random points in the scene box)")",
        ]
        if let b = scene.bounds { lines.append("bounds (\(scene.points == nil ? "cameras" : "points")): min \(Self.format(b.min)) max \(Self.format(b.max))") }
        lines.append("cameras: centre \(Self.format(scene.normalization.center)), extent \(String(format: "%.4g", scene.normalization.extent))")
        if let roi = scene.regionOfInterest {
            lines.append("region of interest: centre \(Self.format(roi.center)), radius \(String(format: "%.4g", roi.radius))")
        }
        if masked > 0 { lines.append("masks: \(masked) of \(scene.frames.count) images") }
        if let ngp = scene.ngp {
            lines.append("instant-ngp: aabb_scale \(ngp.aabbScale.map { String($0) } ?? "none"), scale \(ngp.scale), offset \(Self.format(ngp.offset))")
        }
        if scene.frames.contains(where: { $0.time != nil }) {
            lines.append("dynamic: every frame has a time (training picks 4D Gaussians, --method auto)")
            for split in Split.allCases {
                let times = scene.frames.filter { $0.split == split }.compactMap(\.time)
                guard let lo = times.min(), let hi = times.max() else { continue }
                lines.append(String(format: "time (%@): %.4g to %.4g over %d frames (%d distinct times)", split.rawValue, lo, hi, times.count, Set(times).count))
            }
        }
        return lines.joined(separator: "\n")
    }

    public var json: [String: Any] {
        var object: [String: Any] = [
            "scene": scene.root,
            "format": scene.format.rawValue,
            "images": scene.frames.count,
            "split": ["train": count(.train), "test": count(.test), "val": count(.val), "source": scene.splitSource],
            "camera_models": Dictionary(models, uniquingKeysWith: +),
            "resolutions": Dictionary(resolutions, uniquingKeysWith: +),
            "distorted_images": distorted,
            "points": scene.points?.count ?? 0,
            "center": [scene.normalization.center.x, scene.normalization.center.y, scene.normalization.center.z],
            "extent": scene.normalization.extent,
        ]
        if let roi = scene.regionOfInterest {
            object["region_of_interest"] = ["center": [roi.center.x, roi.center.y, roi.center.z], "radius": roi.radius]
        }
        if masked > 0 { object["masks"] = masked }
        if let b = scene.bounds { object["bounds"] = ["min": [b.min.x, b.min.y, b.min.z], "max": [b.max.x, b.max.y, b.max.z]] }
        var times: [String: Any] = [:]
        for split in Split.allCases {
            let t = scene.frames.filter { $0.split == split }.compactMap(\.time)
            if let lo = t.min(), let hi = t.max() { times[split.rawValue] = ["min": lo, "max": hi, "frames": t.count] }
        }
        if !times.isEmpty { object["time"] = times }
        return object
    }
}
