import Compute
import ComputePrimitives
import Datasets
import Foundation
import Geometry
import Training

/// Fits 2D image-plane Gaussians (kind image2d) to one image, as
/// GaussianImage (Zhang et al., ECCV 2024) does: a fixed number of
/// Gaussians, rendered additively at the image's size, optimised with Adam
/// on the photometric loss of 3DGS (L1 and D-SSIM, lambda 0.2: the GPU loss
/// the Gaussian trainer uses). Alpha is premultiplied (an RGBA image is
/// fitted as its colour over black, the additive model's background).
public final class ImageFitter {
    public struct Settings: Equatable, Sendable {
        /// Adam learning rates of the means (pixels), the Cholesky factors (pixels) and the colours.
        public var meanLR: Float = 0.05
        public var choleskyLR: Float = 0.02
        public var colorLR: Float = 0.01
        /// The opacity multiplies the colour, so it is redundant: frozen unless set.
        public var opacityLR: Float = 0
        public var lambdaDSSIM: Float = 0.2
        public var seed: UInt64 = 0
        public init() {}
    }

    public let device: ComputeDevice
    public let rasterizer: GaussianRasterizer
    public let settings: Settings
    public let width: Int
    public let height: Int
    public private(set) var iteration = 0
    let loss: ImageLoss
    let adam: Adam
    let stream: CommandStream
    let target: GPUBuffer                // [H, W] RGBA8 packed in u32
    let gradient: GPUBuffer              // [H, W, 3] f32
    let camera: RasterCamera
    /// Super-resolution: the factor the model is rendered at, and the
    /// bicubic degradation back to the image's size and its adjoint.
    public let upscale: Double?
    let degrade: ImageResample?
    let degradeBackward: ImageResample?
    let degraded: GPUBuffer?          // [h, w, 4] f32: the render brought to the image's size
    let highGradient: GPUBuffer?      // [H, W, 3] f32

    /// `model`: a 2D model to continue from; nil starts `count` Gaussians
    /// from `initialModel(image:count:seed:)`.
    ///
    /// `upscale` s (super-resolution, GSASR's task by fitting): the model is
    /// rendered at round(s x) the image's size and brought back by Pillow's
    /// antialiased bicubic (the degradation that made the usual LR sets)
    /// before the loss, so that `render(scale: s)` is an image whose bicubic
    /// reduction is the input.
    public init(device: ComputeDevice, image: Image8, count: Int, settings: Settings = Settings(), model: GaussianModel? = nil,
                upscale: Double? = nil) throws {
        guard image.width > 0, image.height > 0 else { throw ComputeError.invalidArgument("an empty \(image.width)x\(image.height) image") }
        self.device = device
        self.settings = settings
        width = image.width
        height = image.height
        let start = model ?? Self.initialModel(image: image, count: count, seed: settings.seed)
        guard start.isImage2D else { throw ComputeError.invalidArgument("fitting needs a 2D (image2d) model") }
        rasterizer = try GaussianRasterizer(device: device)
        try rasterizer.setModel(start)
        loss = try ImageLoss(device: device)
        loss.lambda = settings.lambdaDSSIM
        adam = try Adam(device: device)
        stream = try CommandStream(device: device)
        target = try GPUBuffer(device: device, Self.packed(image), label: "fit target")
        gradient = try GPUBuffer(device: device, length: width * height * 12, label: "fit gradient")
        self.upscale = upscale
        if let s = upscale {
            guard s.isFinite, s >= 1 else { throw ComputeError.invalidArgument("upscale factor \(s): must be finite and >= 1") }
            let (W, H) = (Int((Double(width) * s).rounded()), Int((Double(height) * s).rounded()))
            camera = .imagePlane(width: W, height: H, scale: s)
            let rows = SparseAxis.bicubic(inSize: H, outSize: height), columns = SparseAxis.bicubic(inSize: W, outSize: width)
            degrade = try ImageResample(device: device, rows: rows, columns: columns)
            degradeBackward = try ImageResample(device: device, rows: rows.transposed, columns: columns.transposed)
            degraded = try GPUBuffer(device: device, [Float](repeating: 0, count: width * height * 4), label: "fit degraded render")
            highGradient = try GPUBuffer(device: device, length: W * H * 12, label: "fit high-resolution gradient")
        } else {
            camera = .imagePlane(width: width, height: height, scale: 1)
            degrade = nil
            degradeBackward = nil
            degraded = nil
            highGradient = nil
        }
    }

    /// The image as RGBA8 packed in u32 with alpha premultiplied and 255 (grey as R = G = B).
    static func packed(_ image: Image8) -> [UInt32] {
        let c = image.channels
        return (0..<(image.width * image.height)).map { p in
            let alpha = c == 4 ? UInt32(image.pixels[c * p + 3]) : 255
            func channel(_ k: Int) -> UInt32 {
                let v = UInt32(image.pixels[c * p + (c >= 3 ? k : 0)])
                return (v * alpha + 127) / 255
            }
            return channel(0) | channel(1) << 8 | channel(2) << 16 | 0xff00_0000
        }
    }

    /// The image as the fit sees it: RGB, alpha premultiplied, grey as R = G = B.
    public static func premultipliedRGB(_ image: Image8) -> [UInt8] {
        packed(image).flatMap { [UInt8($0 & 0xff), UInt8(($0 >> 8) & 0xff), UInt8(($0 >> 16) & 0xff)] }
    }

    /// `count` Gaussians at uniformly random pixels, round (standard
    /// deviation such that they cover the image about twice), each with the
    /// colour of its pixel divided by the expected overlap, so the first
    /// render is a blurred copy of the image.
    public static func initialModel(image: Image8, count: Int, seed: UInt64) -> GaussianModel {
        var rng = SplitMix64(seed: seed)
        var m = GaussianModel.image2D(count: count)
        let area = Double(image.width * image.height)
        let sigma = max(0.5, (2 * area / (Double(max(count, 1)) * 2 * Double.pi)).squareRoot())
        // Overlap at a pixel: count / area x 2 pi sigma^2 (the integral of each
        // Gaussian), times the opacity sigmoid(8).
        let overlap = Double(count) / area * 2 * Double.pi * sigma * sigma * (1 / (1 + exp(-8.0)))
        let c = image.channels
        for i in 0..<count {
            let x = rng.uniform(0, Float(image.width)), y = rng.uniform(0, Float(image.height))
            m.means2D[2 * i] = x
            m.means2D[2 * i + 1] = y
            m.cholesky[3 * i] = Float(sigma)
            m.cholesky[3 * i + 1] = 0
            m.cholesky[3 * i + 2] = Float(sigma)
            let p = min(Int(y), image.height - 1) * image.width + min(Int(x), image.width - 1)
            let alpha = c == 4 ? Float(image.pixels[c * p + 3]) / 255 : 1
            for k in 0..<3 {
                m.colors[3 * i + k] = Float(image.pixels[c * p + (c >= 3 ? k : 0)]) / 255 * alpha / Float(overlap)
            }
        }
        return m
    }

    /// One Adam step; returns the loss (mean L1 and 1 - SSIM mixed) when `readLoss`.
    @discardableResult
    public func step(readLoss: Bool = false) throws -> Float? {
        iteration += 1
        try rasterizer.renderOnDevice(camera: camera, settings: GaussianImagePlane.settings())
        let g = gradient.slice(offset: 0, length: width * height * 12)
        stream.reset()
        var rendered = rasterizer.colorBuffer!
        if let degrade, let degraded {
            let low = degraded.slice(offset: 0, length: width * height * 16)
            try degrade.record(stream, input: rendered, inStride: 4, output: low, outStride: 4, channels: 3)
            rendered = low
        }
        try loss.record(stream, rendered: rendered, target: target.slice(offset: 0, length: width * height * 4),
                        gradient: g, width: width, height: height)
        var upstream: BufferRange = g
        if let degradeBackward, let highGradient {
            let high = highGradient.slice(offset: 0, length: camera.width * camera.height * 12)
            try degradeBackward.record(stream, input: g, inStride: 3, output: high, outStride: 3, channels: 3)
            upstream = high
        }
        try stream.run()
        try rasterizer.backwardOnDevice(gradColor: upstream)
        adam.beginStep()
        stream.reset()
        for group in rasterizer.trainableGroups() {
            let rate = learningRate(group.name)
            guard rate > 0 else { continue }
            try adam.record(stream, group: group.name, parameters: group.parameters, gradients: group.gradients,
                            count: group.count, learningRate: rate)
        }
        try stream.run()
        return readLoss ? try loss.values().loss : nil
    }

    /// The Adam learning rate of a group of the image2d schema (0: frozen).
    func learningRate(_ group: String) -> Float {
        switch group {
        case "means_2d": return settings.meanLR
        case "cholesky": return settings.choleskyLR
        case "colors": return settings.colorLR
        case "opacities": return settings.opacityLR
        default: return 0
        }
    }

    /// The model rendered at `scale` times the image's size (rounded), RGB composited over black.
    public func render(scale: Double = 1) throws -> RasterImage {
        let w = max(1, Int((Double(width) * scale).rounded())), h = max(1, Int((Double(height) * scale).rounded()))
        return try rasterizer.render(camera: .imagePlane(width: w, height: h, scale: scale), settings: GaussianImagePlane.settings())
    }

    /// The current model.
    public func model() throws -> GaussianModel { try rasterizer.currentModel() }
}

extension SparseAxis {
    /// Pillow's bicubic weights for `inSize` -> `outSize` pixels (BicubicResize.weights).
    public static func bicubic(inSize: Int, outSize: Int) -> SparseAxis {
        let w = BicubicResize.weights(inSize: inSize, outSize: outSize)
        var offsets: [UInt32] = [0], indices: [UInt32] = [], weights: [Float] = []
        for (first, row) in zip(w.first, w.weights) {
            for (j, weight) in row.enumerated() { indices.append(UInt32(first + j)); weights.append(Float(weight)) }
            offsets.append(UInt32(indices.count))
        }
        return SparseAxis(offsets: offsets, indices: indices, weights: weights, inputSize: inSize)
    }
}
