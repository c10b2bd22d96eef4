import Datasets
@testable import Splatting
import Foundation
import XCTest

/// The GaussianCheckpoint fuzz target's crashers and seeds (Fuzz/README.md): each
/// must read or throw a `DatasetError`, never trap; the seeds must read.
final class FuzzCrasherTests: XCTestCase {
    static let fuzz = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    static func files(_ kind: String, _ target: String) -> [URL] {
        let folder = fuzz.appendingPathComponent(kind).appendingPathComponent(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { folder.appendingPathComponent($0) }
    }

    func testGaussianCheckpoint() throws {
        XCTAssertFalse(Self.files("Corpus", "GaussianCheckpoint").isEmpty, "no seeds in Fuzz/Corpus/GaussianCheckpoint")
        for (kind, mustDecode) in [("Crashers", false), ("Corpus", true)] {
            for url in Self.files(kind, "GaussianCheckpoint") {
                let data = try Data(contentsOf: url)
                _ = Diagnostics.collecting {
                    do {
                        _ = try GaussianCheckpoint.decode(data, path: "state.bin")
                    } catch let error as DatasetError {
                        if mustDecode { XCTFail("seed \(url.path) does not decode: \(error)") }
                    } catch {
                        XCTFail("\(url.path): threw \(type(of: error)), not a DatasetError: \(error)")
                    }
                }
            }
        }
    }
}
