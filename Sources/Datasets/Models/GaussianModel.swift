import Foundation

/// 3D Gaussians exactly as 3DGS trains and stores them: a structure of arrays
/// of the raw trainable parameters, one row per Gaussian, float32, row-major.
///
/// No activation is applied: opacities are logits (sigmoid gives the opacity),
/// scales are natural logs (exp gives the standard deviations along the
/// Gaussian's axes), rotations are unnormalised quaternions, w first. Colour is
/// spherical harmonics of degree `shDegree` (0-3) with K = (shDegree + 1)^2
/// coefficients per channel: `shDC` holds coefficient 0 of R, G, B and
/// `shRest` the other K - 1.
///
/// `shRest` keeps the PLY's channel-major order: per Gaussian, the K - 1
/// coefficients of red, then those of green, then those of blue, so
/// `shRest[i * 3 * (K - 1) + c * (K - 1) + (k - 1)]` is coefficient k of
/// channel c of Gaussian i, and the row of Gaussian i is exactly its
/// f_rest_0 ... f_rest_{3(K-1)-1} in PLY order.
///
/// Normals (the PLY's nx, ny, nz) are not kept; writers write zeros.
/// The initialiser does not check shapes: call `shapeProblem()` or
/// `validate(path:)` where the arrays come from outside.
///
/// Code that handles the parameters group by group (uploads, checkpoints,
/// files) goes through `schema` and `parameterGroups` rather than the named
/// arrays.
public struct GaussianModel: Equatable, Sendable {
    /// Spherical-harmonics degree, 0 to 3.
    public var shDegree: Int
    /// Centres in the dataset's world frame.  // [N, 3] f32
    public var positions: [Float]
    /// Degree-0 SH coefficient per channel (R, G, B).  // [N, 3] f32
    public var shDC: [Float]
    /// Higher SH coefficients, channel-major per Gaussian (see the type's
    /// documentation).  // [N, 3, K-1] f32, K = (shDegree + 1)^2
    public var shRest: [Float]
    /// Opacity logits.  // [N] f32
    public var opacities: [Float]
    /// Natural logs of the per-axis standard deviations.  // [N, 3] f32
    public var scales: [Float]
    /// Unnormalised quaternions (w, x, y, z).  // [N, 4] f32
    /// For 4D Gaussians, the left quaternion of the 4D rotation.
    public var rotations: [Float]
    /// Whether these are 4D space-time Gaussians (`GaussianSchema.gaussians4D`):
    /// then `positions` and `scales` are the spatial parts of the 4D mean and
    /// log-scale, and the three arrays below hold the rest. Empty for 3D.
    public var hasTime = false
    /// Time means, in the dataset's normalised time.  // [N] f32 (4D only)
    public var timeMeans: [Float] = []
    /// Natural logs of the time standard deviations.  // [N] f32 (4D only)
    public var timeScales: [Float] = []
    /// Right quaternions of the 4D rotation (w, x, y, z).  // [N, 4] f32 (4D only)
    public var rotationsRight: [Float] = []
    /// Whether these are 2D image-plane Gaussians (`GaussianSchema.image2D`):
    /// then the three arrays below and `opacities` hold them, and the 3D
    /// arrays are empty.
    public var isImage2D = false
    /// Means in pixels.  // [N, 2] f32 (2D only)
    public var means2D: [Float] = []
    /// Cholesky factors (l0, l1, l2) of the covariances, in pixels.  // [N, 3] f32 (2D only)
    public var cholesky: [Float] = []
    /// RGB colours.  // [N, 3] f32 (2D only)
    public var colors: [Float] = []

    /// The highest SH degree 3DGS (and this type) supports.
    public static let maxSHDegree = 3

    /// Memberwise; shapes are not checked (see `shapeProblem()`).
    public init(shDegree: Int, positions: [Float], shDC: [Float], shRest: [Float],
                opacities: [Float], scales: [Float], rotations: [Float]) {
        self.shDegree = shDegree
        self.positions = positions
        self.shDC = shDC
        self.shRest = shRest
        self.opacities = opacities
        self.scales = scales
        self.rotations = rotations
    }

    /// `count` Gaussians at the origin with every parameter zero except the
    /// rotations, which are the identity (1, 0, 0, 0); with `hasTime`, 4D
    /// Gaussians (time means and log-scales 0, identity right quaternions).
    public init(count: Int, shDegree: Int, hasTime: Bool = false) {
        precondition(count >= 0 && (0...Self.maxSHDegree).contains(shDegree))
        self.shDegree = shDegree
        positions = [Float](repeating: 0, count: count * 3)
        shDC = [Float](repeating: 0, count: count * 3)
        shRest = [Float](repeating: 0, count: count * 3 * (Self.coefficientCount(degree: shDegree) - 1))
        opacities = [Float](repeating: 0, count: count)
        scales = [Float](repeating: 0, count: count * 3)
        var identity = [Float](repeating: 0, count: count * 4)
        for i in 0..<count { identity[i * 4] = 1 }
        rotations = identity
        if hasTime {
            self.hasTime = true
            timeMeans = [Float](repeating: 0, count: count)
            timeScales = [Float](repeating: 0, count: count)
            rotationsRight = identity
        }
    }

    /// `count` 2D image-plane Gaussians at the origin: unit covariance
    /// (Cholesky factor the identity), black, opacity logit 8 (0.9997).
    public static func image2D(count: Int) -> GaussianModel {
        var m = GaussianModel(shDegree: 0, positions: [], shDC: [], shRest: [], opacities: [Float](repeating: 8, count: count),
                              scales: [], rotations: [])
        m.isImage2D = true
        m.means2D = [Float](repeating: 0, count: count * 2)
        m.cholesky = (0..<(count * 3)).map { $0 % 3 == 1 ? 0 : 1 }
        m.colors = [Float](repeating: 0, count: count * 3)
        return m
    }

    /// This model's parameter groups: `GaussianSchema.gaussians3D` (or
    /// `gaussians4D` with `hasTime`) at its SH degree.
    public var schema: GaussianSchema {
        if isImage2D { return .image2D }
        return hasTime ? .gaussians4D(shDegree: shDegree) : .gaussians3D(shDegree: shDegree)
    }

    /// The kind's name as `model.json` spells it: `gaussians` or `gaussians4d`.
    public var kind: String { schema.kind }

    /// The arrays in the order of `schema.groups`.
    public var parameterGroups: [[Float]] { schema.groups.map { self[keyPath: Self.field($0)] } }

    /// A model from arrays in the order of `GaussianSchema.gaussians3D(shDegree:)`'s
    /// groups (`gaussians4D` with `hasTime`); shapes are not checked (see
    /// `shapeProblem()`).
    public init(shDegree: Int, parameterGroups: [[Float]], hasTime: Bool = false, image2D: Bool = false) {
        self.init(shDegree: shDegree, positions: [], shDC: [], shRest: [], opacities: [], scales: [], rotations: [])
        self.hasTime = hasTime
        self.isImage2D = image2D
        let groups = schema.groups
        precondition(parameterGroups.count == groups.count, "\(parameterGroups.count) parameter groups; the schema has \(groups.count)")
        for (group, values) in zip(groups, parameterGroups) { self[keyPath: Self.field(group)] = values }
    }

    /// The array holding `group` of the 3D Gaussian schema.
    private static func field(_ group: GaussianParameterGroup) -> WritableKeyPath<GaussianModel, [Float]> {
        switch group.name {
        case "positions": return \.positions
        case "scales": return \.scales
        case "rotations": return \.rotations
        case "opacities": return \.opacities
        case "sh_dc": return \.shDC
        case "sh_rest": return \.shRest
        case "time_means": return \.timeMeans
        case "time_scales": return \.timeScales
        case "rotations_right": return \.rotationsRight
        case "means_2d": return \.means2D
        case "cholesky": return \.cholesky
        case "colors": return \.colors
        default: preconditionFailure("GaussianModel has no parameter group \(group.name)")
        }
    }

    /// Number of Gaussians (N).
    public var count: Int { opacities.count }

    /// SH coefficients per colour channel of a degree: (degree + 1)^2.
    public static func coefficientCount(degree: Int) -> Int { (degree + 1) * (degree + 1) }

    /// The degree whose f_rest count (3 (K - 1)) is `restCount`: 0, 9, 24, 45
    /// give 0, 1, 2, 3; anything else gives nil.
    public static func degree(restCount: Int) -> Int? {
        (0...maxSHDegree).first { 3 * (coefficientCount(degree: $0) - 1) == restCount }
    }

    /// f_rest values per Gaussian: 3 (K - 1), i.e. 0, 9, 24 or 45.
    public var restPerGaussian: Int { 3 * (Self.coefficientCount(degree: shDegree) - 1) }

    /// Axis-aligned box around the positions.
    public struct Bounds: Equatable, Sendable {
        public var min: SIMD3<Float>
        public var max: SIMD3<Float>
        public init(min: SIMD3<Float>, max: SIMD3<Float>) { self.min = min; self.max = max }
        public var center: SIMD3<Float> { (min + max) * 0.5 }
        public var size: SIMD3<Float> { max - min }
    }

    /// Min and max of the positions; nil for an empty model.
    public var bounds: Bounds? {
        guard count > 0, positions.count >= count * 3 else { return nil }
        return positions.withUnsafeBufferPointer { p in
            var lo = SIMD3<Float>(p[0], p[1], p[2]), hi = lo
            for i in 1..<count {
                let v = SIMD3<Float>(p[i * 3], p[i * 3 + 1], p[i * 3 + 2])
                lo = pointwiseMin(lo, v)
                hi = pointwiseMax(hi, v)
            }
            return Bounds(min: lo, max: hi)
        }
    }

    /// What is wrong with the arrays' shapes (nil when they agree with
    /// `count` and `shDegree`).
    public func shapeProblem() -> String? {
        guard (0...Self.maxSHDegree).contains(shDegree) else {
            return "SH degree \(shDegree) is not 0, 1, 2 or 3"
        }
        let n = count
        for (group, values) in zip(schema.groups, parameterGroups) where values.count != n * group.floatsPerGaussian {
            return "\(group.name) holds \(values.count) values; \(n) Gaussians of SH degree \(shDegree) need \(n * group.floatsPerGaussian)"
        }
        return nil
    }

    /// The first NaN or infinite parameter, as the vertex index and the name
    /// of its PLY property (x, f_dc_1, f_rest_7, opacity, scale_2, rot_0, ...),
    /// or nil when every value is finite; of two bad values of one vertex,
    /// the one first in the PLY row. Assumes consistent shapes.
    public func firstNonFinite() -> (index: Int, property: String, value: Float)? {
        var best: (index: Int, property: String, value: Float)?
        for group in schema.groupsInPLYOrder where group.floatsPerGaussian > 0 {
            let values = self[keyPath: Self.field(group)]
            guard !Self.allFinite(values), let at = values.firstIndex(where: { !$0.isFinite }) else { continue }
            let index = at / group.floatsPerGaussian
            if best == nil || index < best!.index {
                best = (index, group.plyProperties[at % group.floatsPerGaussian], values[at])
            }
        }
        return best
    }

    /// Throws a `DatasetError` naming `path` when the shapes disagree or a
    /// value is NaN or infinite.
    public func validate(path: String) throws {
        if let problem = shapeProblem() { throw DatasetError(path, problem) }
        if let bad = firstNonFinite() {
            throw DatasetError(path, "vertex \(bad.index): property \(bad.property) is \(bad.value) (NaN and infinity are not allowed)")
        }
    }

    /// The same Gaussians at SH `degree`: higher bands dropped, missing
    /// bands added as zeros (no view dependence until trained).
    public func withSHDegree(_ degree: Int) -> GaussianModel {
        precondition((0...Self.maxSHDegree).contains(degree), "withSHDegree: degree \(degree) outside 0...\(Self.maxSHDegree)")
        if degree <= shDegree { return droppingSH(toDegree: degree) }
        let oldPer = Self.coefficientCount(degree: shDegree) - 1
        let newPer = Self.coefficientCount(degree: degree) - 1
        var rest = [Float](repeating: 0, count: count * 3 * newPer)
        for i in 0..<count {
            for c in 0..<3 {
                for k in 0..<oldPer { rest[(i * 3 + c) * newPer + k] = shRest[(i * 3 + c) * oldPer + k] }
            }
        }
        var result = self
        result.shDegree = degree
        result.shRest = rest
        return result
    }

    /// The same Gaussians with SH bands above `degree` dropped (their
    /// coefficients removed from `shRest`). `degree` must be between 0 and
    /// `shDegree`.
    public func droppingSH(toDegree degree: Int) -> GaussianModel {
        precondition(degree >= 0 && degree <= shDegree, "droppingSH: degree \(degree) outside 0...\(shDegree)")
        if degree == shDegree { return self }
        let oldPer = Self.coefficientCount(degree: shDegree) - 1
        let newPer = Self.coefficientCount(degree: degree) - 1
        var rest = [Float](repeating: 0, count: count * 3 * newPer)
        if newPer > 0 {
            shRest.withUnsafeBufferPointer { src in
                rest.withUnsafeMutableBufferPointer { dst in
                    for i in 0..<count {
                        for c in 0..<3 {
                            let from = (i * 3 + c) * oldPer, to = (i * 3 + c) * newPer
                            for k in 0..<newPer { dst[to + k] = src[from + k] }
                        }
                    }
                }
            }
        }
        var result = self
        result.shDegree = degree
        result.shRest = rest
        return result
    }

    /// True when no value is NaN or infinite (a branch-free pass: the largest
    /// exponent field seen is all ones only for NaN and infinity).
    static func allFinite(_ values: [Float]) -> Bool {
        values.withUnsafeBufferPointer { p in
            var largest: UInt32 = 0
            for v in p { largest = Swift.max(largest, v.bitPattern & 0x7f80_0000) }
            return largest != 0x7f80_0000
        }
    }
}
