import Compute
import ComputePrimitives
import Datasets
import Foundation
import Geometry
import Splatting
import Training

/// The settings of a language-feature training run (`splat train --method language`).
public struct LanguageTrainingConfig: Codable, Equatable, Sendable {
    public var shape: LanguageShape
    public var iterations: Int
    /// Adam learning rate of the per-Gaussian logits.
    public var logitLR: Float
    /// Adam learning rate of the codebooks.
    public var codebookLR: Float
    /// Lloyd iterations of the k-means that initialises each codebook.
    public var kmeansIterations: Int
    /// At most this many feature rows (sampled by pixel count) enter the k-means.
    public var kmeansSamples: Int
    public var seed: UInt64

    public init(shape: LanguageShape = LanguageShape(), iterations: Int = 3000, logitLR: Float = 0.05, codebookLR: Float = 0.002,
                kmeansIterations: Int = 20, kmeansSamples: Int = 4096, seed: UInt64 = 0) {
        self.shape = shape
        self.iterations = iterations
        self.logitLR = logitLR
        self.codebookLR = codebookLR
        self.kmeansIterations = kmeansIterations
        self.kmeansSamples = kmeansSamples
        self.seed = seed
    }
}

/// One view with its ground-truth features.
public struct LanguageFrame {
    public var name: String
    public var camera: RasterCamera
    public var features: ImageFeatures

    public init(name: String, camera: RasterCamera, features: ImageFeatures) {
        self.name = name
        self.camera = camera
        self.features = features
    }
}

/// Codebook initialisation: spherical k-means (cosine similarity, unit
/// centroids) over the training features, each level on its own, seeded
/// with k-means++ (LangSplatV2 initialises its codebooks by k-means).
public enum CodebookInitialization {
    /// Unit rows [K, D] of the clusters of `points` ([P, D] unit rows with
    /// `weights` [P]). Fewer distinct points than clusters: the rest repeat
    /// points with a little noise, so entries stay distinct.
    public static func kmeans(points: [Float], weights: [Float], dimension D: Int, clusters L: Int, iterations: Int,
                              seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        let n = weights.count
        var centroids = [Float](repeating: 0, count: L * D)
        func dot(_ a: [Float], _ i: Int, _ b: [Float], _ j: Int) -> Float {
            var s: Float = 0
            for d in 0..<D { s += a[i * D + d] * b[j * D + d] }
            return s
        }
        func normalise(_ c: inout [Float], _ k: Int) {
            var s: Float = 0
            for d in 0..<D { s += c[k * D + d] * c[k * D + d] }
            let inv = s > 0 ? 1 / s.squareRoot() : 0
            for d in 0..<D { c[k * D + d] *= inv }
        }
        func noisyCopy(of point: Int, into k: Int) {
            for d in 0..<D { centroids[k * D + d] = (n > 0 ? points[point * D + d] : 0) + 0.05 * rng.normal() / Float(D).squareRoot() }
            normalise(&centroids, k)
        }
        guard n > 0 else {
            for k in 0..<L { noisyCopy(of: 0, into: k) }
            return centroids
        }
        // k-means++: each next centre drawn with probability weight x distance (1 - cos).
        var distance = [Float](repeating: .infinity, count: n)
        var first = 0
        var pick = rng.uniform() * weights.reduce(0, +)
        for i in 0..<n { pick -= weights[i]; if pick <= 0 { first = i; break } }
        for k in 0..<L {
            var chosen = first
            if k > 0 {
                let total = zip(weights, distance).reduce(Float(0)) { $0 + $1.0 * max(0, $1.1) }
                if total <= 1e-12 {
                    noisyCopy(of: Int(rng.next() % UInt64(n)), into: k)
                    continue
                }
                var r = rng.uniform() * total
                chosen = n - 1
                for i in 0..<n { r -= weights[i] * max(0, distance[i]); if r <= 0 { chosen = i; break } }
            }
            for d in 0..<D { centroids[k * D + d] = points[chosen * D + d] }
            for i in 0..<n { distance[i] = min(distance[i], 1 - dot(points, i, centroids, k)) }
        }
        // Lloyd iterations on cosine similarity; an empty cluster keeps its centre.
        var assignment = [Int](repeating: 0, count: n)
        for _ in 0..<iterations {
            for i in 0..<n {
                var best = -Float.infinity
                for k in 0..<L {
                    let s = dot(points, i, centroids, k)
                    if s > best { best = s; assignment[i] = k }
                }
            }
            var sums = [Float](repeating: 0, count: L * D)
            var mass = [Float](repeating: 0, count: L)
            for i in 0..<n {
                let k = assignment[i]
                mass[k] += weights[i]
                for d in 0..<D { sums[k * D + d] += weights[i] * points[i * D + d] }
            }
            for k in 0..<L where mass[k] > 0 {
                for d in 0..<D { centroids[k * D + d] = sums[k * D + d] }
                normalise(&centroids, k)
            }
        }
        return centroids
    }

    /// The initial codebooks [levels, L, D] of a set of training frames: per
    /// level, the distinct feature rows its pixels use, weighted by pixel
    /// count (at most `samples` of them, drawn by weight).
    public static func codebooks(frames: [LanguageFrame], config: LanguageTrainingConfig) -> [Float] {
        let shape = config.shape, D = shape.dimension
        var out: [Float] = []
        for level in 0..<shape.levels {
            var rows: [Float] = []
            var weights: [Float] = []
            var seen: [Data: Int] = [:]
            for frame in frames where level < frame.features.segments.count {
                var counts = [Int](repeating: 0, count: frame.features.rowCount)
                for s in frame.features.segments[level] where s >= 0 { counts[Int(s)] += 1 }
                for (row, count) in counts.enumerated() where count > 0 {
                    let values = Array(frame.features.features[(row * D)..<((row + 1) * D)])
                    let key = values.withUnsafeBytes { Data($0) }
                    if let at = seen[key] { weights[at] += Float(count); continue }
                    seen[key] = weights.count
                    rows += values
                    weights.append(Float(count))
                }
            }
            var rng = SplitMix64(seed: config.seed &+ UInt64(level) &* 0x9E37_79B9)
            if weights.count > config.kmeansSamples {
                // A weighted sample without replacement (Efraimidis-Spirakis keys).
                let keys = weights.map { w in -log(max(1e-30, Double(rng.uniform()))) / Double(w) }
                let keep = keys.indices.sorted { keys[$0] < keys[$1] }.prefix(config.kmeansSamples)
                rows = keep.flatMap { rows[($0 * D)..<(($0 + 1) * D)] }
                weights = keep.map { _ in 1 }
            }
            out += kmeans(points: rows, weights: weights, dimension: D, clusters: shape.codebookSize,
                          iterations: config.kmeansIterations, seed: config.seed &+ UInt64(level))
        }
        return out
    }
}
