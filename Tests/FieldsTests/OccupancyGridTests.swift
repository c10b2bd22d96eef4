import CShaderLayouts
import Compute
import ComputeTestSupport
@testable import Fields
import Foundation
import Geometry
import XCTest

final class OccupancyGridTests: GPUTestCase {
    func testUpdatePointsGridAndBitfieldMatchTheTwins() throws {
        let settings = OccupancyGrid.Settings(cascades: 2, gridSize: 16)
        let occupancy = try OccupancyGrid(device: device, settings: settings)
        var rng = SplitMix64(seed: 41)
        // A grid with values around the threshold, so the bits are mixed.
        let initial = (0..<settings.cellCount).map { _ in rng.uniform(0, 0.03) }
        try occupancy.grid.write(initial, device: device)
        let count = 3000, stride = 16
        let stream = try CommandStream(device: device)
        let (cells, points) = try occupancy.recordUpdatePoints(stream, count: count, seed: 77)
        try stream.run()
        let twinPoints = OccupancyGrid.referencePoints(count: count, seed: 77, settings: settings)
        let gpuCells = try cells.buffer.read(UInt32.self, count: count, device: device)
        let gpuPoints = try points.buffer.read(Float.self, count: count * 3, device: device)
        XCTAssertEqual(gpuCells, twinPoints.cells)
        for i in 0..<count {
            for c in 0..<3 { XCTAssertEqual(gpuPoints[3 * i + c], twinPoints.points[i][c], accuracy: 1e-6, "point \(i)") }
            // The point lies in its cell (cascade 1 covers [-0.5, 1.5], here mapped to [0, 1]).
            XCTAssertTrue((0...1).contains(gpuPoints[3 * i]) && (0...1).contains(gpuPoints[3 * i + 2]))
        }
        // Raw densities (several points share cells: the max wins).
        let raw = (0..<count).map { _ in rng.uniform(-3, 4) }
        var rows = [Float](repeating: 0, count: count * stride)
        for i in 0..<count { rows[i * stride] = raw[i] }
        let rawB = try GPUBuffer(device: device, rows)
        let update = try CommandStream(device: device)
        try occupancy.recordUpdate(update, cells: cells, density: rawB, densityStride: stride, count: count)
        try update.run()
        let twinGrid = OccupancyGrid.referenceUpdate(grid: initial, cells: twinPoints.cells, rawDensity: raw, settings: settings)
        let gpuGrid = try occupancy.grid.read(Float.self, count: settings.cellCount, device: device)
        for i in 0..<settings.cellCount { XCTAssertEqual(gpuGrid[i], twinGrid[i], accuracy: 1e-6 * max(1, twinGrid[i]), "cell \(i)") }
        let twinBits = OccupancyGrid.referenceBitfield(grid: gpuGrid, settings: settings)
        let gpuBits = try occupancy.bitfield.read(UInt32.self, count: settings.cellCount / 32, device: device)
        XCTAssertEqual(gpuBits, twinBits)
        XCTAssertTrue(gpuBits.contains { $0 != 0 } && gpuBits.contains { $0 != ~0 }, "mixed occupancy")
    }

    /// Rays from outside and inside the grid, axis-parallel ones included,
    /// through a grid of occupied 4-cell blocks over two cascades with cone
    /// stepping: the same samples as the twin.
    func testMarchMatchesTheTwin() throws {
        var settings = OccupancyGrid.Settings(cascades: 2, gridSize: 32, coneAngle: 1.0 / 256)
        settings.maxSamplesPerRay = 200
        let occupancy = try OccupancyGrid(device: device, settings: settings)
        var rng = SplitMix64(seed: 3)
        let g = settings.gridSize
        var bits = [UInt32](repeating: 0, count: settings.cellCount / 32)
        for k in 0..<2 {
            for z in 0..<g { for y in 0..<g { for x in 0..<g {
                let block = (x / 4) * 7 + (y / 4) * 3 + (z / 4) * 5 + k
                if block % 4 == 0 {
                    let c = x + g * (y + g * z) + k * g * g * g
                    bits[c >> 5] |= 1 << UInt32(c & 31)
                }
            } } }
        }
        try occupancy.bitfield.write(bits, device: device)
        var rays: [Float] = []
        var list: [(SIMD3<Float>, SIMD3<Float>)] = []
        for i in 0..<400 {
            let o = i % 2 == 0 ? SIMD3<Float>(rng.uniform(-2, 3), rng.uniform(-2, 3), rng.uniform(-2, 3))
                               : SIMD3<Float>(rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8))
            var d = SIMD3<Float>(rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1))
            if i % 10 == 1 { d = SIMD3(0, 0, -1) }
            if i % 10 == 3 { d = SIMD3(0, 1, 0) }
            d /= (d * d).sum().squareRoot()
            // Rays from outside aim at the middle.
            if i % 2 == 0 { d = SIMD3<Float>(repeating: 0.5) - o + SIMD3(rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), 0); d /= (d * d).sum().squareRoot() }
            rays += [o.x, o.y, o.z, d.x, d.y, d.z]
            list.append((o, d))
        }
        let raysB = try GPUBuffer(device: device, rays)
        let samples = try occupancy.march(rays: raysB, rayCount: list.count, near: 0.05)
        let ranges = try samples.ranges.buffer.read(UInt32.self, count: list.count * 2, device: device)
        let t = try samples.t.buffer.read(Float.self, count: max(1, samples.count), device: device)
        let dt = try samples.dt.buffer.read(Float.self, count: max(1, samples.count), device: device)
        let pts = try samples.points.buffer.read(Float.self, count: max(1, samples.count) * 3, device: device)
        var total = 0, withSamples = 0
        for (r, ray) in list.enumerated() {
            let twin = OccupancyGrid.referenceMarch(origin: ray.0, direction: ray.1, near: 0.05, bits: bits, settings: settings)
            XCTAssertEqual(Int(ranges[2 * r]), total, "ray \(r) first sample")
            XCTAssertEqual(Int(ranges[2 * r + 1]), twin.count, "ray \(r) sample count")
            if twin.count > 0 { withSamples += 1 }
            for (i, s) in twin.enumerated() where i < Int(ranges[2 * r + 1]) {
                let j = total + i
                XCTAssertEqual(t[j], s.t, accuracy: 1e-5, "ray \(r) sample \(i) t")
                XCTAssertEqual(dt[j], s.dt, accuracy: 1e-7, "ray \(r) sample \(i) dt")
                for c in 0..<3 { XCTAssertEqual(pts[3 * j + c], s.point[c], accuracy: 1e-5) }
            }
            total += Int(ranges[2 * r + 1])
        }
        XCTAssertEqual(samples.count, total)
        XCTAssertEqual(samples.rays, list.count)
        XCTAssertEqual(samples.wanted, total)
        XCTAssertGreaterThan(withSamples, 100, "most rays cross occupied cells")

        // A sample budget keeps the longest run of leading rays that fits.
        let budget = total / 3
        let part = try occupancy.march(rays: raysB, rayCount: list.count, near: 0.05, maxSamples: budget)
        var fits = 0, sum = 0
        while fits < list.count && sum + Int(ranges[2 * fits + 1]) <= budget { sum += Int(ranges[2 * fits + 1]); fits += 1 }
        XCTAssertEqual(part.rays, fits)
        XCTAssertEqual(part.count, sum)
        XCTAssertEqual(part.wanted, total)
        let partRanges = try part.ranges.buffer.read(UInt32.self, count: fits * 2, device: device)
        XCTAssertEqual(partRanges, Array(ranges[0..<(fits * 2)]))

        // Rounds of 5 samples from each ray's own start t: each round matches
        // the twin's round, and the rounds together are the whole march.
        var near = [Float](repeating: 0.05, count: list.count)
        var rounds = [[Float]](repeating: [], count: list.count)  // t of every sample, by ray
        let nearB = try GPUBuffer(device: device, length: list.count * 4)
        for _ in 0..<60 where near.contains(where: { $0 >= 0 }) {
            try nearB.write(near, device: device)
            let round = try occupancy.march(rays: raysB, rayCount: list.count, near: 0, rayNear: nearB.slice(offset: 0, length: list.count * 4),
                                            samplesPerRay: 5)
            let rr = try round.ranges.buffer.read(UInt32.self, count: list.count * 2, device: device)
            let rt = try round.t.buffer.read(Float.self, count: max(1, round.count), device: device)
            let stops = try nearB.read(Float.self, count: list.count, device: device)
            for (r, ray) in list.enumerated() where near[r] >= 0 {
                let twin = OccupancyGrid.referenceMarchRound(origin: ray.0, direction: ray.1, near: near[r], maxSamples: 5, bits: bits, settings: settings)
                XCTAssertEqual(Int(rr[2 * r + 1]), twin.samples.count, "ray \(r) round sample count")
                XCTAssertEqual(stops[r], twin.stop, accuracy: 1e-5, "ray \(r) stop")
                for i in 0..<Int(rr[2 * r + 1]) { rounds[r].append(rt[Int(rr[2 * r]) + i]) }
            }
            for r in 0..<list.count where near[r] >= 0 { near[r] = stops[r] }
        }
        XCTAssertFalse(near.contains(where: { $0 >= 0 }), "every ray leaves the grid")
        for (r, ray) in list.enumerated() {
            let whole = OccupancyGrid.referenceMarch(origin: ray.0, direction: ray.1, near: 0.05, bits: bits, settings: settings)
            // (One march stops at maxSamplesPerRay; rounds have no total cap.)
            if whole.count < settings.maxSamplesPerRay { XCTAssertEqual(rounds[r].count, whole.count, "ray \(r): rounds vs one march") }
            for (a, b) in zip(rounds[r], whole) { XCTAssertEqual(a, b.t, accuracy: 1e-4) }
        }
    }
}
