import Foundation
import Geometry
import Datasets

/// A deterministic random Gaussian scene for tests and benchmarks.
///
/// `make(count:seed:)` draws `count` Gaussians (SH degree 3) from its own
/// SplitMix64 generator, so the same (count, seed) gives the same model on
/// every run (normals use Box-Muller through libm log/cos, rounded to Float):
/// - positions uniform in the box x in [-5, 5], y in [-3, 3], z in [2, 8]
///   (world units), in front of `defaultCamera` and wider than its view, so that
///   about 42 % of them are on screen at 16:9;
/// - log-scales: per Gaussian ln(0.0115) + N(0, 0.35^2), plus N(0, 0.25^2) per axis
///   (mildly anisotropic);
/// - rotations: unnormalised quaternions with N(0, 1) components;
/// - opacities: uniform in [0.05, 0.6], stored as logits;
/// - SH: DC uniform in [-1.5, 1.5], rest uniform in [-0.1, 0.1].
///
/// Measured with `RasterizerReference` (100k Gaussians, seed 1, 1280x720 from
/// `defaultCamera`, classic mode; antialiased mode within 1 %):
/// - 42,404 visible Gaussians; 3.99 tiles per visible Gaussian (median 4, 90th
///   percentile 6, max 56), mean per-axis radius 7.9 px;
/// - 47.0 Gaussians per pixel whose tile rectangle covers the pixel (the
///   rasterizer's per-pixel work: the "Gaussians per pixel" of the benchmarks);
/// - 9.2 blended contributors per pixel on average (alpha >= 1/255, before the
///   transmittance stop); mean final transmittance 0.50 (pixels do not saturate).
/// `ReferenceSyntheticSceneTests` re-measures the prepare-stage numbers.
public enum SyntheticScene {
    /// The box the Gaussians' centres are drawn from.
    public static let boxMin = SIMD3<Float>(-5, -3, 2)
    public static let boxMax = SIMD3<Float>(5, 3, 8)

    public static func make(count: Int, seed: UInt64) -> GaussianModel {
        precondition(count >= 0, "SyntheticScene.make: negative count")
        var rng = SplitMix64(seed: seed)
        var model = GaussianModel(count: count, shDegree: 3)
        let rest = model.restPerGaussian
        let span = boxMax - boxMin
        for i in 0..<count {
            for k in 0..<3 { model.positions[i * 3 + k] = boxMin[k] + span[k] * rng.uniform() }
            let base = logf(0.0115) + 0.35 * rng.normal()
            for k in 0..<3 { model.scales[i * 3 + k] = base + 0.25 * rng.normal() }
            for k in 0..<4 { model.rotations[i * 4 + k] = rng.normal() }
            let o = 0.05 + 0.55 * rng.uniform()
            model.opacities[i] = logf(o / (1 - o))
            for k in 0..<3 { model.shDC[i * 3 + k] = -1.5 + 3 * rng.uniform() }
            for k in 0..<rest { model.shRest[i * rest + k] = -0.1 + 0.2 * rng.uniform() }
        }
        return model
    }

    /// A camera at the world origin looking down +z (identity world-to-camera, OpenCV
    /// axes), fx = fy = 0.8 width (about 64 degrees horizontal field of view), principal
    /// point at the image centre.
    public static func defaultCamera(width: Int, height: Int) -> RasterCamera {
        let f = 0.8 * Float(width)
        return RasterCamera(width: width, height: height, fx: f, fy: f,
                            cx: 0.5 * Float(width), cy: 0.5 * Float(height),
                            rotation: [1, 0, 0, 0, 1, 0, 0, 0, 1], translation: [0, 0, 0])
    }
}

