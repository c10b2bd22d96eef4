import ArgumentParser
import Compute
import Datasets
import Foundation
import Models
import Splatting

/// A 2D image model (kind image2d, `splat fit`): its Gaussians and the size
/// of the image they were fitted to (unknown for a bare .ply).
struct ImageModel {
    var gaussians: GaussianModel
    var path: String
    var width: Int?
    var height: Int?

    /// A `splat fit` output folder (model.json kind image2d) or a .ply of
    /// 2D Gaussians; nil for any other model.
    static func load(_ path: String) throws -> ImageModel? {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { return nil }
        if isFolder.boolValue {
            let json = (path as NSString).appendingPathComponent("model.json")
            guard let data = try? StrictJSON.readFile(json, limit: 1 << 20),
                  let root = try? StrictJSON.parse(data, path: json), case .string("image2d")? = root["kind"] else { return nil }
            func whole(_ key: String) throws -> Int {
                guard case .number(let v, _)? = root[key], v >= 1, v <= 1_048_576, v == v.rounded() else {
                    throw DatasetError(json, "\"\(key)\" must be a whole number of pixels")
                }
                return Int(v)
            }
            let file = (path as NSString).appendingPathComponent("model.ply")
            let model = try GaussianModelFile.read(path: file)
            guard model.isImage2D else { throw DatasetError(file, "model.json says image2d, but the file holds \(model.kind) Gaussians") }
            return ImageModel(gaussians: model, path: file, width: try whole("width"), height: try whole("height"))
        }
        guard path.hasSuffix(".ply") else { return nil }
        let model = try GaussianModelFile.read(path: path)
        return model.isImage2D ? ImageModel(gaussians: model, path: path, width: nil, height: nil) : nil
    }
}

extension Render {
    /// `splat render IMAGE_MODEL (--scale S | --width W --height H) --out DIR`: DIR/00000.png.
    func renderImage(_ image: ImageModel) throws {
        if cameras != nil || orbit != nil || time != nil || times != nil || depth || video != nil {
            throw DatasetError(model, "a 2D image model (image2d) renders at a scale: give --scale S or --width W --height H (no cameras, orbit, time, depth or video)")
        }
        let (w0, h0) = (image.width, image.height)
        let outWidth: Int, outHeight: Int
        var scaleX: Double, scaleY: Double
        if let scale {
            guard let w0, let h0 else {
                throw DatasetError(model, "a bare .ply of 2D Gaussians does not record its image's size: give --width W --height H (pixels of the fitted image), or render the splat fit folder")
            }
            (outWidth, outHeight) = (max(1, Int((Double(w0) * scale).rounded())), max(1, Int((Double(h0) * scale).rounded())))
            (scaleX, scaleY) = (scale, scale)
        } else {
            guard let width, let height else { throw ValidationError("give --scale S, or --width W and --height H") }
            (outWidth, outHeight) = (width, height)
            // A bare .ply: its Gaussians are in output pixels (scale 1).
            scaleX = w0.map { Double(width) / Double($0) } ?? 1
            scaleY = h0.map { Double(height) / Double($0) } ?? 1
        }
        try OutputFolder.prepare(out)
        let device = try ComputeDevice.make()
        let rasterizer = try GaussianRasterizer(device: device)
        try rasterizer.setModel(image.gaussians)
        var camera = RasterCamera.imagePlane(width: outWidth, height: outHeight, scale: scaleX)
        camera.fy = Float(scaleY)
        var settings = GaussianImagePlane.settings(antialias: antialias)
        if let background, background == "white" { settings.background = SIMD3(1, 1, 1) }
        let frame = try rasterizer.render(camera: camera, settings: settings)
        let path = (out as NSString).appendingPathComponent("00000.png")
        try ImageIO.writePNG(RenderOutput.rgb(frame), to: path)
        log("splat render: \(image.gaussians.count) 2D Gaussians at \(outWidth)x\(outHeight) (scale \(String(format: "%.4g", scaleX))) to \(path)")
    }
}
