import ReaderTestSupport
import Splatting
import XCTest

/// The GaussianCheckpoint fuzz target's crashers and seeds (`FuzzReplay`).
final class FuzzCrasherTests: XCTestCase {
    func testGaussianCheckpoint() throws {
        try FuzzReplay.replay("GaussianCheckpoint") { _ = try GaussianCheckpoint.decode($0, path: "state.bin") }
    }
}
