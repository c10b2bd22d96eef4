import Compute
import ComputePrimitives
import Datasets
import Fields
import Foundation
import Geometry
import Models
import Splatting
import Viewer

extension RenderModel {
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
        return try Self.upload(rgba: rgba, depth: image.depth, color: color, depthBuffer: depth, device: renderer.device)
    }

    var summary: String { renderer.summary }

    /// NeuS models: N switches between colour and normal shading.
    func press(_ key: String) -> Bool {
        guard key == "N", let nerf = renderer as? NerfModelRenderer, nerf.canShowNormals else { return false }
        nerf.showsNormals.toggle()
        log("splat view: \(nerf.showsNormals ? "normals (camera axes as a normal map)" : "colour")")
        return true
    }

    var status: String? {
        guard let nerf = renderer as? NerfModelRenderer, nerf.canShowNormals else { return nil }
        return nerf.showsNormals ? "normals" : "colour"
    }

    /// A frame made on the host, uploaded in the viewer's layout: `rgba`
    /// [H, W, 4] f32 (colour over the background, then alpha) and `depth` [H, W].
    static func upload(rgba: [Float], depth: [Float], color: ScratchBuffer, depthBuffer: ScratchBuffer,
                       device: ComputeDevice) throws -> (color: BufferRange, depth: BufferRange) {
        let n = depth.count
        let c = try color.atLeast(n * 16, device: device), d = try depthBuffer.atLeast(n * 4, device: device)
        try c.write(rgba, device: device)
        try d.write(depth, device: device)
        return (c.slice(offset: 0, length: n * 16), d.slice(offset: 0, length: n * 4))
    }
}
