@testable import Compute
import ComputeTestSupport
import XCTest

final class BufferTests: GPUTestCase {
    func testRoundTrip() throws {
        let values = (0..<10_000).map { UInt32($0 &* 2_654_435_761 & 0xffff_ffff) }
        let buffer = try GPUBuffer(device: device, values, label: "round trip")
        XCTAssertEqual(try buffer.read(UInt32.self, count: values.count, device: device), values)
        try buffer.write([7, 8, 9] as [UInt32], at: 100, device: device)
        XCTAssertEqual(try buffer.read(UInt32.self, count: 3, at: 99, device: device), [values[99], 7, 8])
    }

    func testStagedPlacementRoundTrip() throws {
        // Host-visible readback memory and device memory both round-trip,
        // whichever path (memcpy or staging copy) the device takes.
        for placement in [MemoryPlacement.device, .hostUpload, .hostReadback] {
            let values: [Float] = [1, -2, .pi, 1e-30, 3e38]
            let buffer = try GPUBuffer(device: device, values, placement: placement)
            XCTAssertEqual(try buffer.read(Float.self, count: values.count, device: device), values)
        }
    }

    func testStagingPathRoundTrip() throws {
        // The discrete-GPU path: staging buffer plus copy commands, with a
        // staging buffer that must grow for the second, larger transfer.
        device.stagingOnlyForTesting = true
        defer { device.stagingOnlyForTesting = false }
        for count in [10, 3 << 20] {
            let values = (0..<count).map { UInt32(truncatingIfNeeded: $0 &* 40503) }
            let buffer = try GPUBuffer(device: device, values)
            XCTAssertEqual(try buffer.read(UInt32.self, count: count, device: device), values)
            XCTAssertEqual(try buffer.read(UInt32.self, count: 2, at: count - 2, device: device), Array(values.suffix(2)))
        }
    }

    func testThousandsOfSmallBuffersShareFewAllocations() throws {
        let before = device.memoryUsage.blocks
        var buffers: [GPUBuffer] = []
        for i in 0..<3000 { buffers.append(try GPUBuffer(device: device, length: 64 + i % 7 * 16)) }
        let blocks = device.memoryUsage.blocks - before
        XCTAssertLessThanOrEqual(blocks, 2, "3000 small buffers took \(blocks) device allocations")
        let bytes = device.memoryUsage.bytes
        buffers.removeAll()
        XCTAssertLessThan(device.memoryUsage.bytes, bytes)
    }

    func testSubAllocatorReusesFreedRanges() throws {
        let block = MemoryBlockProbe()
        XCTAssertTrue(block.check())
    }

    func testAllocationBeyondDeviceLimitIsAnError() throws {
        let limit = max(device.info.maxMemoryAllocationSize, device.info.heaps.map(\.bytes).max() ?? 0)
        XCTAssertThrowsError(try GPUBuffer(device: device, length: limit + 4096)) { error in
            guard case ComputeError.limitExceeded = error else {
                return XCTFail("expected a limit error, got \(error)")
            }
        }
    }

    func testUploadOverrunIsAnError() throws {
        let buffer = try GPUBuffer(device: device, length: 16)
        XCTAssertThrowsError(try buffer.write([UInt32](repeating: 0, count: 5), device: device))
    }
}

/// Exercises the free list of a MemoryBlock without touching the device.
struct MemoryBlockProbe {
    func check() -> Bool {
        // A block is a free list over [0, size); allocation and release must merge.
        let block = MemoryBlock(memory: OpaquePointer(bitPattern: 1)!, size: 1024, typeIndex: 0, mapped: nil, dedicated: false)
        guard let a = block.allocate(size: 100, alignment: 64),
              let b = block.allocate(size: 100, alignment: 64),
              let c = block.allocate(size: 100, alignment: 256) else { return false }
        guard a == 0, b == 128, c == 256 else { return false }
        block.release(offset: b, size: 100)
        guard block.allocate(size: 120, alignment: 16) == 112 else { return false }
        block.release(offset: a, size: 100)
        block.release(offset: 112, size: 120)
        block.release(offset: c, size: 100)
        return block.free.count == 1 && block.free[0].size == 1024 && block.used == 0
    }
}
