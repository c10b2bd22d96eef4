import CShaderLayouts
import Foundation
import Geometry

/// The Swift twin of `NerfTrainer.render`, pixel by pixel: the ray of the
/// pixel (`NerfBatch.ray`), the occupancy-grid march (`OccupancyGrid.
/// referenceMarchRound`, no sample cap, as the rounds have none), and per
/// sample the twins of the hash encoding, density MLP, SH encoding and
/// colour MLP, composited front to back until T < 1e-4. Samples are
/// evaluated in groups of 16, so a ray that turns opaque early costs little,
/// as on the GPU. For tests and the baseline of `splat bench nerf`.
public struct NerfRenderReference {
    let table: [Float], densityWeights: [Float], colourWeights: [Float], bits: [UInt32]
    let levels: [HashGridLevel]
    let features: Int
    let densityDims: [Int], colourDims: [Int]
    let densityConfig: MLPConfig, colourConfig: MLPConfig
    let settings: OccupancyGrid.Settings
    let cam: NerfCamera
    let minTransmittance: Float

    /// Downloads `trainer`'s parameters and occupancy bits once.
    public init(trainer t: NerfTrainer, intrinsics: Intrinsics, pose: Pose) throws {
        let d = t.device
        table = try t.table.read(Float.self, count: t.grid.parameterCount, device: d)
        densityWeights = try t.densityWeights.read(Float.self, count: t.density.weightCount, device: d)
        colourWeights = try t.colourWeights.read(Float.self, count: t.colour.weightCount, device: d)
        bits = try t.occupancy.bitfield.read(UInt32.self, count: t.occupancy.settings.cellCount / 32, device: d)
        levels = t.grid.levels
        features = t.config.encoding.featuresPerLevel
        densityDims = t.density.dims
        colourDims = t.colour.dims
        densityConfig = t.density.config
        colourConfig = t.colour.config
        settings = t.occupancy.settings
        cam = NerfBatch.camera(intrinsics: intrinsics, pose: pose, pixelOffset: 0, center: t.boxCenter, size: t.boxSize)
        minTransmittance = t.renderMinTransmittance
    }

    /// Pixel (x, y): colour over `background` and alpha.
    public func pixel(x: Int, y: Int, background: SIMD3<Float>) -> (rgb: SIMD3<Float>, alpha: Float) {
        let r = NerfBatch.ray(cam, x: UInt32(x), y: UInt32(y))
        let o = SIMD3(r[0], r[1], r[2]), dir = SIMD3(r[3], r[4], r[5])
        let samples = OccupancyGrid.referenceMarchRound(origin: o, direction: dir, near: 0, maxSamples: .max, bits: bits, settings: settings).samples
        let sh = SphericalHarmonicsEncoding.reference(directions: [dir.x, dir.y, dir.z])
        var T: Float = 1, c = SIMD3<Float>.zero
        var start = 0
        while start < samples.count && T >= minTransmittance {
            let group = samples[start..<min(start + 16, samples.count)]
            var points: [Float] = []  // [G, 3] field space, as the march gives them
            for s in group { points += [s.point.x, s.point.y, s.point.z] }
            let encoded = HashGridEncoding.reference(levels: levels, features: features, points: points, table: table)
            let density = FullyFusedMLP.reference(dims: densityDims, weights: densityWeights, input: encoded,
                                                  biases: densityConfig.biases, activation: densityConfig.hiddenActivation).output  // [G, 16]
            let cols = colourDims[0]
            var colourIn = [Float](repeating: 0, count: group.count * cols)
            for i in 0..<group.count {
                for k in 0..<16 { colourIn[i * cols + k] = sh[k] }
                for k in 0..<16 { colourIn[i * cols + cols - 16 + k] = density[i * 16 + k] }
            }
            let rgb = FullyFusedMLP.reference(dims: colourDims, weights: colourWeights, input: colourIn,
                                              biases: colourConfig.biases, activation: colourConfig.hiddenActivation).output  // [G, 3]
            for (i, s) in group.enumerated() {
                if T < minTransmittance { break }
                let alpha = 1 - exp(-exp(density[i * 16]) * s.dt)
                let colour = SIMD3<Float>(1, 1, 1) / (SIMD3<Float>(1, 1, 1) + SIMD3(exp(-rgb[3 * i]), exp(-rgb[3 * i + 1]), exp(-rgb[3 * i + 2])))
                c += T * alpha * colour
                T *= 1 - alpha
            }
            start += group.count
        }
        return (c + T * background, 1 - T)
    }
}
