import Foundation
@testable import splat
import XCTest

/// Bad numbers on the command line (issue 20's findings): each is refused
/// before any file is read or device opened, exit 1, one line on stderr that
/// names the option. None of these runs trains or renders anything.
final class OptionValidationTests: XCTestCase {
    static let demo = CLITests.repository + "/Scenes/demo"

    func expectRefused(_ arguments: [String], naming option: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try SplatProcess.run(arguments)
        XCTAssertEqual(result.status, 1, "\(arguments): \(result.stderr)", file: file, line: line)
        let lines = result.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "\(arguments): one line expected: \(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.hasPrefix("splat: error:"), result.stderr, file: file, line: line)
        XCTAssertTrue(result.stderr.contains(option), "\(arguments): \(result.stderr)", file: file, line: line)
        XCTAssertFalse(result.stderr.contains("Missing value"), result.stderr, file: file, line: line)
        XCTAssertTrue(result.stdout.isEmpty, result.stdout, file: file, line: line)
    }

    func testNonFiniteAndOutOfRangeNumbers() throws {
        let cases: [([String], String)] = [
            (["--max-seconds", "nan"], "--max-seconds"),
            (["--max-seconds", "inf"], "--max-seconds"),
            (["--lambda-dssim", "2"], "--lambda-dssim"),
            (["--position-lr", "nan"], "--position-lr"),
            (["--opacity-lr", "-1"], "--opacity-lr"),
            (["--random-points", "0"], "--random-points"),
            (["--random-points", "1000000000000"], "--random-points"),
            (["--iterations", "-5"], "--iterations"),
            (["--downscale", "0"], "--downscale"),
            (["--seed", "-1"], "--seed"),
            (["--method", "nerf", "--aabb-scale", "0"], "--aabb-scale"),
            (["--method", "nerf", "--aabb-scale", "3"], "--aabb-scale"),
            (["--method", "nerf", "--aabb-scale", "1099511627776"], "--aabb-scale"),
            (["--method", "nerf", "--march-steps", "1000000000000"], "--march-steps"),
        ]
        for (options, name) in cases {
            try expectRefused(["train", Self.demo] + options, naming: name)
        }
    }

    func testBenchSizesAreCheckedBeforeAllocating() throws {
        try expectRefused(["bench", "sort", "--count", "1099511627776"], naming: "--count")
        try expectRefused(["bench", "scan", "--count", "-3"], naming: "--count")
        try expectRefused(["bench", "render", "--count", "1000000000000"], naming: "--count")
        try expectRefused(["bench", "sort", "--runs", "0"], naming: "--runs")
        try expectRefused(["bench", "render", "--channels", "0"], naming: "--channels")
        try expectRefused(["bench", "render", "--sparse", "9/4"], naming: "--sparse")
        try expectRefused(["bench", "render", "--blend", "over"], naming: "--blend")
    }

    func testOtherCommands() throws {
        try expectRefused(["render", Self.demo, "--orbit", "-2", "--out", NSTemporaryDirectory()], naming: "--orbit")
        try expectRefused(["mesh", Self.demo, "--threshold", "nan", "--out", "x.ply"], naming: "--threshold")
        try expectRefused(["eval", Self.demo, Self.demo, "--downscale", "-1"], naming: "--downscale")
    }

    /// An output folder below a regular file: named as such, not as a Foundation error code.
    func testOutputFolderInsideAFile() throws {
        let file = NSTemporaryDirectory() + "splat-out-file-\(UUID().uuidString)"
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try SplatProcess.run(["train", Self.demo, "--out", file + "/model", "--iterations", "1"])
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("is a file"), result.stderr)
        XCTAssertFalse(result.stderr.contains("NSCocoaErrorDomain"), result.stderr)
    }

    func testNegativeNumbersAreJoinedToTheirOption() {
        XCTAssertEqual(OptionCheck.joiningNegativeNumbers(["train", "s", "--seed", "-1", "--eval", "--x", "-nan"]),
                       ["train", "s", "--seed=-1", "--eval", "--x=-nan"])
        XCTAssertEqual(OptionCheck.joiningNegativeNumbers(["--", "-1"]), ["--", "-1"])
        XCTAssertEqual(OptionCheck.joiningNegativeNumbers(["--out", "-dir"]), ["--out", "-dir"])
    }
}
