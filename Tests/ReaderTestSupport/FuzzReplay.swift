import Datasets
import Foundation
import XCTest

/// The fuzzers' findings as regression tests (Fuzz/README.md): every file in
/// `Fuzz/Crashers/TARGET/` (inputs that once trapped or hung a reader) and in
/// `Fuzz/Corpus/TARGET/` (the seeds) goes through the same entry point as the
/// fuzz target, which must return or throw a `DatasetError`, never trap.
/// The seeds must also decode without error. One replay serves the readers
/// of every module (Datasets, Fields, Splatting).
public enum FuzzReplay {
    /// `Fuzz/` of this checkout.
    public static let fuzz = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    /// The files of `Fuzz/KIND/TARGET` (none when the folder is missing), sorted.
    public static func files(_ kind: String, _ target: String) -> [URL] {
        let folder = fuzz.appendingPathComponent(kind).appendingPathComponent(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { folder.appendingPathComponent($0) }
    }

    /// Replays the crashers and seeds of `target` through `decode` (warnings collected, not printed).
    public static func replay(_ target: String, file: StaticString = #filePath, line: UInt = #line,
                              _ decode: (Data) throws -> Void) throws {
        XCTAssertFalse(files("Corpus", target).isEmpty, "no seeds in Fuzz/Corpus/\(target)", file: file, line: line)
        for (kind, mustDecode) in [("Crashers", false), ("Corpus", true)] {
            for url in files(kind, target) {
                let data = try Data(contentsOf: url)
                _ = Diagnostics.collecting {
                    do {
                        try decode(data)
                    } catch let error as DatasetError {
                        if mustDecode { XCTFail("seed \(url.path) does not decode: \(error)", file: file, line: line) }
                    } catch {
                        XCTFail("\(url.path): threw \(type(of: error)), not a DatasetError: \(error)", file: file, line: line)
                    }
                }
            }
        }
    }
}
