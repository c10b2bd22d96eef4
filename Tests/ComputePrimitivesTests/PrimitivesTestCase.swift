import Compute
import ComputePrimitives
import XCTest

/// GPU tests of the primitives: one device per process, validation layers on,
/// any validation message fails the test; no Vulkan device fails (never skips).
class PrimitivesTestCase: XCTestCase {
    static let sharedDevice: Result<ComputeDevice, Error> = Result { try ComputeDevice.make(validation: true) }
    var device: ComputeDevice!

    override func setUpWithError() throws {
        device = try Self.sharedDevice.get()
        _ = device.drainValidationMessages()
    }

    override func tearDownWithError() throws {
        XCTAssertEqual(device?.drainValidationMessages() ?? [], [], "Vulkan validation reported problems")
    }

    /// The sizes every primitive is checked on: empty, tiny, around tile and
    /// power-of-two boundaries, non-powers of two, and past one million.
    static let sizes = [0, 1, 2, 3, 255, 256, 257, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4097,
                        12_345, 65_537, 100_003]
    static let largeSize = (1 << 20) + 12_345

    var rng = SeededGenerator(seed: 12345)
}

/// SplitMix64: deterministic test inputs.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
