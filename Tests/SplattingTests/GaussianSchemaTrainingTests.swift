import Datasets
import Foundation
import ReaderTestSupport
@testable import Splatting
import XCTest

/// What the Gaussian parameter schema derives in training: checkpoints and
/// learning rates, against what splat wrote and used before the schema.
final class GaussianSchemaTrainingTests: XCTestCase {
    /// The fuzzing seeds (Fuzz/Seeds/MakeSeeds.swift) are checkpoints written
    /// before the schema: they read back as what MakeSeeds built, and writing
    /// them again gives the same array bytes, so the layout is unchanged.
    func testCheckpointWrittenBeforeTheSchemaReads() throws {
        for (count, degree) in [(2, 0), (1, 1)] {
            let url = FuzzReplay.fuzz.appendingPathComponent("Corpus/GaussianCheckpoint/degree\(degree)-\(count).bin")
            let data = try Data(contentsOf: url)
            let checkpoint = try GaussianCheckpoint.decode(data, path: url.path)
            var model = GaussianModel(count: count, shDegree: degree)
            for i in model.positions.indices { model.positions[i] = Float(i) * 0.25 }
            for i in model.scales.indices { model.scales[i] = -2 - Float(i % 3) * 0.5 }
            for i in model.opacities.indices { model.opacities[i] = 0.3 }
            XCTAssertEqual(checkpoint.model, model)
            XCTAssertEqual(checkpoint.iteration, 4)
            XCTAssertEqual(checkpoint.rngState, 0x1234_5678_9ABC)
            XCTAssertEqual(checkpoint.order, Array(0..<count).reversed())
            XCTAssertEqual(checkpoint.gradAccum, [Float](repeating: 0.5, count: count))
            XCTAssertEqual(checkpoint.moments.keys.sorted(), ["opacities", "positions", "rotations", "scales", "sh_dc", "sh_rest"])
            XCTAssertEqual(checkpoint.moments["rotations"]?.m, [Float](repeating: 0.001, count: 4 * count))
            XCTAssertEqual(checkpoint.moments["sh_rest"]?.v, [Float](repeating: 1e-6, count: 9 * degree * count))
            // Written before MCMC and the resolution schedule: the recipe reads as that one.
            XCTAssertEqual(checkpoint.config.densify, .adaptive)
            XCTAssertEqual(checkpoint.config.resolution.downscales, 0)
            // Written again, the arrays are the same bytes (the header gains the newer recipe keys).
            let again = try checkpoint.encoded()
            let arrayBytes = 4 * (model.parameterGroups.map(\.count).reduce(0, +) + 3 * count
                                  + checkpoint.moments.values.map { $0.m.count + $0.v.count }.reduce(0, +))
            XCTAssertEqual(again.suffix(arrayBytes), data.suffix(arrayBytes), "degree\(degree)-\(count).bin written again")
            let reread = try GaussianCheckpoint.decode(again, path: url.path)
            XCTAssertEqual(reread.config, checkpoint.config)
            XCTAssertEqual(reread.model, checkpoint.model)
        }
    }
}

extension GaussianSchemaTrainingTests {
    /// The table the trainer used before the schema: position rate decaying
    /// log-linearly from positionLR to positionLRFinal, times the extent;
    /// the others constant, sh_rest at featureLR / 20.
    func oldRate(_ name: String, _ c: GaussianTrainingConfig, iteration: Int, extent: Double) -> Float? {
        let t = min(1, Double(iteration) / Double(max(1, c.iterations)))
        let rates: [String: Float] = [
            "positions": Float(exp(log(c.positionLR) * (1 - t) + log(c.positionLRFinal) * t) * extent),
            "scales": Float(c.scalingLR), "rotations": Float(c.rotationLR), "opacities": Float(c.opacityLR),
            "sh_dc": Float(c.featureLR), "sh_rest": Float(c.featureLR / 20),
        ]
        return rates[name]
    }

    func testLearningRatesAreTheOldTable() {
        var custom = GaussianTrainingConfig()
        (custom.iterations, custom.positionLR, custom.positionLRFinal) = (30_000, 3e-4, 2e-6)
        (custom.featureLR, custom.opacityLR, custom.scalingLR, custom.rotationLR) = (1e-2, 0.05, 1e-3, 2e-3)
        let schema = GaussianSchema.gaussians3D(shDegree: 3)
        for config in [GaussianTrainingConfig(), custom] {
            for iteration in [0, 1, 999, 3500, 7000, 29_999, 30_000, 40_000] {
                for extent in [1, 4.73, 120] {
                    for group in schema.groups {
                        let rate = config.learningRate(for: group, iteration: iteration, extent: extent)
                        XCTAssertEqual(rate.bitPattern, oldRate(group.name, config, iteration: iteration, extent: extent)?.bitPattern,
                                       "\(group.name) at \(iteration), extent \(extent)")
                    }
                }
            }
        }
    }

    /// The schema's defaults are the recipe's defaults, and a group the
    /// recipe does not name (a future kind's) trains at its schema default.
    func testRecipeDefaultsAreTheSchemas() {
        let config = GaussianTrainingConfig()
        for group in GaussianSchema.gaussians3D(shDegree: 2).groups {
            XCTAssertEqual(config.learningRate(of: group), group.learningRate, group.name)
        }
        let time = GaussianParameterGroup(name: "time", floatsPerGaussian: 1, activation: .identity,
                                          learningRate: .init(initial: 0.5), densification: .copy, plyProperties: ["t"])
        XCTAssertEqual(config.learningRate(for: time, iteration: 100, extent: 3), 0.5)
    }

    /// Adam moments are sized by the schema: N x floats per Gaussian.
    func testCheckpointMomentsOfTheWrongSizeAreRefused() throws {
        var checkpoint = CheckpointValidationTests.checkpoint(count: 5)
        checkpoint.moments["rotations"] = ([Float](repeating: 0, count: 15), [Float](repeating: 0, count: 15))
        XCTAssertThrowsError(try GaussianCheckpoint.decode(checkpoint.encoded(), path: "state.bin")) { error in
            XCTAssertEqual((error as? DatasetError)?.problem,
                           "checkpoint Adam moments of rotations hold 15 and 15 values; 5 Gaussians need 20")
        }
    }
}
