import Fields
import ReaderTestSupport
import XCTest

/// The NerfModelFile fuzz target's crashers and seeds (`FuzzReplay`).
final class FuzzCrasherTests: XCTestCase {
    func testNerfModelFile() throws {
        try FuzzReplay.replay("NerfModelFile") { _ = try NerfModelFile.decode($0, path: "model.nerf") }
    }
}
