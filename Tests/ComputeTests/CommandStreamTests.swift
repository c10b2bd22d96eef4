@testable import Compute
import ComputeTestSupport
import XCTest

final class CommandStreamTests: GPUTestCase {
    func testGridSplitsAboveTheLimit() throws {
        XCTAssertTrue(try CommandStream.grid(for: 10, limit: 65535) == (10, 1))
        let (x, y) = try CommandStream.grid(for: 100_000, limit: 65535)
        XCTAssertLessThanOrEqual(x, 65535)
        XCTAssertGreaterThanOrEqual(x * y, 100_000)
        XCTAssertThrowsError(try CommandStream.grid(for: 65535 * 65535 + 1, limit: 65535)) { error in
            XCTAssertTrue("\(error)".contains("maxComputeWorkGroupCount"), "\(error)")
        }
    }

    func testBarriersOnlyWhereHazardsAre() throws {
        let a = try GPUBuffer(device: device, [UInt32](repeating: 1, count: 64))
        let b = try GPUBuffer(device: device, length: 256)
        let c = try GPUBuffer(device: device, length: 256)
        let stream = try CommandStream(device: device)
        stream.copy(from: a, to: b, bytes: 256)
        stream.copy(from: a, to: c, bytes: 256)  // read-read of a, distinct writes: no barrier
        XCTAssertEqual(stream.barrierCount, 0)
        stream.copy(from: b, to: c, bytes: 256)  // reads b (RAW) and writes c (WAW)
        XCTAssertEqual(stream.barrierCount, 1)
        stream.fill(a, value: 0)                 // a was read before the last barrier only: no hazard since
        XCTAssertEqual(stream.barrierCount, 1)
        stream.copy(from: a, to: b, bytes: 256)  // reads a just written
        XCTAssertEqual(stream.barrierCount, 2)
        try stream.run()
        XCTAssertEqual(try b.read(UInt32.self, count: 64, device: device), [UInt32](repeating: 0, count: 64))
        XCTAssertEqual(try c.read(UInt32.self, count: 64, device: device), [UInt32](repeating: 1, count: 64))
    }

    func testTimestampsAreOrdered() throws {
        guard device.info.timestampsSupported else {
            throw XCTSkip("\(device.info.displayName) has no timestamp queries on its compute queue (timestampValidBits 0): "
                          + "the test checks that per-dispatch timestamps are ordered")
        }
        let a = try GPUBuffer(device: device, length: 1 << 20)
        let b = try GPUBuffer(device: device, length: 1 << 20)
        let stream = try CommandStream(device: device)
        try stream.mark("start")
        stream.copy(from: a, to: b, bytes: 1 << 20)
        try stream.mark("copy")
        stream.fill(a, value: 3)
        try stream.mark("fill")
        try stream.run()
        let timings = try stream.timings()
        XCTAssertEqual(timings.map(\.label), ["copy", "fill"])
        XCTAssertTrue(timings.allSatisfy { $0.milliseconds >= 0 && $0.milliseconds.isFinite })
    }

    func testStreamCanBeResubmittedAndReset() throws {
        let a = try GPUBuffer(device: device, [UInt32](repeating: 5, count: 4))
        let b = try GPUBuffer(device: device, length: 16)
        let stream = try CommandStream(device: device)
        stream.copy(from: a, to: b, bytes: 16)
        try stream.run()
        try stream.run()
        stream.reset()
        stream.fill(b, value: 9)
        try stream.run()
        XCTAssertEqual(try b.read(UInt32.self, count: 4, device: device), [9, 9, 9, 9])
    }
}
