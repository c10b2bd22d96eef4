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
        "NeRF (iteration \(model.iteration), \(model.grid.parameterCount + model.density.weightCount + model.colour.weightCount) parameters)"
    }

    public init(device: ComputeDevice, contents: NerfModelFile.Contents) throws {
        model = try NerfTrainer(device: device, model: contents)
    }

    public func render(intrinsics: Intrinsics, pose: Pose, settings: RasterSettings) throws -> RasterImage {
        let image = try model.render(intrinsics: intrinsics, pose: pose, background: settings.background)
        return RasterImage(width: image.width, height: image.height, color: image.color, alpha: image.alpha, depth: image.depth,
                           transmittance: image.alpha.map { 1 - $0 }, contributors: [UInt32](repeating: 0, count: image.alpha.count))
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
