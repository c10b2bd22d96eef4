import Compute
import Datasets
@testable import Fields
import Foundation
import XCTest

/// NeRF model files and configurations from outside (issue 20: bad input
/// never crashes splat): every damaged header value, section length or
/// configuration key found by fuzzing is one `DatasetError` naming the file
/// and the key, from `NerfModelFile.decode` without a device.
final class NerfModelFileValidationTests: XCTestCase {
    static let path = "/models/fox/checkpoint/model.nerf"

    /// A small valid configuration: every size a few KiB.
    static var config: NerfConfig {
        var c = NerfConfig()
        c.encoding = HashGridConfig(levels: 2, featuresPerLevel: 2, log2HashmapSize: 8, baseResolution: 4)
        c.network = MLPConfig(neurons: 16, hiddenLayers: 1)
        c.rgbNetwork = MLPConfig(neurons: 16, hiddenLayers: 1)
        c.gridSize = 8
        c.marchSteps = 16
        c.samplesPerBatch = 1024
        c.raysPerBatch = 64
        return c
    }

    /// A valid checkpoint (optimiser state included), built without a device.
    static func contents(checkpoint: Bool = true) throws -> NerfModelFile.Contents {
        let header = NerfModelFile.Header(
            config: config, boxCenter: [0, 0.5, 0], boxSize: 2, aabbScale: 2, background: [1, 1, 1], iteration: 7,
            optimizer: checkpoint ? NerfModelFile.Optimizer(step: 7, groups: NerfModelFile.groups, seed: 3, raysPerBatch: 64) : nil)
        let layout = try XCTUnwrap(NerfModelFile.Layout(header))
        let ramp = { (n: Int) in (0..<n).map { Float($0 % 17) / 17 } }
        var moments: [String: (m: [Float], v: [Float])] = [:]
        if checkpoint { for (g, n) in layout.groups { moments[g] = (ramp(n), ramp(n)) } }
        return NerfModelFile.Contents(header: header, table: ramp(layout.table), densityWeights: ramp(layout.densityWeights),
                                      colourWeights: ramp(layout.colourWeights), occupancy: ramp(layout.occupancy),
                                      bits: [UInt32](repeating: 0xF0F0, count: layout.bits), moments: moments)
    }

    /// The file of `contents` with its header JSON edited as an object.
    static func file(_ contents: NerfModelFile.Contents, editingHeader edit: (inout [String: Any]) -> Void) throws -> Data {
        let valid = try NerfModelFile.encode(contents)
        let headerLength = Int(valid[12]) | Int(valid[13]) << 8 | Int(valid[14]) << 16 | Int(valid[15]) << 24
        var header = try XCTUnwrap(try JSONSerialization.jsonObject(with: valid.subdata(in: 16..<(16 + headerLength))) as? [String: Any])
        edit(&header)
        let json = try JSONSerialization.data(withJSONObject: header)
        var data = valid.prefix(12)
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { data.append(contentsOf: $0) }
        return data + json + valid.dropFirst(16 + headerLength)
    }

    /// `data` is refused with one line that names the file and holds `fragment`.
    func assertRefused(_ data: Data, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try NerfModelFile.decode(data, path: Self.path), file: file, line: line) { error in
            guard let error = error as? DatasetError else { return XCTFail("\(error) is not a DatasetError", file: file, line: line) }
            XCTAssertEqual(error.path, Self.path, file: file, line: line)
            XCTAssertTrue(error.problem.contains(fragment), "'\(error.problem)' lacks '\(fragment)'", file: file, line: line)
            XCTAssertFalse(error.problem.contains("\n") || error.problem.contains("DecodingError"), error.problem, file: file, line: line)
        }
    }

    func testValidCheckpointRoundTrips() throws {
        let contents = try Self.contents()
        let decoded = try NerfModelFile.decode(NerfModelFile.encode(contents), path: Self.path)
        XCTAssertEqual(decoded.header, contents.header)
        XCTAssertEqual(decoded.table, contents.table)
        XCTAssertEqual(decoded.bits, contents.bits)
        XCTAssertEqual(decoded.moments["hash table"]?.v, contents.moments["hash table"]?.v)
        XCTAssertEqual(decoded.path, Self.path)
        let model = try Self.contents(checkpoint: false)
        XCTAssertEqual(try NerfModelFile.decode(NerfModelFile.encode(model), path: Self.path).header, model.header)
        // A slice of a larger buffer (the fuzzer's input) reads the same.
        let sliced = (Data([1, 2, 3]) + (try NerfModelFile.encode(model))).dropFirst(3)
        XCTAssertEqual(try NerfModelFile.decode(sliced, path: Self.path).table, model.table)
    }

    /// The header values fuzzing found trapping or hanging `splat info` and
    /// `splat render`, and the rest of the ranges, each named.
    func testDamagedHeaderValuesAreNamed() throws {
        let contents = try Self.contents()
        func damaged(_ path: [String], _ value: Any, _ fragment: String, line: UInt = #line) throws {
            let data = try Self.file(contents) { header in
                func set(_ object: inout [String: Any], _ keys: ArraySlice<String>) {
                    guard let key = keys.first else { return }
                    if keys.count == 1 { object[key] = value; return }
                    var inner = object[key] as? [String: Any] ?? [:]
                    set(&inner, keys.dropFirst())
                    object[key] = inner
                }
                set(&header, path[...])
            }
            assertRefused(data, fragment, line: line)
        }
        try damaged(["aabbScale"], 0, "aabbScale must be a power of two within 1...128, got 0")
        try damaged(["aabbScale"], -4, "aabbScale")
        try damaged(["aabbScale"], 3, "aabbScale")
        try damaged(["aabbScale"], 1 << 40, "aabbScale")
        try damaged(["config", "encoding", "n_levels"], 0, "n_levels")
        try damaged(["config", "encoding", "n_levels"], -3, "n_levels")
        try damaged(["config", "encoding", "n_levels"], 1 << 40, "n_levels")
        try damaged(["config", "encoding", "n_features_per_level"], 3, "n_features_per_level")
        try damaged(["config", "encoding", "log2_hashmap_size"], 64, "log2_hashmap_size")
        try damaged(["config", "encoding", "log2_hashmap_size"], -1, "log2_hashmap_size")
        try damaged(["config", "encoding", "base_resolution"], 0, "base_resolution")
        try damaged(["config", "encoding", "base_resolution"], 1 << 40, "base_resolution")
        try damaged(["config", "encoding", "per_level_scale"], 1e30, "per_level_scale")
        try damaged(["config", "encoding", "per_level_scale"], 0.5, "per_level_scale")
        try damaged(["config", "encoding", "otype"], "Frequency", "encoding")
        try damaged(["config", "network", "n_neurons"], 1 << 40, "network: n_neurons")
        try damaged(["config", "network", "n_neurons"], -16, "network: n_neurons")
        try damaged(["config", "rgb_network", "n_hidden_layers"], 1_000_000, "rgb_network: n_hidden_layers")
        try damaged(["config", "rgb_network", "n_hidden_layers"], -1, "rgb_network: n_hidden_layers")
        try damaged(["config", "march_steps"], 1e12, "march_steps")
        try damaged(["config", "march_steps"], 0, "march_steps")
        try damaged(["config", "grid_size"], 1 << 40, "grid_size")
        try damaged(["config", "grid_size"], 10, "grid_size")
        try damaged(["config", "samples_per_batch"], 0, "samples_per_batch")
        try damaged(["config", "rays_per_batch"], -1, "rays_per_batch")
        try damaged(["config", "grid_update_points"], -1, "grid_update_points")
        try damaged(["config", "learning_rate"], 0, "learning_rate")
        try damaged(["config", "beta1"], 1, "beta1")
        try damaged(["config", "beta2"], -0.5, "beta2")
        try damaged(["config", "epsilon"], 0, "epsilon")
        try damaged(["config", "l2_reg"], -1, "l2_reg")
        try damaged(["config", "decay_interval"], 0, "decay_interval")
        try damaged(["config", "decay_base"], 2, "decay_base")
        try damaged(["config", "decay_budget_points"], [0.9, 0.5], "decay_budget_points")
        try damaged(["config", "loss"], "L7", "loss")
        try damaged(["config", "march_steps"], "many", "march_steps")
        try damaged(["background"], [1, 1], "background must be 3 numbers")
        try damaged(["background"], [1, 1, 9], "background")
        try damaged(["boxCenter"], [0, 0], "boxCenter")
        try damaged(["boxSize"], 0, "boxSize")
        try damaged(["boxSize"], -1e300, "boxSize")
        try damaged(["iteration"], -1, "iteration")
        try damaged(["optimizer", "step"], -1, "optimizer.step")
        try damaged(["optimizer", "raysPerBatch"], 0, "optimizer.raysPerBatch")
        try damaged(["optimizer", "learningRate"], -1, "optimizer.learningRate")
        try damaged(["optimizer", "groups"], ["hash table", "hash table"], "twice")
        try damaged(["optimizer", "groups"], ["weights"], "unknown optimiser group 'weights'")
        // A key missing from the header is named, in one line.
        assertRefused(try Self.file(contents) { $0["boxSize"] = nil }, "boxSize")
        assertRefused(try Self.file(contents) { $0["config"] = nil }, "config")
    }

    /// Section lengths and the header length are checked against the bytes
    /// that remain before anything is read or allocated.
    func testDamagedSectionsAreRefused() throws {
        let valid = try NerfModelFile.encode(try Self.contents())
        let headerLength = Int(valid[12]) | Int(valid[13]) << 8
        let firstSection = 16 + headerLength
        var huge = valid
        huge.replaceSubrange(firstSection..<(firstSection + 8), with: withUnsafeBytes(of: (UInt64(1) << 62).littleEndian, Array.init))
        assertRefused(huge, "hash table has 4611686018427387904 values")
        var longHeader = valid
        longHeader.replaceSubrange(12..<16, with: [0xFF, 0xFF, 0xFF, 0xFF])
        assertRefused(longHeader, "truncated")
        assertRefused(valid.prefix(valid.count - 4), "truncated")
        assertRefused(valid + Data([0]), "1 bytes after its last section")
        assertRefused(Data("SPLATNRF".utf8), "truncated")
        assertRefused(Data(), "truncated")
        assertRefused(Data(repeating: 0, count: 64), "bad magic")
        var garbageHeader = valid
        garbageHeader[16] = UInt8(ascii: "]")
        assertRefused(garbageHeader, "unreadable NeRF model header")
    }

    /// Every truncation and many random byte changes of a valid checkpoint:
    /// decoding returns or throws, never traps.
    func testDamagedBytesNeverTrap() throws {
        let valid = try NerfModelFile.encode(try Self.contents())
        let headerEnd = 16 + (Int(valid[12]) | Int(valid[13]) << 8)
        for n in stride(from: 0, to: min(valid.count, headerEnd + 64), by: 1) {
            XCTAssertThrowsError(try NerfModelFile.decode(valid.prefix(n), path: Self.path))
        }
        var state: UInt64 = 0x5EED
        func next() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(truncatingIfNeeded: state >> 33)
        }
        for _ in 0..<1500 {
            var damaged = valid
            for _ in 0..<(1 + next() % 4) {
                // Mostly in the header and section lengths, where the values that matter are.
                let at = next() % 2 == 0 ? next() % headerEnd : next() % damaged.count
                damaged[at] = UInt8(truncatingIfNeeded: next())
            }
            _ = try? NerfModelFile.decode(damaged, path: Self.path)
        }
    }

    /// A `--nerf-config` file goes through the same checks as a model's header.
    func testConfigFilesAreChecked() throws {
        let path = "/configs/big.json"
        func refused(_ json: String, _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try NerfConfig.decode(Data(json.utf8), path: path), line: line) { error in
                guard let error = error as? DatasetError else { return XCTFail("\(error)", line: line) }
                XCTAssertEqual(error.path, path, line: line)
                XCTAssertTrue(error.problem.contains(fragment), "'\(error.problem)' lacks '\(fragment)'", line: line)
                XCTAssertFalse(error.problem.contains("\n") || error.problem.contains("DecodingError"), error.problem, line: line)
            }
        }
        refused(#"{"march_steps": 1e12}"#, "march_steps")
        refused(#"{"encoding": {"n_levels": 100}}"#, "n_levels")
        refused(#"{"network": {"n_neurons": 7}}"#, "n_neurons")
        refused(#"{"rays_per_batch": "many"}"#, "rays_per_batch")
        refused(#"{"marchsteps": 64}"#, "unknown NeRF configuration key marchsteps")
        refused(#"{"grid_size": 64,}"#, "JSON")
        refused(#"{"encoding": {"nlevels": 8}}"#, "unknown encoding key nlevels")
        refused(#"{"rgb_network": {"neurons": 8}}"#, "unknown rgb_network key neurons")
        let good = try NerfConfig.decode(Data(#"{"march_steps": 64, "encoding": {"n_levels": 4}}"#.utf8), path: path)
        XCTAssertEqual(good.marchSteps, 64)
        XCTAssertEqual(good.encoding.levels, 4)
        XCTAssertNil(NerfConfig().problem)
        XCTAssertNil(NerfConfig.cpuDefaults.problem)
    }

    /// Sizes against the device: a configuration whose hash table exceeds one
    /// binding, or whose buffers exceed the heap, is named before allocating.
    func testResourceLimitsAreChecked() throws {
        let heap: [String: Any] = ["bytes": 1 << 30, "deviceLocal": true]
        let object: [String: Any] = [
            "index": 0, "name": "small GPU", "kind": "discrete", "vendorID": 0, "deviceID": 0, "apiVersion": "1.3", "driverName": "test",
            "driverInfo": "", "subgroupSize": 32, "minSubgroupSize": 32, "maxSubgroupSize": 32, "subgroupArithmetic": true,
            "subgroupBallot": true, "subgroupShuffle": true, "maxSharedMemoryBytes": 49152, "maxWorkgroupInvocations": 1024,
            "maxWorkgroupSize": [1024, 1024, 64], "maxWorkgroupCount": [65535, 65535, 65535], "maxPushConstantsBytes": 128,
            "maxStorageBufferRange": 128 << 20, "maxMemoryAllocationSize": 1 << 30, "minStorageBufferOffsetAlignment": 16,
            "timestampPeriodNs": 1.0, "timestampsSupported": true, "float32AtomicAdd": true, "float32SharedAtomicAdd": true,
            "float32AtomicMinMax": true, "shaderInt64": true, "storage16Bit": false, "pushDescriptors": true, "heaps": [heap],
        ]
        let info = try JSONDecoder().decode(DeviceInfo.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertNil(Self.config.resourceProblem(aabbScale: 1, device: info))
        var big = NerfConfig()
        big.encoding = HashGridConfig(levels: 16, featuresPerLevel: 8, log2HashmapSize: 26)
        big.network = MLPConfig(neurons: 64, hiddenLayers: 1)
        XCTAssertNil(big.problem, "in range")
        let problem = try XCTUnwrap(big.resourceProblem(aabbScale: 128, device: info))
        XCTAssertTrue(problem.contains("hash table") && problem.contains("small GPU"), problem)
        var many = Self.config
        many.samplesPerBatch = NerfConfig.maxSamplesPerBatch
        many.encoding = HashGridConfig(levels: 16, featuresPerLevel: 8, log2HashmapSize: 10)
        XCTAssertNotNil(many.resourceProblem(aabbScale: 1, device: info))
    }
}
