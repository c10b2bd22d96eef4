import Datasets
import Foundation
import XCTest

/// The parameter schema of 3D Gaussians and what GaussianModel and the PLY
/// reader derive from it.
final class GaussianSchemaTests: XCTestCase {
    /// A model whose every value differs (the value is its place in the group's array, offset per group).
    func model(count: Int, degree: Int) -> GaussianModel {
        var model = GaussianModel(count: count, shDegree: degree)
        for i in model.positions.indices { model.positions[i] = 1000 + Float(i) }
        for i in model.scales.indices { model.scales[i] = 2000 + Float(i) }
        for i in model.rotations.indices { model.rotations[i] = 3000 + Float(i) }
        for i in model.opacities.indices { model.opacities[i] = 4000 + Float(i) }
        for i in model.shDC.indices { model.shDC[i] = 5000 + Float(i) }
        for i in model.shRest.indices { model.shRest[i] = 6000 + Float(i) }
        return model
    }

    func testThreeDimensionalGaussians() {
        let schema = GaussianSchema.gaussians3D(shDegree: 3)
        XCTAssertEqual(schema.kind, "gaussians")
        XCTAssertEqual(schema.groups.map(\.name), ["positions", "scales", "rotations", "opacities", "sh_dc", "sh_rest"])
        XCTAssertEqual(schema.groups.map(\.floatsPerGaussian), [3, 3, 4, 1, 3, 45])
        XCTAssertEqual((0...3).map { GaussianSchema.gaussians3D(shDegree: $0).floatsPerGaussian }, [14, 23, 38, 59])
        XCTAssertEqual(GaussianSchema.gaussians3D(shDegree: 0).group(named: "sh_rest")?.plyProperties, [])
        XCTAssertEqual(schema.groups.map(\.activation), [.identity, .exp, .normalize, .sigmoid, .identity, .identity])
        XCTAssertEqual(schema.groups.map(\.densification), [.samplePosition, .shrinkLogScale, .copy, .copy, .copy, .copy])
        XCTAssertEqual(schema.groups.map(\.role), [.position, .logScale, .rotation, .opacityLogit, nil, nil])
        XCTAssertEqual(schema.index(of: .opacityLogit), 3)
        XCTAssertEqual(schema.index(named: "sh_dc"), 4)
        XCTAssertEqual(schema.group(named: "rotations")?.plyProperties, ["rot_0", "rot_1", "rot_2", "rot_3"])
        XCTAssertNil(schema.group(named: "time"))
        XCTAssertEqual(schema.group(named: "sh_rest")?.plyProperties.last, "f_rest_44")
        // The 3DGS row: normals between the positions and the colour.
        XCTAssertEqual(Array(schema.plyPropertyNames.prefix(9)), ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"])
        XCTAssertEqual(Array(schema.plyPropertyNames.suffix(8)),
                       ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])
        XCTAssertEqual(schema.plyPropertyNames.count, 62)
        XCTAssertEqual(schema.plyPropertyNames, GaussianPLY.propertyNames(shDegree: 3))
    }

    func testLearningRateSchedules() {
        let constant = GaussianParameterGroup.LearningRate(initial: 0.025)
        XCTAssertEqual(constant.value(iteration: 123, iterations: 1000, extent: 7), 0.025)
        let decay = GaussianParameterGroup.LearningRate(initial: 1e-2, schedule: .exponentialDecay(final: 1e-4), scaledByExtent: true)
        XCTAssertEqual(decay.value(iteration: 0, iterations: 100, extent: 2), 2e-2, accuracy: 1e-9)
        XCTAssertEqual(decay.value(iteration: 50, iterations: 100, extent: 2), 2e-3, accuracy: 1e-9)
        XCTAssertEqual(decay.value(iteration: 100, iterations: 100, extent: 2), 2e-4, accuracy: 1e-10)
        XCTAssertEqual(decay.value(iteration: 500, iterations: 100, extent: 2), 2e-4, accuracy: 1e-10, "the final rate after the run")
    }

    func testModelRoundTripsThroughParameterGroups() {
        for degree in 0...3 {
            let original = model(count: 5, degree: degree)
            let groups = original.parameterGroups
            XCTAssertEqual(groups.map(\.count), original.schema.groups.map { 5 * $0.floatsPerGaussian })
            XCTAssertEqual(groups, [original.positions, original.scales, original.rotations, original.opacities,
                                    original.shDC, original.shRest])
            XCTAssertEqual(GaussianModel(shDegree: degree, parameterGroups: groups), original)
        }
    }

    func testShapeProblemAndNonFiniteValuesNameTheSchemasNames() {
        var bad = model(count: 4, degree: 1)
        bad.rotations.removeLast()
        XCTAssertEqual(bad.shapeProblem(), "rotations holds 15 values; 4 Gaussians of SH degree 1 need 16")
        var nan = model(count: 4, degree: 1)
        nan.scales[3 * 2 + 1] = .nan
        nan.shDC[3 * 2 + 2] = .infinity  // earlier in the PLY row than the scale
        nan.positions[3 * 3] = .nan
        XCTAssertEqual(nan.firstNonFinite()?.index, 2)
        XCTAssertEqual(nan.firstNonFinite()?.property, "f_dc_2")
    }

    /// A PLY lacking properties is refused with every missing one named, in file order.
    func testMissingPLYPropertiesAreAllNamed() throws {
        let missing: Set = ["rot_2", "rot_3", "opacity"]
        var header = "ply\nformat binary_little_endian 1.0\nelement vertex 1\n"
        let names = GaussianPLY.propertyNames(shDegree: 0).filter { !missing.contains($0) }
        for name in names { header += "property float \(name)\n" }
        let data = Data((header + "end_header\n").utf8) + Data(count: 4 * names.count)
        XCTAssertThrowsError(try GaussianPLY.decode(data, path: "partial.ply")) { error in
            XCTAssertEqual((error as? DatasetError)?.problem, "missing required vertex properties opacity, rot_2, rot_3")
        }
    }

    func testPLYRoundTripKeepsEveryGroup() throws {
        for degree in 0...3 {
            let original = model(count: 3, degree: degree)
            XCTAssertEqual(try GaussianPLY.decode(GaussianPLY.encode(original), path: "m.ply"), original)
        }
    }
}
