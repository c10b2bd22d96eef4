import Foundation

/// The trainable parameters of one kind of Gaussian: its parameter groups,
/// each with its size, activation, learning rate, densification rule and PLY
/// properties, and the order of those properties in a PLY row.
///
/// Everything that handles the parameters group by group derives from this
/// description: `GaussianModel.parameterGroups`, the PLY reader and writer,
/// checkpoints, the optimiser's learning rates and densification. A kind with
/// more parameters (a 4D kind's time mean, say) adds groups here.
public struct GaussianSchema: Equatable, Sendable {
    /// The kind's name, as `model.json` spells it (docs/conventions.md,
    /// "Kinds of models"): `gaussians` for 3D Gaussians, `gaussians4d` for
    /// 4D space-time Gaussians.
    public var kind: String
    /// The groups in the order the rasterizer, the optimiser and checkpoints
    /// keep them.
    public var groups: [GaussianParameterGroup]
    /// The PLY vertex row, in file order.
    public var plyLayout: [PLYSection]

    /// A run of properties of a PLY vertex row.
    public enum PLYSection: Equatable, Sendable {
        /// The `plyProperties` of the group with this name.
        case group(String)
        /// Properties no group keeps: written as zeros, optional when read
        /// and then ignored (the normals nx, ny, nz of 3DGS).
        case unused([String])
    }

    public init(kind: String, groups: [GaussianParameterGroup], plyLayout: [PLYSection]) {
        self.kind = kind
        self.groups = groups
        self.plyLayout = plyLayout
    }

    /// The group called `name`, or nil.
    public func group(named name: String) -> GaussianParameterGroup? {
        groups.first { $0.name == name }
    }

    /// The position in `groups` of the group called `name`, or nil.
    public func index(named name: String) -> Int? {
        groups.firstIndex { $0.name == name }
    }

    /// The position in `groups` of the group densification reads for `role`, or nil.
    public func index(of role: GaussianParameterGroup.Role) -> Int? {
        groups.firstIndex { $0.role == role }
    }

    /// Floats per Gaussian over all groups.
    public var floatsPerGaussian: Int { groups.reduce(0) { $0 + $1.floatsPerGaussian } }

    /// Every property of a PLY vertex row, in file order.
    public var plyPropertyNames: [String] {
        plyLayout.flatMap { section -> [String] in
            switch section {
            case .group(let name): return group(named: name)?.plyProperties ?? []
            case .unused(let names): return names
            }
        }
    }

    /// The groups in the order their properties appear in a PLY row.
    public var groupsInPLYOrder: [GaussianParameterGroup] {
        plyLayout.compactMap { section in
            if case .group(let name) = section { return group(named: name) }
            return nil
        }
    }

    /// 3D Gaussians as 3DGS trains and stores them (`GaussianModel`), with
    /// spherical harmonics of degree `shDegree`: K = (shDegree + 1)^2
    /// coefficients per colour channel, the first in `sh_dc` and the other
    /// K - 1 in `sh_rest` (none at degree 0). The learning rates are the
    /// 3DGS recipe's (`GaussianTrainingConfig`'s defaults), the PLY row is
    /// x y z nx ny nz f_dc_* f_rest_* opacity scale_* rot_*.
    public static func gaussians3D(shDegree: Int) -> GaussianSchema {
        let rest = 3 * (GaussianModel.coefficientCount(degree: shDegree) - 1)
        let featureRate = 2.5e-3
        let groups = [
            GaussianParameterGroup(  // [N, 3] f32
                name: "positions", floatsPerGaussian: 3, activation: .identity,
                learningRate: .init(initial: 1.6e-4, schedule: .exponentialDecay(final: 1.6e-6), scaledByExtent: true),
                densification: .samplePosition, role: .position, plyProperties: ["x", "y", "z"]),
            GaussianParameterGroup(  // [N, 3] f32
                name: "scales", floatsPerGaussian: 3, activation: .exp, learningRate: .init(initial: 5e-3),
                densification: .shrinkLogScale, role: .logScale, plyProperties: (0..<3).map { "scale_\($0)" }),
            GaussianParameterGroup(  // [N, 4] f32, w x y z
                name: "rotations", floatsPerGaussian: 4, activation: .normalize, learningRate: .init(initial: 1e-3),
                densification: .copy, role: .rotation, plyProperties: (0..<4).map { "rot_\($0)" }),
            GaussianParameterGroup(  // [N] f32
                name: "opacities", floatsPerGaussian: 1, activation: .sigmoid, learningRate: .init(initial: 0.025),
                densification: .copy, role: .opacityLogit, plyProperties: ["opacity"]),
            GaussianParameterGroup(  // [N, 3] f32
                name: "sh_dc", floatsPerGaussian: 3, activation: .identity, learningRate: .init(initial: featureRate),
                densification: .copy, plyProperties: (0..<3).map { "f_dc_\($0)" }),
            // The higher bands train 20 times slower than the base colour (3DGS).
            GaussianParameterGroup(  // [N, 3, K-1] f32, channel-major
                name: "sh_rest", floatsPerGaussian: rest, activation: .identity, learningRate: .init(initial: featureRate / 20),
                densification: .copy, plyProperties: (0..<rest).map { "f_rest_\($0)" }),
        ]
        return GaussianSchema(kind: "gaussians", groups: groups, plyLayout: [
            .group("positions"), .unused(["nx", "ny", "nz"]), .group("sh_dc"), .group("sh_rest"),
            .group("opacities"), .group("scales"), .group("rotations"),
        ])
    }
}

extension GaussianSchema {
    /// The kind name of 4D space-time Gaussians.
    public static let kind4D = "gaussians4d"

    /// The PLY properties only 4D Gaussians have: readers look for them
    /// before anything else, so a 4D file is never read as a 3D one with
    /// extra properties.
    public static let timeProperties = ["t", "scale_t", "rot_r_0", "rot_r_1", "rot_r_2", "rot_r_3"]

    /// 4D space-time Gaussians (Yang et al., ICLR 2024, "Real-time
    /// Photorealistic Dynamic Scene Representation and Rendering with 4D
    /// Gaussian Splatting"): the 3D groups, which hold the spatial part of
    /// the 4D mean and scale and the left quaternion of the 4D rotation, then
    /// the time mean, the time log-scale and the right quaternion. The 4D
    /// rotation is L(q_left) R(q_right), the product of a left- and a
    /// right-isoclinic rotation (docs/gaussians4d.md). Colour is the 3D
    /// kind's SH of the view direction.
    ///
    /// PLY row: the 3DGS row, then t, scale_t, rot_r_0..3.
    public static func gaussians4D(shDegree: Int) -> GaussianSchema {
        var schema = gaussians3D(shDegree: shDegree)
        schema.kind = kind4D
        schema.groups += [
            GaussianParameterGroup(  // [N] f32, in the dataset's normalised time [0, 1]
                name: "time_means", floatsPerGaussian: 1, activation: .identity,
                learningRate: .init(initial: 1e-3, schedule: .exponentialDecay(final: 1e-5)),
                densification: .sampleTime, plyProperties: ["t"]),
            GaussianParameterGroup(  // [N] f32, log of the time standard deviation
                name: "time_scales", floatsPerGaussian: 1, activation: .exp, learningRate: .init(initial: 5e-3),
                densification: .shrinkLogScale, role: .timeLogScale, plyProperties: ["scale_t"]),
            GaussianParameterGroup(  // [N, 4] f32, w x y z
                name: "rotations_right", floatsPerGaussian: 4, activation: .normalize, learningRate: .init(initial: 1e-3),
                densification: .copy, plyProperties: (0..<4).map { "rot_r_\($0)" }),
        ]
        schema.plyLayout += [.group("time_means"), .group("time_scales"), .group("rotations_right")]
        return schema
    }
}

extension GaussianSchema {
    /// The kind name of 2D image-plane Gaussians.
    public static let kindImage2D = "image2d"

    /// The PLY properties only 2D Gaussians have (the Cholesky factor):
    /// readers look for them first, as for 4D.
    public static let image2DProperties = ["chol_0", "chol_1", "chol_2"]

    /// 2D Gaussians in an image plane (GaussianImage, Zhang et al., ECCV
    /// 2024): a mean in pixels (x right, y down, from the image's top-left
    /// corner), the lower-triangular Cholesky factor L = [[l0, 0], [l1, l2]]
    /// of the covariance (Sigma = L L^T, in pixels^2) and an RGB colour,
    /// blended additively; plus an opacity logit (GaussianImage has none:
    /// the colour carries the weight; kept for the shared pipeline and
    /// trainable). GaussianImage's 8 parameters are the first three groups.
    ///
    /// PLY row: x y chol_0 chol_1 chol_2 red green blue opacity (floats).
    public static let image2D: GaussianSchema = {
        let groups = [
            GaussianParameterGroup(  // [N, 2] f32, pixels
                name: "means_2d", floatsPerGaussian: 2, activation: .identity, learningRate: .init(initial: 0.05),
                densification: .copy, role: .position, plyProperties: ["x", "y"]),
            GaussianParameterGroup(  // [N, 3] f32, L = [[l0, 0], [l1, l2]] in pixels
                name: "cholesky", floatsPerGaussian: 3, activation: .identity, learningRate: .init(initial: 0.02),
                densification: .copy, plyProperties: image2DProperties),
            GaussianParameterGroup(  // [N, 3] f32, linear RGB weights (any sign)
                name: "colors", floatsPerGaussian: 3, activation: .identity, learningRate: .init(initial: 0.01),
                densification: .copy, plyProperties: ["red", "green", "blue"]),
            GaussianParameterGroup(  // [N] f32
                name: "opacities", floatsPerGaussian: 1, activation: .sigmoid, learningRate: .init(initial: 0.01),
                densification: .copy, role: .opacityLogit, plyProperties: ["opacity"]),
        ]
        return GaussianSchema(kind: kindImage2D, groups: groups,
                              plyLayout: [.group("means_2d"), .group("cholesky"), .group("colors"), .group("opacities")])
    }()
}

/// One group of a Gaussian kind's trainable parameters: `floatsPerGaussian`
/// raw float32 values per Gaussian, stored row by row ([N, floatsPerGaussian]).
public struct GaussianParameterGroup: Equatable, Sendable {
    /// The group's name in checkpoints and the optimiser (positions, scales, ...).
    public var name: String
    /// Raw values per Gaussian; may be 0 (no SH bands above degree 0).
    public var floatsPerGaussian: Int
    /// How raw values become the values rendering uses.
    public var activation: Activation
    /// The optimiser's default learning rate; a training recipe may set others.
    public var learningRate: LearningRate
    /// What the children of a split get.
    public var densification: Densification
    /// What densification reads from the group besides moving it, if anything.
    public var role: Role?
    /// The PLY vertex properties of the group's values, in order.
    public var plyProperties: [String]

    /// How raw values become the values rendering uses.
    public enum Activation: Equatable, Sendable {
        /// Used as they are.
        case identity
        /// Natural logs: exp gives the value (scales).
        case exp
        /// Logits: the sigmoid gives the value (opacities).
        case sigmoid
        /// Unnormalised: divided by their length (quaternions).
        case normalize
    }

    /// What the two children of a split Gaussian get; clones always copy.
    public enum Densification: Equatable, Sendable {
        /// The parent's value.
        case copy
        /// A sample of the parent's Gaussian: mean plus the rotated axes
        /// scaled by normal samples (positions).
        case samplePosition
        /// The parent's log scale minus log 1.6 (scales).
        case shrinkLogScale
        /// The parent's time mean plus its time standard deviation times a
        /// normal sample: 4D Gaussians split in time as well as in space.
        case sampleTime
    }

    /// The groups densification reads besides moving them.
    public enum Role: Equatable, Sendable {
        /// Means: MCMC densification's noise moves them (its learning rate
        /// scales the noise).
        case position
        /// Opacity logits: pruning drops faint Gaussians, and the opacity
        /// reset lowers them and zeroes their optimiser moments.
        case opacityLogit
        /// Log scales: classify clones small Gaussians and splits large ones,
        /// size pruning drops huge ones, and split samples use them as
        /// standard deviations.
        case logScale
        /// Quaternions: the axes split samples are taken along.
        case rotation
        /// Time log-scales (4D): the standard deviation time samples of a
        /// split use.
        case timeLogScale
    }

    /// A learning rate over a training run.
    public struct LearningRate: Equatable, Sendable {
        /// The rate at iteration 0.
        public var initial: Double
        public var schedule: Schedule
        /// Whether the rate is multiplied by the scene extent, so that a step
        /// moves the same fraction of the scene at any scale (positions).
        public var scaledByExtent: Bool

        public enum Schedule: Equatable, Sendable {
            /// `initial` throughout.
            case constant
            /// Log-linear from `initial` at iteration 0 to `final` at the
            /// run's last iteration.
            case exponentialDecay(final: Double)
        }

        public init(initial: Double, schedule: Schedule = .constant, scaledByExtent: Bool = false) {
            self.initial = initial
            self.schedule = schedule
            self.scaledByExtent = scaledByExtent
        }

        /// The rate at `iteration` of a run of `iterations` in a scene of
        /// size `extent`.
        public func value(iteration: Int, iterations: Int, extent: Double) -> Float {
            var rate = initial
            if case .exponentialDecay(let final) = schedule {
                let t = min(1, Double(iteration) / Double(max(1, iterations)))
                rate = exp(log(initial) * (1 - t) + log(final) * t)
            }
            return Float(scaledByExtent ? rate * extent : rate)
        }
    }

    public init(name: String, floatsPerGaussian: Int, activation: Activation, learningRate: LearningRate,
                densification: Densification, role: Role? = nil, plyProperties: [String]) {
        self.name = name
        self.floatsPerGaussian = floatsPerGaussian
        self.activation = activation
        self.learningRate = learningRate
        self.densification = densification
        self.role = role
        self.plyProperties = plyProperties
    }
}
