import Datasets
import Foundation
@testable import Splatting
import XCTest

/// Gaussian checkpoints from outside (issue 20: bad input never crashes
/// splat): `GaussianCheckpoint.decode` range-checks every header value and
/// checks every array count against the bytes left before allocating, each
/// failure one `DatasetError` naming the file and the key or array.
final class CheckpointValidationTests: XCTestCase {
    static let path = "/runs/garden/checkpoint/state.bin"

    /// A valid checkpoint of `count` Gaussians of SH degree 1, built without a device.
    static func checkpoint(count: Int = 5) -> GaussianCheckpoint {
        var model = GaussianModel(count: count, shDegree: 1)
        for i in model.positions.indices { model.positions[i] = Float(i) / 10 }
        let groups: [(String, Int)] = [("positions", model.positions.count), ("scales", model.scales.count),
                                       ("rotations", model.rotations.count), ("opacities", model.opacities.count),
                                       ("sh_dc", model.shDC.count), ("sh_rest", model.shRest.count)]
        var moments: [String: (m: [Float], v: [Float])] = [:]
        for (name, n) in groups { moments[name] = ([Float](repeating: 0.5, count: n), [Float](repeating: 0.25, count: n)) }
        var config = GaussianTrainingConfig()
        config.maxSHDegree = 1
        return GaussianCheckpoint(iteration: 120, adamStep: 120, rngState: 42, order: [2, 0, 1], densifications: 1, config: config,
                                  model: model, moments: moments, gradAccum: [Float](repeating: 1, count: count),
                                  views: [Float](repeating: 2, count: count), maxRadius: [Float](repeating: 3, count: count))
    }

    /// The file of a valid checkpoint with its header JSON edited as an object.
    static func file(editingHeader edit: (inout [String: Any]) -> Void) throws -> Data {
        let valid = try checkpoint().encoded()
        let headerLength = Int(valid[12]) | Int(valid[13]) << 8 | Int(valid[14]) << 16 | Int(valid[15]) << 24
        var header = try XCTUnwrap(try JSONSerialization.jsonObject(with: valid.subdata(in: 16..<(16 + headerLength))) as? [String: Any])
        edit(&header)
        let json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        var data = valid.prefix(12)
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { data.append(contentsOf: $0) }
        return data + json + valid.dropFirst(16 + headerLength)
    }

    func assertRefused(_ data: Data, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try GaussianCheckpoint.decode(data, path: Self.path), file: file, line: line) { error in
            guard let error = error as? DatasetError else { return XCTFail("\(error) is not a DatasetError", file: file, line: line) }
            XCTAssertEqual(error.path, Self.path, file: file, line: line)
            XCTAssertTrue(error.problem.contains(fragment), "'\(error.problem)' lacks '\(fragment)'", file: file, line: line)
            XCTAssertFalse(error.problem.contains("\n") || error.problem.contains("DecodingError"), error.problem, file: file, line: line)
        }
    }

    func testValidCheckpointsRoundTrip() throws {
        let original = Self.checkpoint()
        let decoded = try GaussianCheckpoint.decode(original.encoded(), path: Self.path)
        XCTAssertEqual(decoded.model, original.model)
        XCTAssertEqual(decoded.iteration, 120)
        XCTAssertEqual(decoded.adamStep, 120)
        XCTAssertEqual(decoded.rngState, 42)
        XCTAssertEqual(decoded.order, [2, 0, 1])
        XCTAssertEqual(decoded.config, original.config)
        XCTAssertEqual(decoded.moments["sh_rest"]?.v, original.moments["sh_rest"]?.v)
        // No Gaussians (a run pruned to nothing) writes and reads: empty arrays have no base address to trap on.
        var empty = Self.checkpoint(count: 0)
        empty.moments = [:]
        XCTAssertEqual(try GaussianCheckpoint.decode(empty.encoded(), path: Self.path).model.count, 0)
    }

    /// The values fuzzing found trapping `splat train --resume` (a count of
    /// 2^62, Adam step -1) and the rest of the header's ranges, each named.
    func testDamagedHeaderValuesAreNamed() throws {
        func arrays(_ edit: @escaping (inout [[String: Any]]) -> Void) throws -> Data {
            try Self.file { header in
                var list = header["arrays"] as! [[String: Any]]
                edit(&list)
                header["arrays"] = list
            }
        }
        assertRefused(try arrays { $0[0]["count"] = 1 << 62 }, "truncated checkpoint: array positions holds 4611686018427387904 values")
        assertRefused(try arrays { $0[0]["count"] = -1 }, "array positions has no valid count")
        assertRefused(try arrays { $0[0]["count"] = 1e300 }, "array positions has no valid count")
        assertRefused(try arrays { $0[1]["name"] = "positions" }, "array positions is listed twice")
        assertRefused(try arrays { $0[1]["name"] = "secrets" }, "unknown array 'secrets'")
        assertRefused(try arrays { $0[0]["name"] = nil }, "arrays[0] lacks a name")
        assertRefused(try arrays { $0.removeLast() }, "unexpected trailing bytes")
        assertRefused(try Self.file { $0["adam_step"] = -1 }, "adam_step must be within")
        assertRefused(try Self.file { $0["iteration"] = -1 }, "iteration")
        assertRefused(try Self.file { $0["iteration"] = 1.5 }, "iteration is not an integer")
        assertRefused(try Self.file { $0["iteration"] = nil }, "missing key iteration")
        assertRefused(try Self.file { $0["densifications"] = -3 }, "densifications")
        assertRefused(try Self.file { $0["sh_degree"] = 9 }, "sh_degree")
        assertRefused(try Self.file { $0["count"] = 1e30 }, "count is not an integer")
        assertRefused(try Self.file { $0["count"] = 6 }, "count says 6 Gaussians")
        assertRefused(try Self.file { $0["rng_state"] = "seven" }, "rng_state")
        assertRefused(try Self.file { $0["order"] = [-1] }, "order holds -1")
        assertRefused(try Self.file { $0["order"] = ["a"] }, "order holds a")
        assertRefused(try Self.file { $0["arrays"] = "all" }, "arrays must be a list")
        // A damaged recipe: one readable line naming the key (was exit 2 with DecodingError.keyNotFound).
        func config(_ edit: @escaping (inout [String: Any]) -> Void) throws -> Data {
            try Self.file { header in
                var config = header["config"] as! [String: Any]
                edit(&config)
                header["config"] = config
            }
        }
        assertRefused(try config { $0["iterations"] = nil }, "iterations")
        assertRefused(try config { $0["positionLR"] = "fast" }, "positionLR")
        assertRefused(try config { $0["positionLR"] = -1 }, "config.positionLR must be finite and >= 0")
        assertRefused(try config { $0["maxSHDegree"] = 7 }, "config.maxSHDegree")
        assertRefused(try config {
            var d = $0["densification"] as! [String: Any]
            d["interval"] = -100
            $0["densification"] = d
        }, "config.densification.interval")
    }

    func testDamagedBytesAreRefused() throws {
        let valid = try Self.checkpoint().encoded()
        var long = valid
        long.replaceSubrange(12..<16, with: [0xFF, 0xFF, 0xFF, 0x7F])
        assertRefused(long, "truncated checkpoint: its header needs")
        assertRefused(valid.prefix(valid.count - 2), "truncated")
        assertRefused(valid + Data([1, 2, 3, 4]), "4 unexpected trailing bytes")
        assertRefused(Data("SPLATCKP".utf8), "truncated")
        assertRefused(Data("SPLAT".utf8), "bad magic")
        var notJSON = valid
        notJSON[16] = UInt8(ascii: "x")
        assertRefused(notJSON, "JSON")
        // Every truncation and random byte changes: decode returns or throws, never traps.
        for n in 0..<valid.count where n % 7 == 0 || n < 64 {
            XCTAssertThrowsError(try GaussianCheckpoint.decode(valid.prefix(n), path: Self.path))
        }
        var state: UInt64 = 99
        func next() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(truncatingIfNeeded: state >> 33)
        }
        let headerEnd = 16 + (Int(valid[12]) | Int(valid[13]) << 8)
        for _ in 0..<1000 {
            var damaged = valid
            for _ in 0..<(1 + next() % 3) { damaged[next() % headerEnd] = UInt8(truncatingIfNeeded: next()) }
            _ = try? GaussianCheckpoint.decode(damaged, path: Self.path)
        }
    }

    /// `read(from:)` finds the file in a run folder or its checkpoint folder and names it in errors.
    func testReadFindsTheFile() throws {
        let folder = NSTemporaryDirectory() + "splat-checkpoint-validation-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Self.checkpoint().write(to: folder + "/checkpoint")
        XCTAssertEqual(try GaussianCheckpoint.read(from: folder).iteration, 120)
        XCTAssertEqual(GaussianCheckpoint.file(in: folder), folder + "/checkpoint/state.bin")
        try Data(try Self.file { $0["adam_step"] = -1 }).write(to: URL(fileURLWithPath: folder + "/checkpoint/state.bin"))
        XCTAssertThrowsError(try GaussianCheckpoint.read(from: folder)) { error in
            XCTAssertEqual((error as? DatasetError)?.path, folder + "/checkpoint/state.bin")
        }
    }
}
