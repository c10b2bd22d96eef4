// XCTest exists only in test builds; `swift build` of the whole package
// compiles this module empty.
#if canImport(XCTest)
import Compute
import XCTest

/// Base class of every GPU test: one device per process with the Khronos
/// validation layer on; any validation message fails the test that produced
/// it. There is no skip: a machine without a Vulkan device fails these tests.
open class GPUTestCase: XCTestCase {
    public static let sharedDevice: Result<ComputeDevice, Error> = Result { try ComputeDevice.make(validation: true) }

    public var device: ComputeDevice!

    override open func setUpWithError() throws {
        device = try Self.sharedDevice.get()
        _ = device.drainValidationMessages()
    }

    override open func tearDownWithError() throws {
        XCTAssertEqual(device?.drainValidationMessages() ?? [], [], "Vulkan validation reported problems")
    }
}
#endif
