import CShaderLayouts
import Compute
import Datasets
import Geometry

/// The tile size of the rasterizer (3DGS, gsplat): 16x16 pixels.
public let rasterTileSize = 16

/// A pinhole camera as the rasterizer uses it: OpenCV axes, world-to-camera
/// rotation (row-major) and translation, intrinsics in pixels of the output.
public struct RasterCamera: Equatable {
    public var width: Int
    public var height: Int
    public var fx: Float
    public var fy: Float
    public var cx: Float
    public var cy: Float
    public var rotation: [Float]     // [3, 3] f32, row-major, world-to-camera
    public var translation: [Float]  // [3] f32

    public init(width: Int, height: Int, fx: Float, fy: Float, cx: Float, cy: Float, rotation: [Float], translation: [Float]) {
        precondition(rotation.count == 9 && translation.count == 3, "RasterCamera needs a 3x3 rotation and a 3-vector")
        self.width = width
        self.height = height
        self.fx = fx
        self.fy = fy
        self.cx = cx
        self.cy = cy
        self.rotation = rotation
        self.translation = translation
    }

    public init(intrinsics i: Intrinsics, pose: Pose) {
        self.init(width: i.width, height: i.height, fx: Float(i.fx), fy: Float(i.fy), cx: Float(i.cx), cy: Float(i.cy),
                  rotation: pose.rotation.rows.flatMap { [Float($0.x), Float($0.y), Float($0.z)] },
                  translation: [Float(pose.translation.x), Float(pose.translation.y), Float(pose.translation.z)])
    }

    /// Camera centre in world coordinates: -R^T t.
    public var position: SIMD3<Float> {
        let r = rotation, t = translation
        return -SIMD3<Float>(r[0] * t[0] + r[3] * t[1] + r[6] * t[2],
                             r[1] * t[0] + r[4] * t[1] + r[7] * t[2],
                             r[2] * t[0] + r[5] * t[1] + r[8] * t[2])
    }

    public var tilesX: Int { (width + rasterTileSize - 1) / rasterTileSize }
    public var tilesY: Int { (height + rasterTileSize - 1) / rasterTileSize }
}

/// How the splats' payloads combine into a pixel (`splat_blend`).
public enum BlendMode: Hashable, Sendable {
    /// Front-to-back alpha compositing over the background (3DGS):
    /// C = sum p_i alpha_i T_i + T_N bg, alpha = min(0.99, o exp(power)).
    case alpha
    /// Order-independent accumulation (GaussianImage): C = sum p_i w_i + bg,
    /// w = o exp(power); the alpha output is sum w_i.
    case additive
}

/// The layout of the per-Gaussian payload the blend stage splats: C dense
/// channels ([N, C] f32), or K sparse (channel, weight) pairs per Gaussian
/// splatted into L channels ([N, K, 2] f32, the channel index stored as its
/// UInt32 bit pattern), as LangSplatV2's sparse coefficients need.
public struct PayloadLayout: Hashable, Sendable {
    /// Output channels: C (dense) or L (sparse).
    public var channels: Int
    /// K pairs per Gaussian; 0 for a dense payload.
    public var sparsePairs: Int
    /// Sparse payloads of G side-by-side fields (a language field's levels):
    /// the pairs come in G equal groups, and group g names only channels
    /// g L/G ..< (g + 1) L/G. The blend then visits each group's pairs in
    /// its own channel chunk alone. 1: any pair may name any channel.
    public var sparseGroups: Int

    public init(channels: Int, sparsePairs: Int = 0, sparseGroups: Int = 1) {
        self.channels = channels
        self.sparsePairs = sparsePairs
        self.sparseGroups = sparseGroups
    }

    /// RGB, the 3D front end's payload.
    public static let rgb = PayloadLayout(channels: 3)

    /// Floats per Gaussian in the payload buffer: C, or 2K.
    public var stride: Int { sparsePairs > 0 ? 2 * sparsePairs : channels }

    /// What is wrong with the layout (nil when usable).
    public var problem: String? {
        if channels < 1 || channels > 4096 { return "\(channels) channels (1 to 4096 are supported)" }
        if sparsePairs < 0 || sparsePairs > 32 { return "\(sparsePairs) sparse pairs (0 to 32 are supported)" }
        if sparseGroups != 1 {
            guard sparsePairs > 0, sparseGroups > 1, sparsePairs % sparseGroups == 0, channels % sparseGroups == 0,
                  channels / sparseGroups <= GaussianRasterizer.maxSparseChunk else {
                return "\(sparseGroups) sparse groups of \(sparsePairs) pairs over \(channels) channels (groups must divide both, at most \(GaussianRasterizer.maxSparseChunk) channels each)"
            }
        }
        return nil
    }
}

/// A payload the caller supplies in place of the front end's (for kinds
/// whose payload is itself a parameter, and for tests).
public struct RasterPayload {
    public var layout: PayloadLayout
    /// [N, layout.stride] f32.
    public var buffer: GPUBuffer

    public init(layout: PayloadLayout, buffer: GPUBuffer) {
        self.layout = layout
        self.buffer = buffer
    }
}

/// One specialisation of the blend kernels.
struct BlendVariant: Hashable {
    var channels: Int
    var sparsePairs: Int
    /// Channels per workgroup (grid z covers the channels).
    var chunk: Int
    var mode: BlendMode
    var pixelsPerThread: Int
    /// Splats staged in shared memory per round.
    var batch: Int = Int(RASTER_BATCH)
    /// PayloadLayout.sparseGroups.
    var sparseGroups: Int = 1
}

/// What changes a rendering besides the Gaussians and the camera.
public struct RasterSettings: Equatable {
    /// Colour behind the Gaussians (RGB in [0, 1]).
    public var background: SIMD3<Float>
    /// gsplat's "antialiased" mode: opacity x sqrt(det_before / det_after) of the 0.3 dilation.
    public var antialias: Bool
    /// Spherical-harmonics degree to evaluate (<= the model's); nil: the model's.
    public var shDegree: Int?
    /// How payloads combine (alpha compositing for 3D Gaussians).
    public var blendMode: BlendMode
    /// The background per payload channel when the payload is not RGB (nil: zeros).
    public var channelBackgroundValues: [Float]?
    /// The frame's time, for kinds with time.
    public var time: Float

    public init(background: SIMD3<Float> = .zero, antialias: Bool = false, shDegree: Int? = nil,
                blendMode: BlendMode = .alpha, channelBackground: [Float]? = nil, time: Float = 0) {
        self.background = background
        self.antialias = antialias
        self.shDegree = shDegree
        self.blendMode = blendMode
        self.channelBackgroundValues = channelBackground
        self.time = time
    }

    /// The background of each of `channels` channels: the given values, the
    /// RGB background for 3 channels, else zeros.
    public func channelBackground(channels: Int) -> [Float] {
        if let channelBackgroundValues { return channelBackgroundValues }
        if channels == 3 { return [background.x, background.y, background.z] }
        return [Float](repeating: 0, count: channels)
    }
}

/// Rasterizer constants (docs/conventions.md, "Gaussian rasterizer constants"); shared by the GPU
/// kernels (through layouts.h) and the Swift twins.
public enum RasterConstants {
    public static let nearPlane: Float = 0.01
    public static let dilation: Float = 0.3
    public static let maxAlpha: Float = 0.99
    public static let minAlpha: Float = 1.0 / 255.0
    public static let minTransmittance: Float = 1e-4
    public static let maxExtent: Float = 3.33
    public static let shC0: Float = 0.28209479177387814
}

/// One rendered frame, on the CPU.
public struct RasterImage: Equatable {
    public var width: Int
    public var height: Int
    /// Payload channels C (3: RGB).
    public var channels: Int
    public var color: [Float]          // [H, W, C] f32: blended payload + T * background
    public var alpha: [Float]          // [H, W] f32: 1 - T
    public var depth: [Float]          // [H, W] f32: sum of T_i alpha_i z_i (divide by alpha for expected depth)
    public var transmittance: [Float]  // [H, W] f32: final T
    public var contributors: [UInt32]  // [H, W] u32: Gaussians blended into the pixel

    public init(width: Int, height: Int, channels: Int = 3, color: [Float], alpha: [Float], depth: [Float],
                transmittance: [Float], contributors: [UInt32]) {
        self.width = width
        self.height = height
        self.channels = channels
        self.color = color
        self.alpha = alpha
        self.depth = depth
        self.transmittance = transmittance
        self.contributors = contributors
    }

    /// Alpha-normalised expected depth (0 where nothing was blended).
    public var expectedDepth: [Float] { zip(depth, alpha).map { $1 > 0 ? $0 / $1 : 0 } }
}
