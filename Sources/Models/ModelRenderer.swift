import Compute
import Datasets
import Fields
import Foundation
import Geometry
import Splatting

/// What `splat render`, `eval` and `view` draw a model with: the Gaussian
/// rasterizer or the NeRF volume renderer, behind one call that returns a
/// `RasterImage` (colour over the background, alpha, depth sum).
public protocol ModelRenderer: AnyObject {
    var device: ComputeDevice { get }
    /// One line for logs and the viewer's banner ("12,345 Gaussians", "NeRF ...").
    var summary: String { get }
    func render(intrinsics: Intrinsics, pose: Pose, settings: RasterSettings) throws -> RasterImage
}

public final class GaussianModelRenderer: ModelRenderer {
    public let rasterizer: GaussianRasterizer
    public var device: ComputeDevice { rasterizer.device }
    public var summary: String { "\(rasterizer.gaussianCount) Gaussians" }

    public init(device: ComputeDevice, model: GaussianModel) throws {
        rasterizer = try GaussianRasterizer(device: device)
        try rasterizer.setModel(model)
    }

    public func render(intrinsics: Intrinsics, pose: Pose, settings: RasterSettings) throws -> RasterImage {
        try rasterizer.render(camera: RasterCamera(intrinsics: intrinsics, pose: pose), settings: settings)
    }
}

/// A trained NeRF (`model.nerf`): rays marched through its occupancy grid in
/// rounds, as `NerfTrainer.render` does. `settings.antialias` does not apply.
public final class NerfModelRenderer: ModelRenderer {
    public let model: NerfTrainer
    public var device: ComputeDevice { model.device }
    public var summary: String {
        "\(model.config.isSDF ? "NeuS" : "NeRF") (iteration \(model.iteration), \(model.grid.parameterCount + model.density.weightCount + model.colour.weightCount) parameters)"
    }

    public init(device: ComputeDevice, contents: NerfModelFile.Contents) throws {
        model = try NerfTrainer(device: device, model: contents)
    }

    /// An SDF field (NeuS) can show its normals instead of its colours
    /// (`splat render --normals`, the viewer's N key).
    public var showsNormals = false
    public var canShowNormals: Bool { model.config.isSDF }

    public func render(intrinsics: Intrinsics, pose: Pose, settings: RasterSettings) throws -> RasterImage {
        var image = try model.render(intrinsics: intrinsics, pose: pose, background: settings.background, normals: showsNormals)
        if showsNormals { image.color = Self.normalShading(image, pose: pose, background: settings.background) }
        return RasterImage(width: image.width, height: image.height, color: image.color, alpha: image.alpha, depth: image.depth,
                           transmittance: image.alpha.map { 1 - $0 }, contributors: [UInt32](repeating: 0, count: image.alpha.count))
    }
}

extension NerfModelRenderer {
    /// [H, W, 3] colours of the composited normals in camera axes, as normal
    /// maps draw them: (1 + (x, -y, -z)) / 2 of OpenCV's camera axes (a
    /// surface facing the camera is blue, up is green, right is red), over
    /// the background where the surface does not cover the pixel.
    public static func normalShading(_ image: NerfTrainer.Image, pose: Pose, background: SIMD3<Float>) -> [Float] {
        let r = pose.rotation
        var color = [Float](repeating: 0, count: image.width * image.height * 3)
        for p in 0..<(image.width * image.height) {
            let n = Vector3(Double(image.normal[3 * p]), Double(image.normal[3 * p + 1]), Double(image.normal[3 * p + 2]))
            let c = r * n  // world -> camera axes (sum of weighted unit normals: length <= alpha)
            let a = image.alpha[p]
            let mapped = SIMD3<Float>(Float(c.x), Float(-c.y), Float(-c.z))
            for k in 0..<3 { color[3 * p + k] = 0.5 * a + 0.5 * mapped[k] + (1 - a) * background[k] }
        }
        return color
    }
}

extension RenderModel {
    public func renderer(device: ComputeDevice) throws -> ModelRenderer {
        switch content {
        case .gaussians(let g): return try GaussianModelRenderer(device: device, model: g)
        case .nerf(let n): return try NerfModelRenderer(device: device, contents: n)
        }
    }
}
