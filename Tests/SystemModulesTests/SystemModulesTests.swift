import CGLFW
import CJPEG
import CPNG
import CShaderLayouts
import XCTest

/// The C system modules link and expose what later modules use.
final class SystemModulesTests: XCTestCase {
    func testLibPNGLinks() {
        XCTAssertGreaterThanOrEqual(png_access_version_number(), 10_600)
    }

    func testTurboJPEGLinks() {
        let handle = tjInitDecompress()
        XCTAssertNotNil(handle)
        if let handle { tjDestroy(handle) }
    }

    func testGLFWHeaderOnly() {
        // The viewer loads libglfw at run time; only the header is compiled in.
        XCTAssertEqual(GLFW_VERSION_MAJOR, 3)
        XCTAssertEqual(GLFW_KEY_ESCAPE, 256)
    }

    func testSharedLayoutsMatchStd430() {
        // std430 sizes of the push-constant blocks (16 bytes each).
        XCTAssertEqual(MemoryLayout<ScanParams>.size, 16)
        XCTAssertEqual(MemoryLayout<ReduceParams>.size, 16)
        XCTAssertEqual(MemoryLayout<CompactParams>.size, 16)
        XCTAssertEqual(MemoryLayout<RadixSortParams>.size, 16)
        XCTAssertEqual(MemoryLayout<RadixSortParams>.offset(of: \.digitMask), 12)
        XCTAssertEqual(RADIX_BINS, 1 << RADIX_BITS)
    }
}
