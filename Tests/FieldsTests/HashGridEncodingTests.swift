import CShaderLayouts
import Compute
import ComputeTestSupport
@testable import Fields
import Foundation
import Geometry
import XCTest

/// Golden values from REFERENCE.md (instant-ngp / tiny-cuda-nn).
final class HashGridLayoutTests: XCTestCase {
    func testFoxConfigurationParameterCountAndGrowthFactor() {
        let config = HashGridConfig(levels: 16, featuresPerLevel: 2, log2HashmapSize: 19)
        XCTAssertEqual(config.growthFactor(aabbScale: 4), 1.515717, accuracy: 5e-7)
        let levels = HashGridEncoding.layout(config, aabbScale: 4)
        let entries = levels.map { Int($0.entries) }.reduce(0, +)
        XCTAssertEqual(entries * 2, 13_074_912)
        // Coarse levels are dense, fine ones hashed; offsets are contiguous.
        XCTAssertEqual(levels[0].resolution, 16)
        XCTAssertEqual(levels[0].hashed, 0)
        XCTAssertEqual(levels[3].hashed, 0)
        XCTAssertEqual(levels[4].hashed, 1)
        XCTAssertEqual(levels[15].resolution, 8192)
        for l in 1..<levels.count { XCTAssertEqual(levels[l].offset, levels[l - 1].offset + levels[l - 1].entries) }
        for level in levels { XCTAssertEqual(level.entries % 8, 0) }
    }

    func testHashGoldenValues() {
        let mask = UInt32(1 << 19) - 1
        XCTAssertEqual(HashGridEncoding.hash(1, 2, 3) & mask, 128_476)
        XCTAssertEqual(HashGridEncoding.hash(100, 200, 300) & mask, 110_768)
    }

    func testConfigurationFromTinyCudaNNJSON() throws {
        let json = #"{"otype": "HashGrid", "n_levels": 8, "n_features_per_level": 4, "log2_hashmap_size": 15, "base_resolution": 16, "per_level_scale": 1.5}"#
        let config = try JSONDecoder().decode(HashGridConfig.self, from: Data(json.utf8))
        XCTAssertEqual(config, HashGridConfig(levels: 8, featuresPerLevel: 4, log2HashmapSize: 15, baseResolution: 16, perLevelScale: 1.5))
        XCTAssertNil(config.problem)
        XCTAssertNotNil(HashGridConfig(featuresPerLevel: 3).problem)
        var other = config
        other.otype = "Frequency"
        XCTAssertEqual(other.problem, "encoding \"Frequency\" is not known (known: HashGrid)")
    }
}

final class HashGridEncodingTests: GPUTestCase {
    /// A small grid (T = 10, so levels beyond res 10 hash and collide), points
    /// at random plus the edge cases: the box corners and faces (the upper
    /// vertex of a point at 1 is outside the grid and wraps), cell borders,
    /// and points outside the box (clamped).
    func points(count: Int, rng: inout SplitMix64, levels: [HashGridLevel]) -> [Float] {
        var p: [Float] = []
        for _ in 0..<count { p += [rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0, 1)] }
        p += [0, 0, 0, 1, 1, 1, 0, 1, 0.5, 1, 0, 1, -0.25, 1.5, 0.5]
        // A point exactly on a cell border of level 1: (k - 0.5) / scale.
        let s = levels[1].scale
        p += [(3 - 0.5) / s, (5 - 0.5) / s, 0.25]
        return p
    }

    func testForwardAndBackwardMatchTheTwins() throws {
        for features in [1, 2, 4, 8] {
            let config = HashGridConfig(levels: 6, featuresPerLevel: features, log2HashmapSize: 10, baseResolution: 4, perLevelScale: 1.7)
            let grid = try HashGridEncoding(device: device, config: config)
            var rng = SplitMix64(seed: UInt64(features))
            let pts = points(count: 3000, rng: &rng, levels: grid.levels)
            let n = pts.count / 3
            // Table values far above the initial 1e-4, so the comparison means something.
            let table = (0..<grid.parameterCount).map { _ in rng.uniform(-1, 1) }
            let dOut = (0..<(n * grid.outputWidth)).map { i in i % 7 == 0 ? 0 : rng.uniform(-1, 1) }

            let pointsB = try GPUBuffer(device: device, pts)
            let tableB = try GPUBuffer(device: device, table)
            let outB = try GPUBuffer(device: device, length: n * grid.outputWidth * 4)
            let dOutB = try GPUBuffer(device: device, dOut)
            let dTableB = try GPUBuffer(device: device, length: grid.parameterCount * 4)
            let stream = try CommandStream(device: device)
            stream.fill(dTableB, value: 0)
            try grid.encode(stream, points: pointsB, table: tableB, encoded: outB, count: n)
            try grid.backward(stream, points: pointsB, encodedGradient: dOutB, tableGradient: dTableB, count: n)
            try stream.run()

            let gpuOut = try outB.read(Float.self, count: n * grid.outputWidth, device: device)
            let twinOut = HashGridEncoding.reference(levels: grid.levels, features: features, points: pts, table: table)
            for i in 0..<gpuOut.count {
                XCTAssertEqual(gpuOut[i], twinOut[i], accuracy: 1e-5, "F\(features) output \(i) (point \(i / grid.outputWidth))")
            }
            let gpuGrad = try dTableB.read(Float.self, count: grid.parameterCount, device: device)
            let twinGrad = HashGridEncoding.referenceBackward(levels: grid.levels, features: features, entries: grid.entries,
                                                              points: pts, encodedGradient: dOut.map(Double.init))
            // Atomics sum in any order: tolerance relative to the entry's total weight.
            for i in 0..<gpuGrad.count {
                XCTAssertEqual(Double(gpuGrad[i]), twinGrad[i], accuracy: 1e-4 * max(1, abs(twinGrad[i])), "F\(features) table gradient \(i)")
            }
            XCTAssertTrue(gpuOut.allSatisfy(\.isFinite) && gpuGrad.allSatisfy(\.isFinite))
        }
    }

    /// The encoding is linear in the table, so central differences in Double
    /// are exact up to rounding: they check that the twin's scatter matches
    /// what the forward reads (every corner, weight and collision).
    func testBackwardTwinMatchesFiniteDifferences() throws {
        let config = HashGridConfig(levels: 3, featuresPerLevel: 2, log2HashmapSize: 6, baseResolution: 3, perLevelScale: 2)
        let levels = HashGridEncoding.layout(config)
        let entries = levels.map { Int($0.entries) }.reduce(0, +)
        var rng = SplitMix64(seed: 11)
        let pts = (0..<(40 * 3)).map { _ in rng.uniform(0, 1) }
        let table = (0..<(entries * 2)).map { _ in rng.uniform(-1, 1) }
        let w = (0..<(40 * 6)).map { _ in Double(rng.uniform(-1, 1)) }
        // loss = sum(w * encode(table)); forward in Double through the same corners.
        func loss(_ t: [Double]) -> Double {
            var sum = 0.0
            for p in 0..<40 {
                let x = SIMD3<Float>(pts[3 * p], pts[3 * p + 1], pts[3 * p + 2])
                for (l, level) in levels.enumerated() {
                    for c in HashGridEncoding.corners(level: level, x: x) {
                        for f in 0..<2 { sum += w[(p * 3 + l) * 2 + f] * Double(c.weight) * t[c.entry * 2 + f] }
                    }
                }
            }
            return sum
        }
        let analytic = HashGridEncoding.referenceBackward(levels: levels, features: 2, entries: entries, points: pts, encodedGradient: w)
        var t = table.map(Double.init)
        let h = 1e-3
        for i in stride(from: 0, to: t.count, by: 3) {
            let saved = t[i]
            t[i] = saved + h
            let up = loss(t)
            t[i] = saved - h
            let down = loss(t)
            t[i] = saved
            XCTAssertEqual(analytic[i], (up - down) / (2 * h), accuracy: 1e-9, "table entry \(i)")
        }
    }
}
