import Compute
import ComputePrimitives
import XCTest

final class RadixSortTests: PrimitivesTestCase {
    /// Both rankings run on every device in tests: the one the device prefers
    /// is benchmarked, the other must still be correct.
    func sorters() throws -> [RadixSort] {
        let scan = try PrefixSum(device: device)
        return try RadixSort.Ranking.allCases.map { try RadixSort(device: device, ranking: $0, scan: scan) }
    }

    enum Pattern: CaseIterable { case random, allEqual, sorted, reversed, fewDistinct }

    func keys64(_ n: Int, bits: Int, _ pattern: Pattern) -> [UInt64] {
        let mask: UInt64 = bits >= 64 ? ~0 : (1 << UInt64(bits)) - 1
        switch pattern {
        case .random: return (0..<n).map { _ in UInt64.random(in: 0...UInt64.max, using: &rng) & mask }
        case .allEqual: return [UInt64](repeating: 0x1234_5678_9abc_def0 & mask, count: n)
        case .sorted: return (0..<n).map { UInt64($0) * 7919 & mask }.sorted()
        case .reversed: return (0..<n).map { UInt64($0) * 7919 & mask }.sorted().reversed()
        case .fewDistinct: return (0..<n).map { _ in UInt64.random(in: 0...3, using: &rng) << UInt64(max(0, bits - 2)) & mask }
        }
    }

    func check32(_ sorter: RadixSort, _ keys: [UInt32], bits: Int, _ what: String) throws {
        let values = (0..<keys.count).map { UInt32($0) }
        let gpu = try sorter.sort(keys: keys, values: values, keyBits: bits)
        let ref = RadixSort.reference(keys: keys, values: values, keyBits: bits)
        XCTAssertTrue(gpu.keys == ref.keys && gpu.values == ref.values, "\(sorter.ranking) 32-bit \(what)")
    }

    func check64(_ sorter: RadixSort, _ keys: [UInt64], bits: Int, _ what: String) throws {
        let values = (0..<keys.count).map { UInt32($0) }
        let gpu = try sorter.sort(keys: keys, values: values, keyBits: bits)
        let ref = RadixSort.reference(keys: keys, values: values, keyBits: bits)
        XCTAssertTrue(gpu.keys == ref.keys && gpu.values == ref.values, "\(sorter.ranking) 64-bit \(what)")
    }

    func testAllSizesAndPatterns32() throws {
        for sorter in try sorters() {
            for n in Self.sizes {
                for pattern in Pattern.allCases {
                    let keys = keys64(n, bits: 32, pattern).map { UInt32(truncatingIfNeeded: $0) }
                    try check32(sorter, keys, bits: 32, "n \(n) \(pattern)")
                }
            }
        }
    }

    func testAllSizesAndPatterns64() throws {
        for sorter in try sorters() {
            for n in Self.sizes {
                for pattern in Pattern.allCases {
                    try check64(sorter, keys64(n, bits: 48, pattern), bits: 48, "n \(n) \(pattern)")
                }
            }
        }
    }

    func testSignificantBits() throws {
        // The rasterizer's keys: tile id above 32 depth bits, 32 + ceil(log2 tiles) bits.
        for sorter in try sorters() {
            for bits in [1, 7, 8, 9, 16, 31, 32] {
                let keys = keys64(9_999, bits: bits, .random).map { UInt32(truncatingIfNeeded: $0) }
                try check32(sorter, keys, bits: bits, "\(bits) bits")
            }
            for bits in [33, 40, 44, 56, 63, 64] {
                try check64(sorter, keys64(9_999, bits: bits, .random), bits: bits, "\(bits) bits")
            }
        }
    }

    func testBitsAboveTheSignificantOnesAreIgnoredStably() throws {
        // Keys compare on the low bits only; high bits travel along untouched.
        for sorter in try sorters() {
            let keys = (0..<5000).map { _ in UInt32.random(in: 0...UInt32.max, using: &rng) }
            try check32(sorter, keys, bits: 12, "12 of 32 bits")
        }
    }

    func testMoreThanAMillion() throws {
        for sorter in try sorters() {
            try check64(sorter, keys64(Self.largeSize, bits: 48, .random), bits: 48, "n \(Self.largeSize)")
            let keys = keys64(Self.largeSize, bits: 32, .random).map { UInt32(truncatingIfNeeded: $0) }
            try check32(sorter, keys, bits: 32, "n \(Self.largeSize)")
        }
    }

    func testSortsInOneStreamWithOtherWork() throws {
        // Two sorts of different sizes recorded in one stream, sharing scratch:
        // the stream's hazard tracking must order them.
        let sorter = try RadixSort(device: device)
        let a = (0..<3000).map { _ in UInt32.random(in: 0...UInt32.max, using: &rng) }
        let b = (0..<70_000).map { _ in UInt32.random(in: 0...UInt32.max, using: &rng) }
        let ka = try GPUBuffer(device: device, a), va = try GPUBuffer(device: device, (0..<3000).map { UInt32($0) })
        let kb = try GPUBuffer(device: device, b), vb = try GPUBuffer(device: device, (0..<70_000).map { UInt32($0) })
        let stream = try CommandStream(device: device)
        try sorter.record(stream, keys: ka, values: va, count: a.count, width: .bits32, keyBits: 32)
        try sorter.record(stream, keys: kb, values: vb, count: b.count, width: .bits32, keyBits: 32)
        try stream.run()
        XCTAssertEqual(try ka.read(UInt32.self, count: a.count, device: device), a.sorted())
        XCTAssertEqual(try kb.read(UInt32.self, count: b.count, device: device), b.sorted())
    }

    func testSizeBeyondStorageBufferRangeIsAnError() throws {
        let range = device.info.maxStorageBufferRange
        guard range < 1 << 30 else {
            throw XCTSkip("\(device.info.displayName): maxStorageBufferRange is \(range) bytes (>= 1 GiB), too large to allocate past in a test; "
                          + "the test checks that sorting more keys than one binding can address is an error")
        }
        let count = range / 8 + 1
        let sorter = try RadixSort(device: device)
        let keys = try GPUBuffer(device: device, length: count * 8)
        let values = try GPUBuffer(device: device, length: count * 4)
        let stream = try CommandStream(device: device)
        XCTAssertThrowsError(try sorter.record(stream, keys: keys, values: values, count: count, width: .bits64, keyBits: 64)) { error in
            XCTAssertTrue("\(error)".contains("maxStorageBufferRange"), "\(error)")
        }
    }

    func testInvalidKeyBits() throws {
        let sorter = try RadixSort(device: device)
        let keys = try GPUBuffer(device: device, length: 16), values = try GPUBuffer(device: device, length: 16)
        let stream = try CommandStream(device: device)
        XCTAssertThrowsError(try sorter.record(stream, keys: keys, values: values, count: 4, width: .bits32, keyBits: 33))
    }
}
