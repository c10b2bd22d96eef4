import Compute
import ComputePrimitives
import Datasets
import Fields
import Foundation
import Geometry
import Splatting
import Viewer

/// What `splat render`, `eval` and `view` draw a model with: the Gaussian
/// rasterizer or the NeRF volume renderer, behind one call that returns a
/// `RasterImage` (colour over the background, alpha, depth sum).
protocol ModelRenderer: AnyObject {
    var device: ComputeDevice { get }
    /// One line for logs and the viewer's banner ("12,345 Gaussians", "NeRF ...").
    var summary: String { get }
    func render(intrinsics: Intrinsics, pose: Pose, settings: RasterSettings) throws -> RasterImage
}

final class GaussianModelRenderer: ModelRenderer {
    let rasterizer: GaussianRasterizer
    var device: ComputeDevice { rasterizer.device }
    var summary: String { "\(rasterizer.gaussianCount) Gaussians" }

    init(device: ComputeDevice, model: GaussianModel) throws {
        rasterizer = try GaussianRasterizer(device: device)
        try rasterizer.setModel(model)
    }

    func render(intrinsics: Intrinsics, pose: Pose, settings: RasterSettings) throws -> RasterImage {
        try rasterizer.render(camera: RasterCamera(intrinsics: intrinsics, pose: pose), settings: settings)
    }
}

/// A trained NeRF (`model.nerf`): rays marched through its occupancy grid in
/// rounds, as `NerfTrainer.render` does. `settings.antialias` does not apply.
final class NerfModelRenderer: ModelRenderer {
    let model: NerfTrainer
    var device: ComputeDevice { model.device }
    var summary: String {
        "NeRF (iteration \(model.iteration), \(model.grid.parameterCount + model.density.weightCount + model.colour.weightCount) parameters)"
    }

    init(device: ComputeDevice, contents: NerfModelFile.Contents) throws {
        model = try NerfTrainer(device: device, model: contents)
    }

    func render(intrinsics: Intrinsics, pose: Pose, settings: RasterSettings) throws -> RasterImage {
        let image = try model.render(intrinsics: intrinsics, pose: pose, background: settings.background)
        return RasterImage(width: image.width, height: image.height, color: image.color, alpha: image.alpha, depth: image.depth,
                           transmittance: image.alpha.map { 1 - $0 }, contributors: [UInt32](repeating: 0, count: image.alpha.count))
    }
}

extension RenderModel {
    func renderer(device: ComputeDevice) throws -> ModelRenderer {
        switch content {
        case .gaussians(let g): return try GaussianModelRenderer(device: device, model: g)
        case .nerf(let n): return try NerfModelRenderer(device: device, contents: n)
        }
    }

    /// The viewer's frame source: Gaussians stay on the device end to end;
    /// other models are rendered by their `ModelRenderer` and uploaded.
    func frameSource(device: ComputeDevice, settings: RasterSettings) throws -> ViewerFrameSource {
        switch content {
        case .gaussians(let g): return try GaussianFrameSource(device: device, model: g, settings: settings)
        case .nerf: return ModelFrameSource(renderer: try renderer(device: device), settings: settings)
        }
    }
}

/// Any `ModelRenderer` as the viewer's frame source: the frame is rendered,
/// then uploaded as the viewer's layout ([H, W] RGBA f32 and [H, W] depth sum).
final class ModelFrameSource: ViewerFrameSource {
    let renderer: ModelRenderer
    var settings: RasterSettings
    let color = ScratchBuffer(label: "viewer frame colour"), depth = ScratchBuffer(label: "viewer frame depth")

    init(renderer: ModelRenderer, settings: RasterSettings) {
        self.renderer = renderer
        self.settings = settings
    }

    func render(intrinsics: Intrinsics, pose: Pose, background: SIMD3<Float>) throws -> (color: BufferRange, depth: BufferRange) {
        var s = settings
        s.background = background
        let image = try renderer.render(intrinsics: intrinsics, pose: pose, settings: s)
        let n = image.width * image.height
        var rgba = [Float](repeating: 0, count: n * 4)
        for p in 0..<n {
            for c in 0..<3 { rgba[4 * p + c] = image.color[3 * p + c] }
            rgba[4 * p + 3] = image.alpha[p]
        }
        let device = renderer.device
        let c = try color.atLeast(n * 16, device: device), d = try depth.atLeast(n * 4, device: device)
        try c.write(rgba, device: device)
        try d.write(image.depth, device: device)
        return (c.slice(offset: 0, length: n * 16), d.slice(offset: 0, length: n * 4))
    }

    var summary: String { renderer.summary }
}
