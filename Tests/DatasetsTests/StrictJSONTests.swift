@testable import Datasets
import Foundation
import XCTest

/// StrictJSON: RFC 8259 exactly, errors with line and column or key path.
final class StrictJSONTests: TemporaryFolderTestCase {
    /// The problem text of parsing `text` (fails the test if it parses).
    func parseError(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try StrictJSON.parse(Data(text.utf8), path: "x.json")
            XCTFail("expected \(text.prefix(60)) to be refused", file: file, line: line)
            return ""
        } catch let error as DatasetError {
            XCTAssertEqual(error.path, "x.json", file: file, line: line)
            return error.problem
        } catch {
            XCTFail("not a DatasetError: \(error)", file: file, line: line)
            return ""
        }
    }

    func testValidDocumentsParse() throws {
        let value = try StrictJSON.parse(Data(#"  {"a": [1, -0.5e-3, 1E+2, true, false, null], "b": "x\u00e9\ud83d\ude00\n\"", "c": {}} "#.utf8), path: "x.json")
        XCTAssertEqual(value["a"], .array([.number(1, text: "1"), .number(-0.0005, text: "-0.5e-3"), .number(100, text: "1E+2"),
                                            .bool(true), .bool(false), .null]))
        XCTAssertEqual(value["b"], .string("x\u{e9}\u{1F600}\n\""))
        XCTAssertEqual(value["c"], .object([]))
        // Top-level scalars and a UTF-8 byte order mark are accepted.
        XCTAssertEqual(try StrictJSON.parse(Data("3".utf8), path: "x"), .number(3, text: "3"))
        XCTAssertEqual(try StrictJSON.parse(Data([0xEF, 0xBB, 0xBF] + Array("[]".utf8)), path: "x"), .array([]))
        // object() hands back JSONSerialization's kinds of values.
        let object = try StrictJSON.object(Data(#"{"w": 4, "list": [1.5]}"#.utf8), path: "x.json") as? [String: Any]
        XCTAssertEqual((object?["w"] as? NSNumber)?.intValue, 4)
        XCTAssertEqual((object?["list"] as? [NSNumber])?.first?.doubleValue, 1.5)
    }

    func testTrailingCommasAreRefusedWithTheirPosition() {
        XCTAssertEqual(parseError("{\"a\": 1,\n \"b\": [1, 2,]}"), "not valid JSON: line 2, column 13: a trailing comma before ']' is not allowed")
        XCTAssertEqual(parseError("{\"a\": 1,}"), "not valid JSON: line 1, column 9: a trailing comma before '}' is not allowed")
    }

    func testSyntaxErrorsGiveLineAndColumn() {
        XCTAssertEqual(parseError("{\n  \"a\": 1\n  \"b\": 2\n}"), "not valid JSON: line 3, column 3: expected ',' or '}' after a member of an object, found '\"'")
        // Columns count characters, not bytes.
        XCTAssertEqual(parseError("[\"é\", x]"), "not valid JSON: line 1, column 7: expected a value, found 'x'")
        XCTAssertEqual(parseError(""), "not valid JSON: line 1, column 1: the file is empty")
        XCTAssertTrue(parseError("{\"a\": [1, 2").contains("the file ends inside a list"))
        XCTAssertTrue(parseError("{\"a\": \"open").contains("the file ends inside a string"))
        XCTAssertTrue(parseError("[1] [2]").contains("'[' after the end of the JSON value"))
        XCTAssertTrue(parseError("{a: 1}").contains("expected a key in double quotes, found 'a'"))
        XCTAssertTrue(parseError("['a']").contains("strings must be in double quotes"))
    }

    func testNonStandardLiteralsAndNumbersAreRefused() {
        XCTAssertTrue(parseError("[NaN]").contains("NaN is not allowed: JSON numbers are finite"))
        XCTAssertTrue(parseError("[Infinity]").contains("Infinity is not allowed"))
        XCTAssertTrue(parseError("[-Infinity]").contains("Infinity is not allowed"))
        XCTAssertTrue(parseError("[nan]").contains("expected a value, found nan"))
        XCTAssertEqual(parseError("[0012]"), "not valid JSON: line 1, column 2: numbers must not have leading zeros")
        XCTAssertTrue(parseError("[1.]").contains("expected a digit after '.'"))
        XCTAssertTrue(parseError("[.5]").contains("expected a value, found '.'"))
        XCTAssertTrue(parseError("[+1]").contains("expected a value, found '+'"))
        XCTAssertTrue(parseError("[1e]").contains("expected a digit in the exponent"))
        XCTAssertEqual(parseError("[1e400]"), "not valid JSON: line 1, column 2: the number 1e400 is beyond the range of a 64-bit float (about 1.8e308)")
        XCTAssertTrue(parseError("[-1e309]").contains("the number -1e309 is beyond"))
        XCTAssertTrue(parseError("[1] // note").contains("'/' after the end"))
        XCTAssertTrue(parseError("[1, /* c */ 2]").contains("comments are not allowed"))
    }

    func testStringsAreChecked() {
        XCTAssertTrue(parseError("[\"a\tb\"]").contains("control character U+0009 inside a string"))
        XCTAssertTrue(parseError(#"["\x"]"#).contains("invalid escape \\x"))
        XCTAssertTrue(parseError(#"["\u12"]"#).contains("\\u must be followed by four hex digits"))
        XCTAssertTrue(parseError(#"["\ud800"]"#).contains("surrogate pair"))
        XCTAssertTrue(parseError(#"["\udc00"]"#).contains("surrogate pair"))
        do {
            _ = try StrictJSON.parse(Data(Array("[\"".utf8) + [0xFF, 0xFE] + Array("\"]".utf8)), path: "x.json")
            XCTFail("invalid UTF-8 accepted")
        } catch {
            XCTAssertTrue("\(error)".contains("invalid UTF-8"), "\(error)")
        }
    }

    func testDuplicateKeysAreRefused() {
        XCTAssertEqual(parseError("{\"w\": 1,\n \"w\": 2}"), "not valid JSON: line 2, column 2: duplicate key \"w\" in one object")
        // The same key spelled with an escape is the same key.
        XCTAssertTrue(parseError(#"{"a": 1, "\u0061": 2}"#).contains("duplicate key \"a\""))
        // The same key in different objects is fine.
        XCTAssertNoThrow(try StrictJSON.parse(Data(#"[{"a": 1}, {"a": 2}]"#.utf8), path: "x"))
    }

    func testDeepNestingIsRefused() throws {
        let depth = StrictJSON.maximumDepth
        XCTAssertNoThrow(try StrictJSON.parse(Data((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8), path: "x"))
        let deep = String(repeating: "[", count: 100_000)
        XCTAssertEqual(parseError(deep), "not valid JSON: line 1, column \(depth + 1): lists and objects nest deeper than the \(depth) levels allowed")
        XCTAssertTrue(parseError(String(repeating: "{\"a\":", count: depth + 1)).contains("nest deeper"))
    }

    struct Config: Decodable, Equatable {
        var iterations: Int
        var lr: Double
        var scale: Float?
        var name: String?
        var split: Split?
        var frames: [Frame]?
        struct Frame: Decodable, Equatable { var w: Int }
    }

    func decodeError(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            _ = try StrictJSON.decode(Config.self, from: Data(text.utf8), path: "config.json")
            XCTFail("expected \(text) to be refused", file: file, line: line)
            return ""
        } catch let error as DatasetError {
            XCTAssertEqual(error.path, "config.json", file: file, line: line)
            XCTAssertFalse(error.problem.contains("DecodingError") || error.problem.contains("\n"), error.problem, file: file, line: line)
            return error.problem
        } catch {
            XCTFail("not a DatasetError: \(error)", file: file, line: line)
            return ""
        }
    }

    func testDecodeGivesOneLineNamingTheKey() throws {
        let config = try StrictJSON.decode(Config.self, from: Data(#"{"iterations": 7, "lr": 1e-3, "scale": 2, "split": "test", "frames": [{"w": 1e3}]}"#.utf8), path: "c")
        XCTAssertEqual(config, Config(iterations: 7, lr: 0.001, scale: 2, name: nil, split: .test, frames: [.init(w: 1000)]))

        XCTAssertEqual(decodeError(#"{"lr": 1}"#), #"key "iterations" is missing (at the top level)"#)
        XCTAssertEqual(decodeError(#"{"iterations": 1, "lr": 1, "frames": [{"w": 1}, {}]}"#), #"key "w" is missing (at frames[1])"#)
        XCTAssertEqual(decodeError(#"{"iterations": 1, "lr": 1, "frames": [{"w": "3"}]}"#), "frames[0].w: expected a whole number, found a string")
        XCTAssertEqual(decodeError(#"{"iterations": 1, "lr": "fast"}"#), "lr: expected a number, found a string")
        XCTAssertEqual(decodeError(#"{"iterations": null, "lr": 1}"#), "iterations: expected a whole number, found null")
        XCTAssertEqual(decodeError(#"{"iterations": 9.3e18, "lr": 1}"#),
                       "iterations: expected a whole number from \(Int.min) to \(Int.max), found 9.3e18")
        XCTAssertEqual(decodeError(#"{"iterations": 1.5, "lr": 1}"#),
                       "iterations: expected a whole number from \(Int.min) to \(Int.max), found 1.5")
        XCTAssertEqual(decodeError(#"{"iterations": 1, "lr": 1, "scale": 1e39}"#),
                       "scale: expected a number within the range of a 32-bit float (about 3.4e38), found 1e39")
        XCTAssertEqual(decodeError(#"{"iterations": 1, "lr": 1, "split": "sideways"}"#), #"split: "sideways" is not an allowed value"#)
        XCTAssertEqual(decodeError(#"{"iterations": 1, "lr": 1, "frames": {}}"#), "frames: expected a list, found an object")
        XCTAssertEqual(decodeError("[]"), "the top level: expected an object, found a list")
        XCTAssertTrue(decodeError(#"{"iterations": 1, "lr": 1,}"#).hasPrefix("not valid JSON: line 1, column 27: a trailing comma"))
        XCTAssertTrue(decodeError(#"{"iterations": 1, "iterations": 2, "lr": 1}"#).contains("duplicate key \"iterations\""))
        // A list too short for a fixed-size decode.
        struct Pair: Decodable {
            var a: Double, b: Double
            init(from decoder: Decoder) throws {
                var list = try decoder.unkeyedContainer()
                a = try list.decode(Double.self)
                b = try list.decode(Double.self)
            }
        }
        do {
            _ = try StrictJSON.decode([String: Pair].self, from: Data(#"{"p": [1]}"#.utf8), path: "p.json")
            XCTFail("short list accepted")
        } catch {
            XCTAssertEqual("\(error)", "p.json: p: the list is too short (it has 1 items, more are needed)")
        }
    }

    func testReadFileRefusesFIFOsFoldersAndLargeFiles() throws {
        let fifo = "\(folder!)/pipe.json"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let start = Date()
        // No writer is attached: a blocking open or read would hang here.
        XCTAssertTrue(errorText { _ = try StrictJSON.readFile(fifo) }.contains("pipe.json: not a regular file"))
        XCTAssertTrue(errorText { _ = try StrictJSON.decodeFile(Config.self, path: fifo) }.contains("FIFO"))
        XCTAssertLessThan(Date().timeIntervalSince(start), 1)
        XCTAssertTrue(errorText { _ = try StrictJSON.readFile(folder) }.contains("a folder"))
        XCTAssertTrue(errorText { _ = try StrictJSON.readFile("\(folder!)/absent.json") }.contains("absent.json: no such file"))
        try write("[1, 2, 3]", "small.json")
        XCTAssertEqual(try StrictJSON.readFile("\(folder!)/small.json"), Data("[1, 2, 3]".utf8))
        XCTAssertTrue(errorText { _ = try StrictJSON.readFile("\(folder!)/small.json", limit: 4) }.contains("larger than the 4 bytes allowed"))
    }
}
