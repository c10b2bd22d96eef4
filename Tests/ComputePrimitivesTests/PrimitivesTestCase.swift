import Compute
import ComputePrimitives
import Geometry
import ComputeTestSupport
import XCTest

/// GPU tests of the primitives, with the sizes every primitive is checked on.
class PrimitivesTestCase: GPUTestCase {
    /// Empty, tiny, around tile and power-of-two boundaries, non-powers of two.
    static let sizes = [0, 1, 2, 3, 255, 256, 257, 1023, 1024, 1025, 2047, 2048, 2049, 4095, 4096, 4097,
                        12_345, 65_537, 100_003]
    /// Past one million.
    static let largeSize = (1 << 20) + 12_345

    var rng = SplitMix64(seed: 12345)
}
