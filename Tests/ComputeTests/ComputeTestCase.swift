import Compute
import XCTest

/// Base class of GPU tests: one device per process, with Vulkan validation
/// layers on; any validation message fails the test that produced it.
/// There is no skip: a machine without a Vulkan device fails these tests.
class ComputeTestCase: XCTestCase {
    static let sharedDevice: Result<ComputeDevice, Error> = Result { try ComputeDevice.make(validation: true) }

    var device: ComputeDevice!

    override func setUpWithError() throws {
        device = try Self.sharedDevice.get()
        _ = device.drainValidationMessages()
    }

    override func tearDownWithError() throws {
        let messages = device?.drainValidationMessages() ?? []
        XCTAssertEqual(messages, [], "Vulkan validation reported problems")
    }
}
