import Datasets
import Foundation
import XCTest

/// GaussianModel, the 3DGS PLY reader/writer, the .splat reader/writer and
/// ModelInfo, on files written to a temporary folder.
final class GaussianModelTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("splat-models-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    // MARK: - Helpers

    /// Deterministic values over many magnitudes, including -0, a subnormal
    /// and the largest float, so that a round trip is checked bit for bit.
    func makeModel(count: Int, degree: Int, seed: UInt64 = 1) -> GaussianModel {
        var state = seed
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let r = Int(state >> 33) % 1000
            switch r {
            case 0: return -0.0
            case 1: return Float(bitPattern: 0x0000_1234)  // subnormal
            case 2: return Float.greatestFiniteMagnitude
            default: return Float(Int(state >> 40) % 200_000 - 100_000) / 997.0
            }
        }
        var model = GaussianModel(count: count, shDegree: degree)
        for i in model.positions.indices { model.positions[i] = next() }
        for i in model.shDC.indices { model.shDC[i] = next() }
        for i in model.shRest.indices { model.shRest[i] = next() }
        for i in model.opacities.indices { model.opacities[i] = next() }
        for i in model.scales.indices { model.scales[i] = next() / 100 }
        for i in model.rotations.indices { model.rotations[i] = next() }
        return model
    }

    func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

    func assertBitExact(_ a: GaussianModel, _ b: GaussianModel, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shDegree, b.shDegree, file: file, line: line)
        XCTAssertEqual(bits(a.positions), bits(b.positions), "positions", file: file, line: line)
        XCTAssertEqual(bits(a.shDC), bits(b.shDC), "shDC", file: file, line: line)
        XCTAssertEqual(bits(a.shRest), bits(b.shRest), "shRest", file: file, line: line)
        XCTAssertEqual(bits(a.opacities), bits(b.opacities), "opacities", file: file, line: line)
        XCTAssertEqual(bits(a.scales), bits(b.scales), "scales", file: file, line: line)
        XCTAssertEqual(bits(a.rotations), bits(b.rotations), "rotations", file: file, line: line)
    }

    /// A PLY property for hand-written files.
    enum Kind: String { case float, double, uchar, short, int }

    /// A binary little-endian PLY with the given vertex properties; `value`
    /// gives each property's value for vertex i.
    func handWrittenPLY(count: Int, declaredCount: Int? = nil, properties: [(String, Kind)],
                        format: String = "binary_little_endian", value: (String, Int) -> Double) -> Data {
        var header = "ply\nformat \(format) 1.0\ncomment hand-written\nelement vertex \(declaredCount ?? count)\n"
        for (name, kind) in properties { header += "property \(kind.rawValue) \(name)\n" }
        header += "end_header\n"
        var data = Data(header.utf8)
        for i in 0..<count {
            for (name, kind) in properties {
                let v = value(name, i)
                switch kind {
                case .float: withUnsafeBytes(of: Float(v).bitPattern.littleEndian) { data.append(contentsOf: $0) }
                case .double: withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) }
                case .uchar: data.append(UInt8(v))
                case .short: withUnsafeBytes(of: Int16(v).littleEndian) { data.append(contentsOf: $0) }
                case .int: withUnsafeBytes(of: Int32(v).littleEndian) { data.append(contentsOf: $0) }
                }
            }
        }
        return data
    }

    func standardProperties(degree: Int) -> [(String, Kind)] {
        GaussianPLY.propertyNames(shDegree: degree).map { ($0, .float) }
    }

    /// A small distinct value per (property, vertex).
    func sample(_ name: String, _ i: Int) -> Double {
        Double(name.unicodeScalars.reduce(0) { $0 * 31 + Int($1.value) } % 1000) / 8 + Double(i) * 0.25
    }

    /// Writes `data` to `name` in the temporary folder and expects reading it
    /// to fail with a DatasetError naming the file whose problem contains
    /// every one of `fragments`.
    func expectReadError(_ data: Data, name: String = "bad.ply", _ fragments: String...,
                         file: StaticString = #filePath, line: UInt = #line) throws {
        let target = path(name)
        try data.write(to: URL(fileURLWithPath: target))
        do {
            let model = try GaussianModelFile.read(path: target)
            XCTFail("read \(model.count) Gaussians from a bad file", file: file, line: line)
        } catch let error as DatasetError {
            XCTAssertEqual(error.path, target, file: file, line: line)
            XCTAssertTrue(error.description.hasPrefix(target), error.description, file: file, line: line)
            for fragment in fragments {
                XCTAssertTrue(error.problem.contains(fragment), "'\(error.problem)' lacks '\(fragment)'", file: file, line: line)
            }
        }
    }

    /// Two .splat records: equal bytes, except that each quaternion byte may
    /// differ by one (quantised quaternions are not unit length, so
    /// normalising them again can move a component across a rounding edge).
    func assertSameRecord(_ a: [UInt8], _ b: [UInt8], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(Array(a[0..<28]), Array(b[0..<28]), file: file, line: line)
        for k in 28..<32 {
            XCTAssertLessThanOrEqual(abs(Int(a[k]) - Int(b[k])), 1, "\(a) vs \(b)", file: file, line: line)
        }
    }

    // MARK: - Model

    func testModelShapesBoundsAndDegrees() {
        XCTAssertEqual((0...3).map { GaussianModel.coefficientCount(degree: $0) }, [1, 4, 9, 16])
        XCTAssertEqual([0, 9, 24, 45, 10].map { GaussianModel.degree(restCount: $0) }, [0, 1, 2, 3, nil])
        var model = GaussianModel(count: 3, shDegree: 2)
        XCTAssertEqual(model.count, 3)
        XCTAssertEqual(model.shRest.count, 3 * 24)
        XCTAssertEqual(model.rotations, [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0])
        XCTAssertNil(model.shapeProblem())
        model.positions = [1, -2, 3, 4, 5, -6, 0, 0, 0]
        XCTAssertEqual(model.bounds, GaussianModel.Bounds(min: [0, -2, -6], max: [4, 5, 3]))
        XCTAssertNil(GaussianModel(count: 0, shDegree: 0).bounds)
        model.scales.removeLast()
        XCTAssertNotNil(model.shapeProblem())
        XCTAssertThrowsError(try model.validate(path: "m.ply"))
    }

    func testFirstNonFiniteNamesVertexAndProperty() {
        var model = makeModel(count: 5, degree: 1)
        XCTAssertNil(model.firstNonFinite())
        model.shRest[3 * 9 + 7] = .infinity
        model.rotations[4 * 4 + 2] = .nan
        let bad = model.firstNonFinite()
        XCTAssertEqual(bad?.index, 3)
        XCTAssertEqual(bad?.property, "f_rest_7")
    }

    func testDroppingSHKeepsTheLowBandsOfEachChannel() {
        let model = makeModel(count: 4, degree: 3)
        for degree in 0...3 {
            let dropped = model.droppingSH(toDegree: degree)
            XCTAssertEqual(dropped.shDegree, degree)
            XCTAssertNil(dropped.shapeProblem())
            let kept = GaussianModel.coefficientCount(degree: degree) - 1
            for i in 0..<4 {
                for c in 0..<3 {
                    for k in 0..<kept {
                        XCTAssertEqual(dropped.shRest[(i * 3 + c) * kept + k].bitPattern,
                                       model.shRest[(i * 3 + c) * 15 + k].bitPattern)
                    }
                }
            }
            XCTAssertEqual(bits(dropped.positions), bits(model.positions))
            XCTAssertEqual(bits(dropped.shDC), bits(model.shDC))
        }
    }

    // MARK: - PLY

    func testPLYRoundTripIsBitExactAtEveryDegree() throws {
        for degree in 0...3 {
            let model = makeModel(count: 37, degree: degree, seed: UInt64(degree + 10))
            let target = path("degree\(degree).ply")
            try GaussianPLY.write(model, to: target)
            let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: target)[.size] as? NSNumber).intValue
            let header = GaussianPLY.header(count: 37, shDegree: degree)
            XCTAssertEqual(size, header.utf8.count + 37 * 4 * (17 + 3 * (GaussianModel.coefficientCount(degree: degree) - 1)))
            let (back, warnings) = try Diagnostics.collecting { try GaussianPLY.read(path: target) }
            XCTAssertEqual(warnings, [])
            assertBitExact(model, back)
        }
    }

    func testPLYHeaderIsThe3DGSOneAndNormalsAreZero() throws {
        let model = makeModel(count: 2, degree: 1)
        let data = try GaussianPLY.encode(model)
        let expected = ["ply", "format binary_little_endian 1.0", "element vertex 2",
                        "property float x", "property float y", "property float z",
                        "property float nx", "property float ny", "property float nz",
                        "property float f_dc_0", "property float f_dc_1", "property float f_dc_2"]
            + (0..<9).map { "property float f_rest_\($0)" }
            + ["property float opacity", "property float scale_0", "property float scale_1", "property float scale_2",
               "property float rot_0", "property float rot_1", "property float rot_2", "property float rot_3",
               "end_header"]
        let text = expected.joined(separator: "\n") + "\n"
        XCTAssertEqual(String(decoding: data.prefix(text.utf8.count), as: UTF8.self), text)
        let body = data.dropFirst(text.utf8.count)
        XCTAssertEqual(body.count, 2 * 26 * 4)
        let floats: [Float] = body.withUnsafeBytes { raw in
            (0..<52).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
        // Vertex 1: x y z, zero normals, f_dc, f_rest (R then G then B), opacity, scales, rotation.
        let row = Array(floats[26..<52])
        XCTAssertEqual(bits(Array(row[0..<3])), bits(Array(model.positions[3..<6])))
        XCTAssertEqual(Array(row[3..<6]), [0, 0, 0])
        XCTAssertEqual(bits(Array(row[6..<9])), bits(Array(model.shDC[3..<6])))
        XCTAssertEqual(bits(Array(row[9..<18])), bits(Array(model.shRest[9..<18])))
        XCTAssertEqual(row[18].bitPattern, model.opacities[1].bitPattern)
        XCTAssertEqual(bits(Array(row[19..<22])), bits(Array(model.scales[3..<6])))
        XCTAssertEqual(bits(Array(row[22..<26])), bits(Array(model.rotations[4..<8])))
    }

    /// The whole file, byte for byte, against the 3DGS layout spelled out
    /// here: the writer produced exactly these bytes before the parameter
    /// schema, and deriving it from the schema must not change one of them.
    func testPLYWriterBytesAreThe3DGSLayoutAtEveryDegree() throws {
        for degree in 0...3 {
            let model = makeModel(count: 3, degree: degree, seed: UInt64(40 + degree))
            let rest = 3 * (GaussianModel.coefficientCount(degree: degree) - 1)
            let lines = ["ply", "format binary_little_endian 1.0", "element vertex 3",
                         "property float x", "property float y", "property float z",
                         "property float nx", "property float ny", "property float nz",
                         "property float f_dc_0", "property float f_dc_1", "property float f_dc_2"]
                + (0..<rest).map { "property float f_rest_\($0)" }
                + ["property float opacity", "property float scale_0", "property float scale_1", "property float scale_2",
                   "property float rot_0", "property float rot_1", "property float rot_2", "property float rot_3", "end_header"]
            var expected = Data((lines.joined(separator: "\n") + "\n").utf8)
            for i in 0..<3 {
                let row = Array(model.positions[3 * i..<3 * i + 3]) + [0, 0, 0] + Array(model.shDC[3 * i..<3 * i + 3])
                    + Array(model.shRest[rest * i..<rest * (i + 1)]) + [model.opacities[i]]
                    + Array(model.scales[3 * i..<3 * i + 3]) + Array(model.rotations[4 * i..<4 * i + 4])
                for value in row { withUnsafeBytes(of: value.bitPattern.littleEndian) { expected.append(contentsOf: $0) } }
            }
            XCTAssertEqual(try GaussianPLY.encode(model), expected, "degree \(degree)")
        }
    }

    func testPLYPropertiesInAnyOrderWithExtrasGiveOneWarning() throws {
        // Degree 1, shuffled, no normals, opacity as double, three extra properties of other types.
        var properties = standardProperties(degree: 1).filter { !["nx", "ny", "nz"].contains($0.0) }
        properties.reverse()
        properties.swapAt(0, 7)
        properties = properties.map { $0.0 == "opacity" ? ($0.0, .double) : $0 }
        properties.insert(("red", .uchar), at: 3)
        properties.insert(("segment", .short), at: 10)
        properties.append(("confidence", .double))
        let data = handWrittenPLY(count: 5, properties: properties, value: sample)
        let target = path("shuffled.ply")
        try data.write(to: URL(fileURLWithPath: target))
        let (model, warnings) = try Diagnostics.collecting { try GaussianPLY.read(path: target) }
        XCTAssertEqual(warnings.count, 1, "\(warnings)")
        for extra in ["red", "segment", "confidence"] {
            XCTAssertTrue(warnings.first?.contains(extra) ?? false, "\(warnings)")
        }
        XCTAssertTrue(warnings.first?.contains(target) ?? false)
        XCTAssertEqual(model.shDegree, 1)
        XCTAssertEqual(model.count, 5)
        for i in 0..<5 {
            let f = { (name: String) in Float(self.sample(name, i)) }
            XCTAssertEqual(Array(model.positions[i * 3..<i * 3 + 3]), [f("x"), f("y"), f("z")])
            XCTAssertEqual(Array(model.shDC[i * 3..<i * 3 + 3]), [f("f_dc_0"), f("f_dc_1"), f("f_dc_2")])
            XCTAssertEqual(Array(model.shRest[i * 9..<i * 9 + 9]), (0..<9).map { f("f_rest_\($0)") })
            XCTAssertEqual(model.opacities[i], f("opacity"))
            XCTAssertEqual(Array(model.scales[i * 3..<i * 3 + 3]), [f("scale_0"), f("scale_1"), f("scale_2")])
            XCTAssertEqual(Array(model.rotations[i * 4..<i * 4 + 4]), [f("rot_0"), f("rot_1"), f("rot_2"), f("rot_3")])
        }
    }

    func testPLYStandardFileGivesNoWarning() throws {
        let data = handWrittenPLY(count: 3, properties: standardProperties(degree: 2), value: sample)
        let (model, warnings) = try Diagnostics.collecting { try GaussianPLY.decode(data, path: "x.ply") }
        XCTAssertEqual(warnings, [])
        XCTAssertEqual(model.shDegree, 2)
        XCTAssertEqual(model.shRest[2 * 24 + 23], Float(sample("f_rest_23", 2)))
    }

    func testPLYNotAPLY() throws {
        try expectReadError(Data("hello world, not a ply\n".utf8), "not a PLY")
        try expectReadError(Data(), name: "empty.ply", "not a PLY")
        try expectReadError(Data("plywood\n".utf8), name: "plywood.ply", "not a PLY")
    }

    func testPLYTruncatedHeader() throws {
        let full = handWrittenPLY(count: 1, properties: standardProperties(degree: 0), value: sample)
        let text = String(decoding: full, as: UTF8.self)
        let cut = text.range(of: "property float opacity")!.lowerBound
        try expectReadError(Data(text[..<cut].utf8), "truncated PLY header")
        try expectReadError(Data("ply".utf8), name: "ply-only.ply", "truncated PLY header")
    }

    func testPLYTruncatedBodyIsCheckedBeforeAllocating() throws {
        let short = handWrittenPLY(count: 10, declaredCount: 1000, properties: standardProperties(degree: 3), value: sample)
        try expectReadError(short, "truncated PLY body", "1000 vertices")
        // Two billion vertices of degree 3 would be 496 GB: refused at once, nothing allocated.
        let huge = handWrittenPLY(count: 2, declaredCount: 2_000_000_000, properties: standardProperties(degree: 3), value: sample)
        try expectReadError(huge, name: "huge.ply", "truncated PLY body", "2000000000")
        // One byte short.
        let whole = handWrittenPLY(count: 4, properties: standardProperties(degree: 1), value: sample)
        try expectReadError(whole.dropLast(), name: "short.ply", "truncated PLY body")
    }

    func testPLYAbsurdVertexCount() throws {
        let a = handWrittenPLY(count: 1, declaredCount: 5_000_000_000, properties: standardProperties(degree: 0), value: sample)
        try expectReadError(a, "absurd vertex count", "5000000000")
        var text = String(decoding: handWrittenPLY(count: 1, properties: standardProperties(degree: 0), value: sample), as: UTF8.self)
        text = text.replacingOccurrences(of: "element vertex 1", with: "element vertex 123456789012345678901234567890")
        try expectReadError(Data(text.utf8), name: "overflow.ply", "absurd vertex count")
        text = text.replacingOccurrences(of: "element vertex 123456789012345678901234567890", with: "element vertex -4")
        try expectReadError(Data(text.utf8), name: "negative.ply", "negative")
    }

    func testPLYMissingRequiredProperty() throws {
        for missing in ["scale_1", "x", "rot_3", "opacity", "f_dc_2", "f_rest_4"] {
            let properties = standardProperties(degree: 1).filter { $0.0 != missing }
            let data = handWrittenPLY(count: 2, properties: properties, value: sample)
            if missing.hasPrefix("f_rest") {
                // 8 f_rest values fit no degree.
                try expectReadError(data, name: "missing-\(missing).ply", "8 f_rest_")
            } else {
                try expectReadError(data, name: "missing-\(missing).ply", "missing required", missing)
            }
        }
        // Nine f_rest_ properties, but f_rest_9 instead of f_rest_4.
        let properties = standardProperties(degree: 1).map { $0.0 == "f_rest_4" ? ("f_rest_9", Kind.float) : $0 }
        try expectReadError(handWrittenPLY(count: 1, properties: properties, value: sample), name: "gap.ply", "f_rest_4")
    }

    func testPLYWrongRestCount() throws {
        let properties = standardProperties(degree: 0) + [("f_rest_0", Kind.float)]
        try expectReadError(handWrittenPLY(count: 1, properties: properties, value: sample), "1 f_rest_", "0, 9, 24 or 45")
    }

    func testPLYNaNAndInfinityNameVertexAndProperty() throws {
        let nan = handWrittenPLY(count: 4, properties: standardProperties(degree: 1)) { name, i in
            name == "opacity" && i == 2 ? .nan : self.sample(name, i)
        }
        try expectReadError(nan, name: "nan.ply", "vertex 2", "opacity", "nan")
        let inf = handWrittenPLY(count: 4, properties: standardProperties(degree: 3)) { name, i in
            (name == "rot_3" && i == 1) || (name == "f_rest_44" && i == 3) ? -.infinity : self.sample(name, i)
        }
        try expectReadError(inf, name: "inf.ply", "vertex 1", "rot_3", "inf")
        // A double too large for float is infinite once read.
        let properties = standardProperties(degree: 0).map { $0.0 == "y" ? ($0.0, Kind.double) : $0 }
        let big = handWrittenPLY(count: 1, properties: properties) { name, i in name == "y" ? 1e300 : self.sample(name, i) }
        try expectReadError(big, name: "big.ply", "vertex 0", "property y")
    }

    func testPLYASCIIAndBigEndianAreRejected() throws {
        try expectReadError(handWrittenPLY(count: 0, properties: standardProperties(degree: 0), format: "ascii", value: sample),
                            name: "ascii.ply", "ASCII")
        try expectReadError(handWrittenPLY(count: 1, properties: standardProperties(degree: 0), format: "binary_big_endian", value: sample),
                            name: "big-endian.ply", "big-endian")
    }

    func testPLYOtherHeaderProblems() throws {
        // A list property in the vertices, an integer-typed required property, a malformed line.
        var text = String(decoding: handWrittenPLY(count: 0, properties: standardProperties(degree: 0), value: sample), as: UTF8.self)
        let list = text.replacingOccurrences(of: "end_header", with: "property list uchar int vertex_indices\nend_header")
        try expectReadError(Data(list.utf8), name: "list.ply", "vertex_indices", "list")
        let uchar = text.replacingOccurrences(of: "property float opacity", with: "property uchar opacity")
        try expectReadError(Data(uchar.utf8), name: "uchar.ply", "opacity", "uchar")
        text = text.replacingOccurrences(of: "property float z", with: "property floaty z")
        try expectReadError(Data(text.utf8), name: "malformed.ply", "malformed", "floaty")
    }

    func testPLYExtraElementsAreSkipped() throws {
        // An element before the vertices (fixed size) and a face list after them.
        var data = Data("ply\nformat binary_little_endian 1.0\nelement camera 2\nproperty float fx\nproperty uchar id\n".utf8)
        data.append(contentsOf: Array("element vertex 1\n".utf8))
        for (name, _) in standardProperties(degree: 0) { data.append(contentsOf: Array("property float \(name)\n".utf8)) }
        data.append(contentsOf: Array("element face 1\nproperty list uchar int vertex_indices\nend_header\n".utf8))
        data.append(Data(repeating: 7, count: 2 * 5))  // the cameras
        for (name, _) in standardProperties(degree: 0) {
            withUnsafeBytes(of: Float(sample(name, 0)).bitPattern.littleEndian) { data.append(contentsOf: $0) }
        }
        data.append(contentsOf: [3, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0] as [UInt8])
        let (model, warnings) = try Diagnostics.collecting { try GaussianPLY.decode(data, path: "elements.ply") }
        XCTAssertEqual(model.count, 1)
        XCTAssertEqual(model.positions, [Float(sample("x", 0)), Float(sample("y", 0)), Float(sample("z", 0))])
        XCTAssertEqual(model.rotations[3], Float(sample("rot_3", 0)))
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings[0].contains("camera") && warnings[0].contains("face"), warnings[0])
    }

    func testPLYEmptyModelRoundTrips() throws {
        let target = path("empty.ply")
        try GaussianPLY.write(GaussianModel(count: 0, shDegree: 3), to: target)
        let back = try GaussianPLY.read(path: target)
        XCTAssertEqual(back.count, 0)
        XCTAssertEqual(back.shDegree, 3)
    }

    func testMissingFileAndFolder() throws {
        XCTAssertThrowsError(try GaussianPLY.read(path: path("nothing.ply"))) { error in
            XCTAssertEqual((error as? DatasetError)?.path, self.path("nothing.ply"))
        }
        XCTAssertThrowsError(try GaussianPLY.read(path: folder.path)) { error in
            XCTAssertEqual((error as? DatasetError)?.problem.contains("folder"), true)
        }
    }

    func testFailedWriteLeavesNoFile() throws {
        let blocker = path("blocker")
        try Data("I am a file".utf8).write(to: URL(fileURLWithPath: blocker))
        let model = makeModel(count: 3, degree: 1)
        for target in [blocker + "/model.ply", blocker + "/model.splat", blocker + "/deeper/model.ply"] {
            XCTAssertThrowsError(try GaussianModelFile.write(model, to: target)) { error in
                XCTAssertNotNil(error as? DatasetError, "\(error)")
            }
        }
        // A model whose arrays disagree is refused before anything is written.
        var broken = model
        broken.rotations.removeLast()
        XCTAssertThrowsError(try GaussianPLY.write(broken, to: path("broken.ply")))
        XCTAssertThrowsError(try SplatFile.write(broken, to: path("broken.splat")))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["blocker"])
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: blocker)), Data("I am a file".utf8))
    }

    func testWriteReplacesAnExistingFileWhole() throws {
        let target = path("model.ply")
        try GaussianPLY.write(makeModel(count: 50, degree: 3), to: target)
        let small = makeModel(count: 2, degree: 0, seed: 99)
        try GaussianPLY.write(small, to: target)
        assertBitExact(small, try GaussianPLY.read(path: target))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["model.ply"])
    }

    // MARK: - .splat

    func testSplatEncodingOfAKnownGaussian() throws {
        var model = GaussianModel(count: 1, shDegree: 1)
        model.positions = [1, -2, 3.5]
        model.scales = [0, Float(log(2.0)), -20]
        model.shDC = [0, 1, -2]          // 0.5 + C0 * dc: 0.5, 0.782, -0.064
        model.shRest = [Float](repeating: 5, count: 9)  // dropped
        model.opacities = [2]            // sigmoid(2) = 0.8808
        model.rotations = [1, 0, -1, 0]  // normalised (0.7071, 0, -0.7071, 0)
        let data = try SplatFile.encode(model)
        XCTAssertEqual(data.count, 32)
        let bytes = [UInt8](data)
        XCTAssertEqual(Array(bytes[0..<12]), [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0, 0x00, 0x00, 0x60, 0x40])
        XCTAssertEqual(Array(bytes[12..<16]), [0x00, 0x00, 0x80, 0x3F])  // exp(0) = 1
        let scale1 = Float(bitPattern: UInt32(bytes[16]) | UInt32(bytes[17]) << 8 | UInt32(bytes[18]) << 16 | UInt32(bytes[19]) << 24)
        XCTAssertEqual(scale1, 2, accuracy: 1e-6)
        let scale2 = Float(bitPattern: UInt32(bytes[20]) | UInt32(bytes[21]) << 8 | UInt32(bytes[22]) << 16 | UInt32(bytes[23]) << 24)
        XCTAssertEqual(scale2, exp(-20), accuracy: 1e-12)
        // 127.5 rounds to even 128; 0.78209 * 255 = 199.43 -> 199; negative -> 0; 0.8808 * 255 = 224.6 -> 225.
        XCTAssertEqual(Array(bytes[24..<28]), [128, 199, 0, 225])
        // 0.7071 * 128 + 128 = 218.5 -> 219; 0 -> 128; -0.7071 -> 37.49 -> 37.
        XCTAssertEqual(Array(bytes[28..<32]), [219, 128, 37, 128])
        XCTAssertEqual(SplatFile.encodeGaussian(model, 0), bytes)

        // Saturation: w = 1 gives 256, clamped to 255; a zero quaternion becomes the identity.
        model.rotations = [3, 0, 0, 0]
        model.opacities = [40]
        model.shDC = [100, -100, 0]
        XCTAssertEqual(Array(SplatFile.encodeGaussian(model, 0)[24..<32]), [255, 0, 128, 255, 255, 128, 128, 128])
        model.rotations = [0, 0, 0, 0]
        XCTAssertEqual(Array(SplatFile.encodeGaussian(model, 0)[28..<32]), [255, 128, 128, 128])
    }

    func testSplatIsSortedBySizeTimesOpacityLargestFirst() throws {
        var model = GaussianModel(count: 5, shDegree: 0)
        // Keys exp(sum of log scales) * sigmoid(opacity):
        // 0: 1 * 0.5, 1: 10 * 0.5, 2: 1 * 0.99995, 3: 1 * 0.5 (tie with 0), 4: 0.001 * 1.
        let logScales: [[Float]] = [[0, 0, 0], [Float(log(10.0)), 0, 0], [0, 0, 0], [0, 0, 0], [-3, -2, -1.9077553]]
        let opacities: [Float] = [0, 0, 10, 0, 30]
        for i in 0..<5 {
            model.positions[i * 3] = Float(i)
            model.scales.replaceSubrange(i * 3..<i * 3 + 3, with: logScales[i])
            model.opacities[i] = opacities[i]
        }
        XCTAssertEqual(SplatFile.order(model), [1, 2, 0, 3, 4])
        let target = path("sorted.splat")
        try SplatFile.write(model, to: target)
        let back = try SplatFile.read(path: target)
        XCTAssertEqual((0..<5).map { back.positions[$0 * 3] }, [1, 2, 0, 3, 4])
    }

    func testSplatDecodeInvertsTheEncoding() throws {
        var model = makeModel(count: 300, degree: 2, seed: 5)
        for i in 0..<model.count {
            model.positions[i * 3 + 2] = Float(i)  // identifies the Gaussian after sorting
            for a in 0..<3 { model.scales[i * 3 + a] = Float((i + a) % 7) - 3 }
            model.opacities[i] = Float(i % 41) - 20  // every alpha from 0 to 255 is near
        }
        model.opacities[0] = -100
        model.opacities[1] = 100
        let encoded = try SplatFile.encode(model)
        let back = try SplatFile.decode(encoded, path: "m.splat")
        XCTAssertEqual(back.shDegree, 0)
        XCTAssertEqual(back.count, 300)
        XCTAssertNil(back.firstNonFinite())
        // Each decoded Gaussian re-encodes to the same 32 bytes, rotations within
        // one step. (The whole file need not: 8-bit alphas can swap near-ties
        // of the sort key.)
        let order = SplatFile.order(model)
        for (slot, i) in order.enumerated() {
            assertSameRecord(SplatFile.encodeGaussian(back, slot), [UInt8](encoded[slot * 32..<slot * 32 + 32]))
            XCTAssertEqual(back.positions[slot * 3 + 2], Float(i))
            XCTAssertEqual(back.scales[slot * 3], model.scales[i * 3], accuracy: 1e-5)
            let alpha = 1 / (1 + exp(-Double(model.opacities[i])))
            let alphaBack = 1 / (1 + exp(-Double(back.opacities[slot])))
            XCTAssertEqual(alphaBack, alpha, accuracy: 0.5 / 255 + 1e-9)
            let colour = min(max(0.5 + SplatFile.shC0 * Double(model.shDC[i * 3]), 0), 1)
            XCTAssertEqual(0.5 + SplatFile.shC0 * Double(back.shDC[slot * 3]), colour, accuracy: 0.5 / 255 + 1e-6)
        }
    }

    func testSplatBadSizeAndBadScale() throws {
        try expectReadError(Data(count: 33), name: "odd.splat", "not a multiple of 32")
        var bytes = [UInt8](try SplatFile.encode(makeModel(count: 3, degree: 0)))
        withUnsafeBytes(of: Float(-1).bitPattern.littleEndian) { bytes.replaceSubrange(32 + 16..<32 + 20, with: $0) }
        try expectReadError(Data(bytes), name: "negative.splat", "Gaussian 1", "scale_1")
        withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { bytes.replaceSubrange(64..<68, with: $0) }
        try expectReadError(Data(bytes), name: "nan.splat", "Gaussian 1")
    }

    func testConvertPLYToSplatToPLY() throws {
        let model = makeModel(count: 64, degree: 3, seed: 21).droppingSH(toDegree: 3)
        var clean = model
        for i in clean.scales.indices { clean.scales[i] = Float(i % 9) / 3 - 1.5 }  // keep exp(scale) finite
        let ply = path("in.ply"), splat = path("mid.splat"), back = path("out.PLY")
        try GaussianModelFile.write(clean, to: ply)
        try GaussianModelFile.write(try GaussianModelFile.read(path: ply), to: splat)
        try GaussianModelFile.write(try GaussianModelFile.read(path: splat), to: back)
        let result = try GaussianModelFile.read(path: back)
        XCTAssertEqual(result.shDegree, 0)
        XCTAssertEqual(result.count, 64)
        XCTAssertEqual(result.shRest, [])
        let order = SplatFile.order(clean)
        for (slot, i) in order.enumerated() {
            XCTAssertEqual(bits(Array(result.positions[slot * 3..<slot * 3 + 3])), bits(Array(clean.positions[i * 3..<i * 3 + 3])))
        }
        let written = try Data(contentsOf: URL(fileURLWithPath: splat))
        for slot in 0..<64 {
            assertSameRecord(SplatFile.encodeGaussian(result, slot), [UInt8](written[slot * 32..<slot * 32 + 32]))
        }
        XCTAssertThrowsError(try GaussianModelFile.write(clean, to: path("model.obj"))) { error in
            XCTAssertTrue((error as? DatasetError)?.problem.contains(".obj") ?? false, "\(error)")
        }
        XCTAssertThrowsError(try GaussianModelFile.read(path: path("noextension")))
    }

    // MARK: - Info

    func testModelInfoDescribesPLYAndSplat() throws {
        var model = GaussianModel(count: 1234, shDegree: 3)
        model.positions[0] = -1.5
        model.positions[3 * 1233 + 2] = 2.25
        let ply = path("scene.ply"), splat = path("scene.splat")
        try GaussianPLY.write(model, to: ply)
        try SplatFile.write(model, to: splat)
        let text = try ModelInfo.describe(path: ply)
        XCTAssertTrue(text.contains("Gaussians  1,234"), text)
        XCTAssertTrue(text.contains("SH degree  3"), text)
        XCTAssertTrue(text.contains("min (-1.500, 0.000, 0.000)  max (0.000, 0.000, 2.250)"), text)
        let size = (GaussianPLY.header(count: 1234, shDegree: 3).utf8.count + 1234 * 62 * 4)
        let grouped = "\(size / 1000),\(String(format: "%03d", size % 1000)) bytes"  // 300,000 < size < 1,000,000
        XCTAssertTrue(text.contains("KiB (\(grouped))"), text)
        let splatText = try ModelInfo.describe(path: splat)
        XCTAssertTrue(splatText.contains("Gaussians  1,234"), splatText)
        XCTAssertTrue(splatText.contains("SH degree  0"), splatText)
        XCTAssertTrue(splatText.contains("38.6 KiB (39,488 bytes)"), splatText)
        XCTAssertThrowsError(try ModelInfo.describe(path: path("scene.txt")))
    }
}

/// 2D image-plane Gaussians (image2d): the schema, the PLY round trip and
/// the readers' detection by the Cholesky properties.
final class Image2DModelTests: XCTestCase {
    func testPLYRoundTripAndDetection() throws {
        var m = GaussianModel.image2D(count: 3)
        m.means2D = [1.5, 2.5, 10, 20, 0, 7]
        m.cholesky = [2, 0.5, 1, 1, 0, 1, 3, -1, 0.5]
        m.colors = [0.1, 0.2, 0.3, -0.1, 1.2, 0.5, 0, 0, 1]
        m.opacities = [8, 0, -1]
        XCTAssertNil(m.shapeProblem())
        XCTAssertEqual(m.kind, "image2d")
        XCTAssertEqual(m.count, 3)
        let data = try GaussianPLY.encode(m)
        let header = String(decoding: data.prefix(400), as: UTF8.self)
        XCTAssertTrue(header.contains("property float chol_0") && header.contains("property float red"), header)
        let back = try GaussianPLY.decode(data, path: "m.ply")
        XCTAssertEqual(back, m)
        XCTAssertThrowsError(try SplatFile.encode(m))
    }
}
