import Datasets
import Foundation
import Geometry

/// The NeRF's scene box: where its occupancy grid's cascade 0 sits in the
/// dataset's world frame.
public enum NerfSceneBox {
    /// Cascade 0 of the occupancy grid in the world frame, and aabb_scale
    /// (docs/conventions.md): for a NeuS/IDR scene, the cube holding its
    /// region-of-interest sphere (scale_mat's unit sphere); for a transforms.json with instant-ngp's extras, its
    /// unit cube mapped back into the world frame (ngp = cycle(world) scale +
    /// offset, cycle (x, y, z) -> (y, z, x)); for cameras that look inward
    /// at one spot (an object captured from around it, as NeRF-synthetic
    /// scenes are), the cube around that spot that every camera sees whole;
    /// otherwise a cube of the camera extent's size around the camera centroid.
    public static func box(_ scene: Scene, aabbScale override: Int?) -> (center: Vector3, size: Double, aabbScale: Int) {
        // instant-ngp's aabb_scale is at most 128; a file's value is clamped before it becomes an Int.
        let fileScale = min(max(scene.ngp?.aabbScale ?? 1, 1), 128)
        let aabb = max(1, override ?? Int(fileScale.isFinite ? fileScale.rounded(.up) : 1))
        var p = 1
        while p < aabb { p *= 2 }  // cascades double: a power of two
        // NeuS/IDR scenes name their region of interest: the cube around its sphere.
        if let sphere = scene.regionOfInterest { return (sphere.center, 2 * sphere.radius, p) }
        if let ngp = scene.ngp, ngp.scale > 0 {
            let c = (Vector3(0.5, 0.5, 0.5) - ngp.offset) / ngp.scale  // cycled axes
            return (Vector3(c.z, c.x, c.y), 1 / ngp.scale, p)
        }
        if let inward = inwardBox(scene.trainFrames) { return (inward.center, inward.size, p) }
        return (scene.normalization.center, scene.normalization.extent, p)
    }

    /// The point nearest to every training camera's optical axis (least
    /// squares), when it lies in front of all of them and the axes pass
    /// within a quarter of the mean distance of it: the cube centred there
    /// whose bounding sphere fits every camera's field of view.
    public static func inwardBox(_ frames: [SceneFrame]) -> (center: Vector3, size: Double)? {
        guard frames.count >= 3, let x = Pose.lookAtPoint(frames.map(\.pose)) else { return nil }
        var radius = Double.infinity, along = 0.0, off = 0.0
        for f in frames {
            let v = x - f.pose.position, d = f.pose.forward.normalized
            let depth = v.dot(d)
            guard depth > 0 else { return nil }
            along += v.length
            off += (v - d * depth).length
            let halfFov = min(f.intrinsics.fovX, f.intrinsics.fovY) / 2
            radius = min(radius, v.length * sin(halfFov))
        }
        guard off < 0.25 * along, radius.isFinite, radius > 0 else { return nil }
        return (x, 2 * radius)
    }

}
