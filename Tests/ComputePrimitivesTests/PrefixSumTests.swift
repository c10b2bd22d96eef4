import Compute
import ComputePrimitives
import XCTest

final class PrefixSumTests: PrimitivesTestCase {
    func testMatchesReferenceOnAllSizes() throws {
        let scan = try PrefixSum(device: device)
        for n in Self.sizes + [Self.largeSize] {
            let values = (0..<n).map { _ in UInt32.random(in: 0...1000, using: &rng) }
            let gpu = try scan.run(values)
            let ref = PrefixSum.reference(values)
            XCTAssertEqual(gpu.scanned, ref.scanned, "size \(n)")
            XCTAssertEqual(gpu.total, ref.total, "total, size \(n)")
        }
    }

    func testWrapsLikeTheReference() throws {
        let scan = try PrefixSum(device: device)
        let values = [UInt32](repeating: .max, count: 5000)
        let gpu = try scan.run(values)
        XCTAssertEqual(gpu.scanned, PrefixSum.reference(values).scanned)
        XCTAssertEqual(gpu.total, PrefixSum.reference(values).total)
    }

    func testCountNonZero() throws {
        let scan = try PrefixSum(device: device)
        for n in [0, 1, 1025, 70_000] {
            let values = (0..<n).map { _ in UInt32.random(in: 0...3, using: &rng) * 1000 }
            let gpu = try scan.run(values, countNonZero: true)
            let ref = PrefixSum.reference(values, countNonZero: true)
            XCTAssertEqual(gpu.scanned, ref.scanned, "size \(n)")
            XCTAssertEqual(gpu.total, ref.total)
        }
    }

    func testSplitDispatchGivesTheSameResult() throws {
        // Lower the per-dimension group limit so multi-tile scans run on a 2D grid.
        let scan = try PrefixSum(device: device)
        let n = 300_000
        let values = (0..<n).map { _ in UInt32.random(in: 0...9, using: &rng) }
        let buffer = try GPUBuffer(device: device, values)
        let stream = try CommandStream(device: device)
        stream.limitGroupsPerDimensionForTesting(13)  // 147 tiles -> a 12 x 13 grid
        try scan.record(stream, input: buffer, output: buffer, count: n)
        try stream.run()
        XCTAssertEqual(try buffer.read(UInt32.self, count: n, device: device), PrefixSum.reference(values).scanned)
    }

    func testShortBufferIsAnError() throws {
        let scan = try PrefixSum(device: device)
        let buffer = try GPUBuffer(device: device, length: 16)
        let stream = try CommandStream(device: device)
        XCTAssertThrowsError(try scan.record(stream, input: buffer, output: buffer, count: 5))
    }
}

final class ReductionTests: PrimitivesTestCase {
    func testUInt32SumAndMax() throws {
        let reduce = try Reduction(device: device)
        for n in Self.sizes + [Self.largeSize] {
            let values = (0..<n).map { _ in UInt32.random(in: 0...UInt32.max, using: &rng) }
            XCTAssertEqual(try reduce.sum(values), Reduction.reference(sum: values), "sum, size \(n)")
            XCTAssertEqual(try reduce.max(values), Reduction.reference(max: values), "max, size \(n)")
        }
    }

    func testFloatSumAndMax() throws {
        let reduce = try Reduction(device: device)
        for n in Self.sizes + [Self.largeSize] {
            let values = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
            let sum = try reduce.sum(values)
            XCTAssertTrue(sum.isFinite, "NaN/Inf in the sum of \(n)")
            let ref = Reduction.reference(sum: values)
            // A tree sum of n values in [-1, 1] is within n * eps * max|partial| of the exact sum.
            let tolerance = Double(max(n, 1)) * Double(Float.ulpOfOne) * 4
            XCTAssertEqual(Double(sum), ref, accuracy: max(tolerance, 1e-6), "sum, size \(n)")
            XCTAssertEqual(try reduce.max(values), Reduction.reference(max: values), "max, size \(n)")
        }
    }

    func testFloatEdgeCases() throws {
        let reduce = try Reduction(device: device)
        XCTAssertEqual(try reduce.max([Float]()), -.infinity)
        XCTAssertEqual(try reduce.sum([Float]()), 0)
        XCTAssertEqual(try reduce.max([-5, -3, -7] as [Float]), -3)
        XCTAssertEqual(try reduce.max([1, .infinity, 2] as [Float]), .infinity)
        XCTAssertEqual(try reduce.sum([Float](repeating: 0.5, count: 4096)), 2048)
    }
}

final class StreamCompactionTests: PrimitivesTestCase {
    func testMatchesReference() throws {
        let compaction = try StreamCompaction(device: device)
        for n in Self.sizes + [Self.largeSize] {
            let values = (0..<n).map { _ in UInt32.random(in: 0...UInt32.max, using: &rng) }
            let flags = (0..<n).map { _ in UInt32.random(in: 0...3, using: &rng) == 0 ? UInt32.random(in: 1...9, using: &rng) : 0 }
            XCTAssertEqual(try compaction.run(values: values, flags: flags),
                           StreamCompaction.reference(values: values, flags: flags), "size \(n)")
        }
    }

    func testAllAndNone() throws {
        let compaction = try StreamCompaction(device: device)
        let values = (0..<5000).map { UInt32($0) }
        XCTAssertEqual(try compaction.run(values: values, flags: [UInt32](repeating: 1, count: 5000)), values)
        XCTAssertEqual(try compaction.run(values: values, flags: [UInt32](repeating: 0, count: 5000)), [])
    }
}
