import Datasets
import Foundation
import XCTest

/// A run killed (SIGKILL) while writing a checkpoint leaves its temporary
/// `.state.bin.PID.RANDOM.tmp` (tens of MB) behind; the next write into that
/// folder, or a training run starting there, removes those of dead processes
/// and nothing else.
final class AtomicFileTests: XCTestCase {
    /// Above Linux's largest pid_max (2^22): no process has it, `kill` answers ESRCH.
    static let deadPID = Int32.max - 7

    var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "splat-atomic-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    func touch(_ name: String) -> String {
        let path = folder + "/" + name
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("x".utf8)))
        return path
    }

    func testTemporaryNamesAreRecognisedExactly() {
        XCTAssertEqual(AtomicFile.temporaryOwner(".state.bin.4242.3735928559.tmp"), 4242)
        XCTAssertEqual(AtomicFile.temporaryOwner(".model.nerf.7.0.tmp"), 7)
        XCTAssertEqual(AtomicFile.temporaryOwner(".a.1.2.tmp"), 1)
        for name in ["state.bin.4242.1.tmp", ".state.bin.4242.1.tmp.bak", ".4242.1.tmp", ".state.bin.42a.1.tmp",
                     ".state.bin.4242.99999999999.tmp", ".state.bin.0.1.tmp", ".state.bin.-5.1.tmp", ".state.bin..1.tmp",
                     ".state.bin.4242..tmp", ".state.bin.99999999999.1.tmp", ".state.bin.٤٢.1.tmp", ".tmp", "..tmp"] {
            XCTAssertNil(AtomicFile.temporaryOwner(name), name)
        }
    }

    func testRemovesOnlyDeadWritersTemporaries() throws {
        let stale = touch(".state.bin.\(Self.deadPID).12345.tmp")
        let staleModel = touch(".model.nerf.\(Self.deadPID).7.tmp")
        let mine = touch(".state.bin.\(getpid()).1.tmp")
        let parent = touch(".state.bin.\(getppid()).2.tmp")
        let lookalike = touch(".state.bin.\(Self.deadPID).x.tmp")
        let model = touch("state.bin")
        try FileManager.default.createDirectory(atPath: folder + "/.dir.\(Self.deadPID).3.tmp", withIntermediateDirectories: false)
        let removed = AtomicFile.removeStale(in: folder)
        XCTAssertEqual(Set(removed), [stale, staleModel])
        for kept in [mine, parent, lookalike, model, folder + "/.dir.\(Self.deadPID).3.tmp"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: kept), kept)
        }
        XCTAssertEqual(AtomicFile.removeStale(in: folder + "/no-such-folder"), [])
    }

    /// The first atomic write into a folder cleans it (checkpoints are written
    /// through `AtomicFile`, so a resumed run frees the space at its first save).
    func testFirstWriteCleansTheFolder() throws {
        let stale = touch(".state.bin.\(Self.deadPID).99.tmp")
        try AtomicFile.write(Data("new".utf8), to: folder + "/state.bin")
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale))
        XCTAssertEqual(try String(contentsOfFile: folder + "/state.bin", encoding: .utf8), "new")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder)
        XCTAssertEqual(names, ["state.bin"], "no temporary of the write itself is left")
    }
}
