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

    /// The encoding placed after three other columns of a wider row (an SDF
    /// network's input: position, then encoding, then two more), with all,
    /// some and none of the levels active: the kernels write and read only
    /// their own columns, inactive levels encode exactly 0, and their table
    /// entries get no gradient at all.
    func testColumnStrideAndActiveLevelsMatchTheTwins() throws {
        for features in [2, 4] {
            let config = HashGridConfig(levels: 6, featuresPerLevel: features, log2HashmapSize: 10, baseResolution: 4, perLevelScale: 1.7)
            let grid = try HashGridEncoding(device: device, config: config)
            var rng = SplitMix64(seed: 100 + UInt64(features))
            let pts = points(count: 2000, rng: &rng, levels: grid.levels)
            let n = pts.count / 3
            let column = 3, stride = 3 + grid.outputWidth + 2
            let table = (0..<grid.parameterCount).map { _ in rng.uniform(-1, 1) }
            let dOut = (0..<(n * stride)).map { _ in rng.uniform(-1, 1) }
            let sentinel: Float = 7
            for active in [6, 4, 0] {
                let pointsB = try GPUBuffer(device: device, pts)
                let tableB = try GPUBuffer(device: device, table)
                let outB = try GPUBuffer(device: device, [Float](repeating: sentinel, count: n * stride))
                let dOutB = try GPUBuffer(device: device, dOut)
                let dTableB = try GPUBuffer(device: device, length: grid.parameterCount * 4)
                let stream = try CommandStream(device: device)
                stream.fill(dTableB, value: 0)
                try grid.encode(stream, points: pointsB, table: tableB, encoded: outB, count: n,
                                column: column, stride: stride, activeLevels: active)
                try grid.backward(stream, points: pointsB, encodedGradient: dOutB, tableGradient: dTableB, count: n,
                                  column: column, stride: stride, activeLevels: active)
                try stream.run()

                let gpuOut = try outB.read(Float.self, count: n * stride, device: device)
                let twinOut = HashGridEncoding.reference(levels: grid.levels, features: features, points: pts, table: table,
                                                         column: column, stride: stride, activeLevels: active)
                for p in 0..<n {
                    for c in 0..<stride {
                        let i = p * stride + c
                        let l = (c - column) / features
                        if c < column || c >= column + grid.outputWidth {
                            XCTAssertEqual(gpuOut[i], sentinel, "F\(features) active \(active): column \(c) of point \(p) was written")
                        } else if l >= active {
                            XCTAssertEqual(gpuOut[i], 0, "F\(features) active \(active): inactive level \(l) of point \(p)")
                        } else {
                            XCTAssertEqual(gpuOut[i], twinOut[i], accuracy: 1e-5, "F\(features) active \(active): column \(c) of point \(p)")
                        }
                    }
                }
                let gpuGrad = try dTableB.read(Float.self, count: grid.parameterCount, device: device)
                let twinGrad = HashGridEncoding.referenceBackward(levels: grid.levels, features: features, entries: grid.entries,
                                                                  points: pts, encodedGradient: dOut.map(Double.init),
                                                                  column: column, stride: stride, activeLevels: active)
                for i in 0..<gpuGrad.count {
                    XCTAssertEqual(Double(gpuGrad[i]), twinGrad[i], accuracy: 1e-4 * max(1, abs(twinGrad[i])),
                                   "F\(features) active \(active): table gradient \(i)")
                }
                // Levels are contiguous in the table: everything from the first inactive level on stays exactly 0.
                if active < config.levels {
                    let first = Int(grid.levels[active].offset) * features
                    XCTAssertTrue(gpuGrad[first...].allSatisfy { $0 == 0 }, "F\(features) active \(active): inactive levels got a gradient")
                }
            }
        }
    }

    /// The position gradient on the GPU against its twin, for F = 1, 2, 4 on
    /// a grid whose levels 0 and 1 are dense and 2...5 hashed (with
    /// collisions), in a strided layout, with all levels and with some off;
    /// the point set includes box corners and faces, a cell border and
    /// points outside the box (whose clamped axes get 0).
    func testPositionGradientMatchesTheTwin() throws {
        for features in [1, 2, 4] {
            let config = HashGridConfig(levels: 6, featuresPerLevel: features, log2HashmapSize: 10, baseResolution: 4, perLevelScale: 1.7)
            let grid = try HashGridEncoding(device: device, config: config)
            XCTAssertEqual(grid.levels.map(\.hashed), [0, 0, 1, 1, 1, 1])
            var rng = SplitMix64(seed: 200 + UInt64(features))
            let pts = points(count: 3000, rng: &rng, levels: grid.levels)
            let n = pts.count / 3
            let column = 3, stride = 3 + grid.outputWidth + 1
            let table = (0..<grid.parameterCount).map { _ in rng.uniform(-1, 1) }
            let dOut = (0..<(n * stride)).map { i in i % 5 == 0 ? 0 : rng.uniform(-1, 1) }
            for active in [6, 3] {
                let pointsB = try GPUBuffer(device: device, pts)
                let tableB = try GPUBuffer(device: device, table)
                let dOutB = try GPUBuffer(device: device, dOut)
                // Filled with garbage: the kernel overwrites, never accumulates.
                let dPointsB = try GPUBuffer(device: device, [Float](repeating: 5, count: n * 3))
                let stream = try CommandStream(device: device)
                try grid.positionGradient(stream, points: pointsB, table: tableB, encodedGradient: dOutB, pointGradient: dPointsB,
                                          count: n, column: column, stride: stride, activeLevels: active)
                try stream.run()
                let gpu = try dPointsB.read(Float.self, count: n * 3, device: device)
                let twin = HashGridEncoding.referencePositionGradient(levels: grid.levels, features: features, points: pts, table: table,
                                                                      encodedGradient: dOut.map(Double.init), column: column,
                                                                      stride: stride, activeLevels: active)
                for p in 0..<n {
                    // Every term of the float sum is at most scale_l |dOut| |table| times the
                    // weights' slopes, which add up to 2 per axis: a bound for the rounding.
                    var magnitude = 0.0
                    for l in 0..<active {
                        for f in 0..<features { magnitude += 2 * Double(grid.levels[l].scale) * Double(abs(dOut[p * stride + column + l * features + f])) }
                    }
                    for a in 0..<3 {
                        XCTAssertEqual(Double(gpu[3 * p + a]), twin[3 * p + a], accuracy: 1e-5 * max(1, magnitude),
                                       "F\(features) active \(active): point \(p) axis \(a)")
                    }
                }
                XCTAssertTrue(gpu.allSatisfy(\.isFinite))
                // The point (-0.25, 1.5, 0.5) lies outside the box on x and y: only z moves the encoding.
                let outside = n - 2
                XCTAssertEqual(gpu[3 * outside], 0)
                XCTAssertEqual(gpu[3 * outside + 1], 0)
                XCTAssertNotEqual(gpu[3 * outside + 2], 0)
            }
            // No active level: the gradient is exactly 0.
            let stream = try CommandStream(device: device)
            let dPointsB = try GPUBuffer(device: device, [Float](repeating: 5, count: n * 3))
            try grid.positionGradient(stream, points: try GPUBuffer(device: device, pts), table: try GPUBuffer(device: device, table),
                                      encodedGradient: try GPUBuffer(device: device, dOut), pointGradient: dPointsB, count: n,
                                      column: column, stride: stride, activeLevels: 0)
            try stream.run()
            XCTAssertTrue(try dPointsB.read(Float.self, count: n * 3, device: device).allSatisfy { $0 == 0 })
        }
    }

    /// The position-gradient twin against central differences of the
    /// encoding, recomputed here in Double. Within one cell the trilinear
    /// interpolation is linear along each axis, so central differences are
    /// exact up to rounding; across a cell border (a vertex plane of any
    /// level) its slope jumps, and a difference straddling that kink would
    /// average the two slopes. The points are therefore drawn so that at every
    /// level each coordinate's fractional cell position lies in [0.01, 0.99],
    /// far more than the step (h scale <= 2.3e-3) moves it. They also lie on
    /// a 2^-12 lattice: with the integer scales 3 2^l - 1 of this grid, the
    /// twin's single-precision scale x + 0.5 is then exact, so its fractions
    /// equal the Double ones and the comparison can be tight.
    func testPositionGradientTwinMatchesFiniteDifferences() throws {
        for features in [1, 2, 4] {
            // T = 8: levels 0 (res 3) and 1 (res 6) are dense, 2 (res 12) and 3 (res 24) hash with collisions.
            let config = HashGridConfig(levels: 4, featuresPerLevel: features, log2HashmapSize: 8, baseResolution: 3, perLevelScale: 2)
            let levels = HashGridEncoding.layout(config)
            XCTAssertEqual(levels.map(\.hashed), [0, 0, 1, 1])
            XCTAssertEqual(levels.map(\.scale), [2, 5, 11, 23])
            let entries = levels.map { Int($0.entries) }.reduce(0, +)
            let width = levels.count * features
            var rng = SplitMix64(seed: 300 + UInt64(features))
            var pts: [Float] = []
            while pts.count < 40 * 3 {
                let x = SIMD3<Float>((0..<3).map { _ in (rng.uniform(0.02, 0.98) * 4096).rounded() / 4096 })
                let clear = levels.allSatisfy { level in
                    let pos = Double(level.scale) * SIMD3<Double>(Double(x.x), Double(x.y), Double(x.z)) + 0.5
                    let frac = pos - pos.rounded(.down)
                    return (0..<3).allSatisfy { (0.01...0.99).contains(frac[$0]) }
                }
                if clear { pts += [x.x, x.y, x.z] }
            }
            let table = (0..<(entries * features)).map { _ in rng.uniform(-1, 1) }
            let w = (0..<(40 * width)).map { _ in Double(rng.uniform(-1, 1)) }
            // loss_p = sum over levels and features of w * encode(x), in Double; the
            // cell is the one of the unperturbed point (the step never leaves it).
            func loss(_ p: Int, _ x: SIMD3<Double>) -> Double {
                let base = SIMD3<Float>(pts[3 * p], pts[3 * p + 1], pts[3 * p + 2])
                var sum = 0.0
                for (l, level) in levels.enumerated() {
                    let (lower, _) = HashGridEncoding.cell(level: level, x: base)
                    let pos = Double(level.scale) * x + 0.5
                    let frac = pos - SIMD3<Double>(Double(lower.x), Double(lower.y), Double(lower.z))
                    for k: UInt32 in 0..<8 {
                        let bits = SIMD3<UInt32>(k & 1, (k >> 1) & 1, (k >> 2) & 1)
                        let e = HashGridEncoding.entry(level: level, vertex: lower &+ bits)
                        let wt = (bits.x == 1 ? frac.x : 1 - frac.x) * (bits.y == 1 ? frac.y : 1 - frac.y) * (bits.z == 1 ? frac.z : 1 - frac.z)
                        for f in 0..<features { sum += w[p * width + l * features + f] * wt * Double(table[e * features + f]) }
                    }
                }
                return sum
            }
            let analytic = HashGridEncoding.referencePositionGradient(levels: levels, features: features, points: pts, table: table,
                                                                      encodedGradient: w)
            let h = 1e-4
            for p in 0..<40 {
                let x = SIMD3<Double>(Double(pts[3 * p]), Double(pts[3 * p + 1]), Double(pts[3 * p + 2]))
                for a in 0..<3 {
                    var up = x, down = x
                    up[a] += h
                    down[a] -= h
                    let numeric = (loss(p, up) - loss(p, down)) / (2 * h)
                    XCTAssertEqual(analytic[3 * p + a], numeric, accuracy: 1e-8 * max(1, abs(numeric)), "F\(features) point \(p) axis \(a)")
                }
            }
        }
    }
}
