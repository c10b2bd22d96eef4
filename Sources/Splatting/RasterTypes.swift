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

/// What changes a rendering besides the Gaussians and the camera.
public struct RasterSettings: Equatable {
    /// Colour behind the Gaussians (RGB in [0, 1]).
    public var background: SIMD3<Float>
    /// gsplat's "antialiased" mode: opacity x sqrt(det_before / det_after) of the 0.3 dilation.
    public var antialias: Bool
    /// Spherical-harmonics degree to evaluate (<= the model's); nil: the model's.
    public var shDegree: Int?

    public init(background: SIMD3<Float> = .zero, antialias: Bool = false, shDegree: Int? = nil) {
        self.background = background
        self.antialias = antialias
        self.shDegree = shDegree
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
    public var color: [Float]          // [H, W, 3] f32: C + T * background
    public var alpha: [Float]          // [H, W] f32: 1 - T
    public var depth: [Float]          // [H, W] f32: sum of T_i alpha_i z_i (divide by alpha for expected depth)
    public var transmittance: [Float]  // [H, W] f32: final T
    public var contributors: [UInt32]  // [H, W] u32: Gaussians blended into the pixel

    public init(width: Int, height: Int, color: [Float], alpha: [Float], depth: [Float],
                transmittance: [Float], contributors: [UInt32]) {
        self.width = width
        self.height = height
        self.color = color
        self.alpha = alpha
        self.depth = depth
        self.transmittance = transmittance
        self.contributors = contributors
    }

    /// Alpha-normalised expected depth (0 where nothing was blended).
    public var expectedDepth: [Float] { zip(depth, alpha).map { $1 > 0 ? $0 / $1 : 0 } }
}
