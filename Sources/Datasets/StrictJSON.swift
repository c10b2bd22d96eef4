import Foundation

/// A parsed JSON value (RFC 8259), as `StrictJSON.parse` returns it.
///
/// Numbers keep their source text as well as their value, so that an error
/// message can quote exactly what the file holds (`9.3e18`, not
/// `9.3e+18`) and a whole number can be read exactly, beyond 2^53.
public indirect enum JSONValue: Equatable {
    case null
    case bool(Bool)
    case number(Double, text: String)
    case string(String)
    case array([JSONValue])
    /// Members in file order (keys are unique: duplicates are refused).
    case object([(key: String, value: JSONValue)])

    /// The member named `key` of an object, or nil (also for a non-object).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// A short description for error messages: `null`, `true`, `the number
    /// 1e308`, `a string`, `a list`, `an object`.
    public var summary: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .number(_, let text): return "the number \(StrictJSON.excerpt(text))"
        case .string: return "a string"
        case .array: return "a list"
        case .object: return "an object"
        }
    }

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x, _), .number(let y, _)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }
}

/// Strict JSON for files users give splat.
///
/// Foundation's `JSONSerialization` and `JSONDecoder` accept trailing commas,
/// keep the last of duplicate keys silently, and report errors without a
/// position; `JSONDecoder` reports a whole number too large for `Int` as
/// "not valid JSON" with no key. This parser follows RFC 8259 exactly and
/// reports every problem as one `DatasetError` line naming the file, and the
/// line and column or the key path.
///
/// Refused: trailing commas, comments, `NaN`/`Infinity`, leading zeros,
/// numbers beyond the range of a Double (they would become infinity),
/// duplicate keys in one object, nesting deeper than `maximumDepth`,
/// control characters and invalid escapes in strings, lone UTF-16
/// surrogates, and invalid UTF-8. A UTF-8 byte order mark at the start is
/// skipped (RFC 8259 section 8.1 allows ignoring it; Windows editors write it).
public enum StrictJSON {
    /// The deepest nesting of lists and objects accepted. Real files nest a
    /// few levels; the bound keeps a hostile file from exhausting the stack.
    public static let maximumDepth = 512

    /// The largest JSON file `readFile` reads by default (256 MiB): far above
    /// any real transforms.json or model.json, small enough to hold in memory.
    public static let defaultFileLimit = 256 << 20

    /// Reads a file for parsing: only a regular file (a FIFO, device or
    /// folder is refused before any read, so a FIFO never blocks), at most
    /// `limit` bytes. Every failure is a `DatasetError` naming `path`.
    public static func readFile(_ path: String, limit: Int = defaultFileLimit) throws -> Data {
        try RegularFile.read(path, limit: limit)
    }

    /// Parses `data` strictly into a `JSONValue`; `path` names the file in errors
    /// (`DatasetError(path, "not valid JSON: line L, column C: what")`).
    public static func parse(_ data: Data, path: String) throws -> JSONValue {
        let bytes = [UInt8](data)
        return try bytes.withUnsafeBufferPointer { buffer in
            var parser = Parser(bytes: buffer, path: path)
            return try parser.document()
        }
    }

    /// Parses `data` strictly, then returns what `JSONSerialization` returns
    /// for it (`[String: Any]`, `[Any]`, `NSNumber`, `String`, `NSNull`), so
    /// existing code that casts those values keeps working. Top-level
    /// scalars are accepted; callers check the type they need.
    public static func object(_ data: Data, path: String) throws -> Any {
        _ = try parse(data, path: path)
        do {
            return try JSONSerialization.jsonObject(with: withoutByteOrderMark(data), options: [.fragmentsAllowed])
        } catch {
            // Not expected after strict validation; kept as a one-line error.
            throw DatasetError(path, "not valid JSON: \((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "unreadable")")
        }
    }

    /// Parses `data` strictly and decodes a `T` from it. A value of the wrong
    /// kind, a missing key, or a number that does not fit is one line naming
    /// the key path: `key "iterations" is missing (at config)`,
    /// `frames[3].w: expected a number, found a string`.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, path: String) throws -> T {
        let root = try parse(data, path: path)
        do {
            return try T(from: ValueDecoder(value: root, codingPath: []))
        } catch let error as DatasetError {
            throw error
        } catch {
            throw DatasetError(path, describe(error, root: root))
        }
    }

    /// Reads (`readFile`) and decodes a JSON file.
    public static func decodeFile<T: Decodable>(_ type: T.Type, path: String) throws -> T {
        try decode(type, from: readFile(path), path: path)
    }

    /// One readable line for an error from decoding `root`: the key path and
    /// what was wrong there, never `DecodingError`'s dump.
    static func describe(_ error: Error, root: JSONValue) -> String {
        guard let error = error as? DecodingError else {
            return oneLine(String(describing: error))
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "key \(quoted(key.stringValue)) is missing (at \(pathText(context.codingPath)))"
        case .typeMismatch(let type, let context):
            let found = value(at: context.codingPath, in: root)?.summary ?? "something else"
            return "\(pathText(context.codingPath)): expected \(kindName(type)), found \(found)"
        case .valueNotFound(let type, let context):
            if context.debugDescription.hasPrefix(atEndMarker) {
                return "\(pathText(context.codingPath.dropLast())): the list is too short (\(context.debugDescription.dropFirst(atEndMarker.count)))"
            }
            return "\(pathText(context.codingPath)): expected \(kindName(type)), found null"
        case .dataCorrupted(let context):
            let found = value(at: context.codingPath, in: root)
            if context.debugDescription.hasPrefix("Cannot initialize"), let found {
                // A synthesised enum refusing a raw value.
                if case .string(let text) = found { return "\(pathText(context.codingPath)): \(quoted(text)) is not an allowed value" }
                return "\(pathText(context.codingPath)): \(found.summary) is not an allowed value"
            }
            return "\(pathText(context.codingPath)): \(oneLine(context.debugDescription))"
        @unknown default:
            return "cannot be decoded"
        }
    }

    /// The value a coding path leads to, for naming what was found.
    static func value(at codingPath: [CodingKey], in root: JSONValue) -> JSONValue? {
        var current = root
        for key in codingPath {
            switch current {
            case .array(let items):
                guard let index = key.intValue, items.indices.contains(index) else { return nil }
                current = items[index]
            case .object:
                guard let next = current[key.stringValue] else { return nil }
                current = next
            default:
                return nil
            }
        }
        return current
    }

    /// `frames[3].w`; keys that are not plain names are quoted.
    static func pathText<Keys: Collection>(_ keys: Keys) -> String where Keys.Element == CodingKey {
        var text = ""
        for key in keys {
            if let index = key.intValue, key.stringValue == "Index \(index)" || key is IndexKey {
                text += "[\(index)]"
            } else {
                let name = key.stringValue
                let plain = !name.isEmpty && name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-" }
                text += (text.isEmpty ? "" : ".") + (plain ? name : quoted(name))
            }
        }
        return text.isEmpty ? "the top level" : text
    }

    static func kindName(_ type: Any.Type) -> String {
        switch type {
        case is Double.Type, is Float.Type: return "a number"
        case is Int.Type, is Int8.Type, is Int16.Type, is Int32.Type, is Int64.Type,
             is UInt.Type, is UInt8.Type, is UInt16.Type, is UInt32.Type, is UInt64.Type: return "a whole number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") || name.hasPrefix("[") { return "a list" }
            if name.hasPrefix("Dictionary") || name.hasPrefix("KeyedDecodingContainer") { return "an object" }
            return "a value"
        }
    }

    /// At most `limit` characters of `text` for a message (a hostile file may
    /// hold a megabyte-long number or name), marked with "..." when cut.
    public static func excerpt(_ text: String, limit: Int = 80) -> String {
        text.count <= limit ? text : String(text.prefix(limit)) + "..."
    }

    /// A JSON string literal of `text` (its first 80 characters), for messages.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in excerpt(text).unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    static func withoutByteOrderMark(_ data: Data) -> Data {
        data.starts(with: [0xEF, 0xBB, 0xBF]) ? data.dropFirst(3) : data
    }

    /// The prefix of the message a list past its end gives (see `ValueDecoder`).
    static let atEndMarker = "list at end: "
}

// MARK: - Parser

extension StrictJSON {
    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        let path: String
        var offset = 0
        var depth = 0

        init(bytes: UnsafeBufferPointer<UInt8>, path: String) {
            self.bytes = bytes
            self.path = path
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { offset = 3 }
        }

        mutating func document() throws -> JSONValue {
            skipWhitespace()
            guard offset < bytes.count else {
                throw failure(bytes.isEmpty ? "the file is empty" : "no JSON value, only white space")
            }
            let result = try value()
            skipWhitespace()
            if offset < bytes.count {
                throw failure("\(found()) after the end of the JSON value")
            }
            return result
        }

        /// The error at the current offset.
        func failure(_ what: String, at position: Int? = nil) -> DatasetError {
            let end = min(position ?? offset, bytes.count)
            var line = 1, column = 1
            for index in 0..<end {
                let byte = bytes[index]
                if byte == 0x0A {
                    line += 1
                    column = 1
                } else if byte & 0xC0 != 0x80 {
                    // Count characters, not bytes: UTF-8 continuation bytes are skipped.
                    column += 1
                }
            }
            return DatasetError(path, "not valid JSON: line \(line), column \(column): \(what)")
        }

        /// What is at the current offset, for messages: `'x'`, `byte 0x01`, `the end of the file`.
        func found(at position: Int? = nil) -> String {
            let index = position ?? offset
            guard index < bytes.count else { return "the end of the file" }
            let byte = bytes[index]
            if byte >= 0x21, byte < 0x7F { return "'\(Character(UnicodeScalar(byte)))'" }
            if byte == 0x20 { return "a space" }
            return String(format: "byte 0x%02X", byte)
        }

        mutating func skipWhitespace() {
            while offset < bytes.count {
                switch bytes[offset] {
                case 0x20, 0x09, 0x0A, 0x0D: offset += 1
                default: return
                }
            }
        }

        mutating func value() throws -> JSONValue {
            guard offset < bytes.count else { throw failure("the file ends where a value was expected") }
            switch bytes[offset] {
            case UInt8(ascii: "{"): return try object()
            case UInt8(ascii: "["): return try array()
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "N"), UInt8(ascii: "I"):
                throw failure("\(word()) is not allowed: JSON numbers are finite")
            case UInt8(ascii: "/"): throw failure("comments are not allowed in JSON")
            case UInt8(ascii: "'"): throw failure("strings must be in double quotes")
            case UInt8(ascii: "]"), UInt8(ascii: "}"): throw failure("expected a value, found \(found())")
            default: throw failure("expected a value, found \(found())")
            }
        }

        /// The letters at the offset (for naming a bad literal).
        func word() -> String {
            var end = offset
            while end < bytes.count, end - offset < 20,
                  (bytes[end] >= 0x41 && bytes[end] <= 0x5A) || (bytes[end] >= 0x61 && bytes[end] <= 0x7A) { end += 1 }
            return end > offset ? String(decoding: bytes[offset..<end], as: UTF8.self) : found()
        }

        mutating func literal(_ text: StaticString) throws {
            let count = text.utf8CodeUnitCount
            let expected = UnsafeBufferPointer(start: text.utf8Start, count: count)
            guard offset + count <= bytes.count, bytes[offset..<(offset + count)].elementsEqual(expected) else {
                throw failure("expected a value, found \(word())")
            }
            offset += count
        }

        mutating func enter() throws {
            depth += 1
            if depth > StrictJSON.maximumDepth {
                throw failure("lists and objects nest deeper than the \(StrictJSON.maximumDepth) levels allowed")
            }
        }

        mutating func object() throws -> JSONValue {
            try enter()
            defer { depth -= 1 }
            offset += 1
            var members: [(key: String, value: JSONValue)] = []
            var seen = Set<String>()
            skipWhitespace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "}") {
                offset += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard offset < bytes.count else { throw failure("the file ends inside an object (a '}' is missing)") }
                guard bytes[offset] == UInt8(ascii: "\"") else {
                    if bytes[offset] == UInt8(ascii: "}"), !members.isEmpty {
                        throw failure("a trailing comma before '}' is not allowed")
                    }
                    if bytes[offset] == UInt8(ascii: "/") { throw failure("comments are not allowed in JSON") }
                    throw failure("expected a key in double quotes, found \(found())")
                }
                let keyStart = offset
                let key = try string()
                guard seen.insert(key).inserted else {
                    throw failure("duplicate key \(StrictJSON.quoted(key)) in one object", at: keyStart)
                }
                skipWhitespace()
                guard offset < bytes.count, bytes[offset] == UInt8(ascii: ":") else {
                    throw failure("expected ':' after the key \(StrictJSON.quoted(key)), found \(found())")
                }
                offset += 1
                skipWhitespace()
                members.append((key, try value()))
                skipWhitespace()
                guard offset < bytes.count else { throw failure("the file ends inside an object (a '}' is missing)") }
                switch bytes[offset] {
                case UInt8(ascii: ","): offset += 1
                case UInt8(ascii: "}"): offset += 1; return .object(members)
                case UInt8(ascii: "/"): throw failure("comments are not allowed in JSON")
                default: throw failure("expected ',' or '}' after a member of an object, found \(found())")
                }
            }
        }

        mutating func array() throws -> JSONValue {
            try enter()
            defer { depth -= 1 }
            offset += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "]") {
                offset += 1
                return .array(items)
            }
            while true {
                skipWhitespace()
                if offset < bytes.count, bytes[offset] == UInt8(ascii: "]"), !items.isEmpty {
                    throw failure("a trailing comma before ']' is not allowed")
                }
                items.append(try value())
                skipWhitespace()
                guard offset < bytes.count else { throw failure("the file ends inside a list (a ']' is missing)") }
                switch bytes[offset] {
                case UInt8(ascii: ","): offset += 1
                case UInt8(ascii: "]"): offset += 1; return .array(items)
                case UInt8(ascii: "/"): throw failure("comments are not allowed in JSON")
                default: throw failure("expected ',' or ']' after an item of a list, found \(found())")
                }
            }
        }

        mutating func number() throws -> JSONValue {
            let start = offset
            func digits() -> Int {
                let first = offset
                while offset < bytes.count, bytes[offset] >= 0x30, bytes[offset] <= 0x39 { offset += 1 }
                return offset - first
            }
            if bytes[offset] == UInt8(ascii: "-") {
                offset += 1
                if offset < bytes.count, bytes[offset] == UInt8(ascii: "I") {
                    throw failure("\(word()) is not allowed: JSON numbers are finite")
                }
            }
            guard offset < bytes.count, bytes[offset] >= 0x30, bytes[offset] <= 0x39 else {
                throw failure("expected a digit, found \(found())")
            }
            if bytes[offset] == UInt8(ascii: "0") {
                offset += 1
                if offset < bytes.count, bytes[offset] >= 0x30, bytes[offset] <= 0x39 {
                    throw failure("numbers must not have leading zeros", at: start)
                }
            } else {
                _ = digits()
            }
            if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
                offset += 1
                guard digits() > 0 else { throw failure("expected a digit after '.', found \(found())") }
            }
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
                offset += 1
                if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") { offset += 1 }
                guard digits() > 0 else { throw failure("expected a digit in the exponent, found \(found())") }
            }
            let text = String(decoding: bytes[start..<offset], as: UTF8.self)
            guard let value = Double(text), value.isFinite else {
                throw failure("the number \(StrictJSON.excerpt(text)) is beyond the range of a 64-bit float (about 1.8e308)", at: start)
            }
            return .number(value, text: text)
        }

        /// A string literal at the offset (which is at its opening quote), unescaped.
        mutating func string() throws -> String {
            let start = offset
            offset += 1
            var scalars = String.UnicodeScalarView()
            var runStart = offset
            // Plain runs are validated as UTF-8 and appended in one go.
            func flush(_ parser: inout Parser, upTo end: Int) throws {
                guard end > runStart else { return }
                guard let text = String(validating: parser.bytes[runStart..<end], as: UTF8.self) else {
                    throw parser.failure("a string holds invalid UTF-8", at: runStart)
                }
                scalars.append(contentsOf: text.unicodeScalars)
            }
            while true {
                guard offset < bytes.count else {
                    throw failure("the file ends inside a string (a '\"' is missing; the string starts here)", at: start)
                }
                let byte = bytes[offset]
                if byte == UInt8(ascii: "\"") {
                    try flush(&self, upTo: offset)
                    offset += 1
                    return String(scalars)
                }
                if byte < 0x20 {
                    throw failure(String(format: "control character U+%04X inside a string (write it escaped, as \\n, \\t or \\u%04X)", byte, byte))
                }
                if byte == UInt8(ascii: "\\") {
                    try flush(&self, upTo: offset)
                    scalars.append(try escape())
                    runStart = offset
                    continue
                }
                offset += 1
            }
        }

        /// One escape sequence at the offset (at its backslash).
        mutating func escape() throws -> Unicode.Scalar {
            let start = offset
            offset += 1
            guard offset < bytes.count else { throw failure("the file ends inside an escape sequence") }
            let letter = bytes[offset]
            offset += 1
            switch letter {
            case UInt8(ascii: "\""): return "\""
            case UInt8(ascii: "\\"): return "\\"
            case UInt8(ascii: "/"): return "/"
            case UInt8(ascii: "b"): return "\u{08}"
            case UInt8(ascii: "f"): return "\u{0C}"
            case UInt8(ascii: "n"): return "\n"
            case UInt8(ascii: "r"): return "\r"
            case UInt8(ascii: "t"): return "\t"
            case UInt8(ascii: "u"):
                let first = try hex4(escapeStart: start)
                if (0xD800...0xDBFF).contains(first) {
                    // A high surrogate must be followed by an escaped low one.
                    guard offset + 1 < bytes.count, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u") else {
                        throw failure(String(format: "\\u%04X is half of a UTF-16 surrogate pair without its other half", first), at: start)
                    }
                    let secondStart = offset
                    offset += 2
                    let second = try hex4(escapeStart: secondStart)
                    guard (0xDC00...0xDFFF).contains(second) else {
                        throw failure(String(format: "\\u%04X is half of a UTF-16 surrogate pair without its other half", first), at: start)
                    }
                    let combined = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                    guard let scalar = Unicode.Scalar(combined) else { throw failure("invalid \\u escape", at: start) }
                    return scalar
                }
                guard let scalar = Unicode.Scalar(first) else {
                    throw failure(String(format: "\\u%04X is half of a UTF-16 surrogate pair without its other half", first), at: start)
                }
                return scalar
            default:
                throw failure("invalid escape \\\(found(at: offset - 1).trimmingCharacters(in: CharacterSet(charactersIn: "'"))) in a string (allowed: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)", at: start)
            }
        }

        /// Four hex digits at the offset (after `\u`).
        mutating func hex4(escapeStart: Int) throws -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard offset < bytes.count else { throw failure("the file ends inside a \\u escape") }
                let byte = bytes[offset]
                let digit: UInt32
                switch byte {
                case 0x30...0x39: digit = UInt32(byte - 0x30)
                case 0x41...0x46: digit = UInt32(byte - 0x41 + 10)
                case 0x61...0x66: digit = UInt32(byte - 0x61 + 10)
                default: throw failure("\\u must be followed by four hex digits", at: escapeStart)
                }
                value = value << 4 | digit
                offset += 1
            }
            return value
        }
    }
}

// MARK: - Decoder

extension StrictJSON {
    /// The coding key of a list item.
    struct IndexKey: CodingKey {
        let intValue: Int?
        var stringValue: String { "Index \(intValue ?? 0)" }
        init(_ index: Int) { intValue = index }
        init?(stringValue: String) { return nil }
        init?(intValue: Int) { self.intValue = intValue }
    }

    /// A `Decoder` over a parsed `JSONValue`. Unlike `JSONDecoder` it names
    /// the key of a number that does not fit its type, and it reads whole
    /// numbers from their exact text.
    struct ValueDecoder: Decoder {
        let value: JSONValue
        let codingPath: [CodingKey]
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
            guard case .object(let members) = value else {
                throw DecodingError.typeMismatch([String: Any].self, .init(codingPath: codingPath, debugDescription: "expected an object"))
            }
            return KeyedDecodingContainer(KeyedContainer<Key>(members: members, codingPath: codingPath))
        }

        func unkeyedContainer() throws -> UnkeyedDecodingContainer {
            guard case .array(let items) = value else {
                throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath, debugDescription: "expected a list"))
            }
            return UnkeyedContainer(items: items, codingPath: codingPath)
        }

        func singleValueContainer() throws -> SingleValueDecodingContainer { SingleValue(value: value, codingPath: codingPath) }
    }

    struct SingleValue: SingleValueDecodingContainer {
        let value: JSONValue
        let codingPath: [CodingKey]

        func mismatch(_ type: Any.Type) -> DecodingError {
            if case .null = value {
                return .valueNotFound(type, .init(codingPath: codingPath, debugDescription: "found null"))
            }
            return .typeMismatch(type, .init(codingPath: codingPath, debugDescription: "found \(value.summary)"))
        }

        func decodeNil() -> Bool { value == .null }

        func decode(_ type: Bool.Type) throws -> Bool {
            guard case .bool(let result) = value else { throw mismatch(type) }
            return result
        }

        func decode(_ type: String.Type) throws -> String {
            guard case .string(let result) = value else { throw mismatch(type) }
            return result
        }

        func decode(_ type: Double.Type) throws -> Double {
            guard case .number(let result, _) = value else { throw mismatch(type) }
            return result
        }

        func decode(_ type: Float.Type) throws -> Float {
            guard case .number(let result, let text) = value else { throw mismatch(type) }
            guard abs(result) <= Double(Float.greatestFiniteMagnitude) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath,
                    debugDescription: "expected a number within the range of a 32-bit float (about 3.4e38), found \(StrictJSON.excerpt(text))"))
            }
            return Float(result)
        }

        func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
            guard case .number(let result, let text) = value else { throw mismatch(type) }
            // Exact for plain integer text; otherwise (1e3, 4.0) only whole values in range.
            if let exact = I(text) { return exact }
            if result.rounded() == result, let converted = I(exactly: result) { return converted }
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath,
                debugDescription: "expected a whole number from \(I.min) to \(I.max), found \(StrictJSON.excerpt(text))"))
        }

        func decode(_ type: Int.Type) throws -> Int { try integer(type) }
        func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
        func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
        func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
        func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
        func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
        func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
        func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
        func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
        func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

        func decode<T: Decodable>(_ type: T.Type) throws -> T {
            // As JSONDecoder's defaults: URL from a string, Data from base64.
            if type == URL.self {
                let text = try decode(String.self)
                guard let url = URL(string: text), let result = url as? T else {
                    throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\(StrictJSON.quoted(text)) is not a URL"))
                }
                return result
            }
            if type == Data.self {
                let text = try decode(String.self)
                guard let data = Data(base64Encoded: text), let result = data as? T else {
                    throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "expected base64 data"))
                }
                return result
            }
            return try T(from: ValueDecoder(value: value, codingPath: codingPath))
        }
    }

    struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let members: [(key: String, value: JSONValue)]
        let codingPath: [CodingKey]

        var allKeys: [Key] { members.compactMap { Key(stringValue: $0.key) } }

        func contains(_ key: Key) -> Bool { members.contains { $0.key == key.stringValue } }

        func member(_ key: Key) throws -> SingleValue {
            guard let found = members.first(where: { $0.key == key.stringValue }) else {
                throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing"))
            }
            return SingleValue(value: found.value, codingPath: codingPath + [key])
        }

        func decodeNil(forKey key: Key) throws -> Bool { try member(key).decodeNil() }
        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try member(key).decode(type) }
        func decode(_ type: String.Type, forKey key: Key) throws -> String { try member(key).decode(type) }
        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try member(key).decode(type) }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try member(key).decode(type) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try member(key).decode(type) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try member(key).decode(type) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try member(key).decode(type) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try member(key).decode(type) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try member(key).decode(type) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try member(key).decode(type) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try member(key).decode(type) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try member(key).decode(type) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try member(key).decode(type) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try member(key).decode(type) }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try member(key).decode(type) }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            let child = try member(key)
            return try ValueDecoder(value: child.value, codingPath: child.codingPath).container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
            let child = try member(key)
            return try ValueDecoder(value: child.value, codingPath: child.codingPath).unkeyedContainer()
        }

        func superDecoder() throws -> Decoder {
            let key = Key(stringValue: "super")
            let found = members.first { $0.key == "super" }?.value ?? .null
            return ValueDecoder(value: found, codingPath: codingPath + (key.map { [$0] } ?? []))
        }

        func superDecoder(forKey key: Key) throws -> Decoder {
            let found = members.first { $0.key == key.stringValue }?.value ?? .null
            return ValueDecoder(value: found, codingPath: codingPath + [key])
        }
    }

    struct UnkeyedContainer: UnkeyedDecodingContainer {
        let items: [JSONValue]
        let codingPath: [CodingKey]
        var currentIndex = 0

        init(items: [JSONValue], codingPath: [CodingKey]) {
            self.items = items
            self.codingPath = codingPath
        }

        var count: Int? { items.count }
        var isAtEnd: Bool { currentIndex >= items.count }

        mutating func next(_ type: Any.Type) throws -> SingleValue {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(type, .init(codingPath: codingPath + [IndexKey(currentIndex)],
                    debugDescription: StrictJSON.atEndMarker + "it has \(items.count) items, more are needed"))
            }
            defer { currentIndex += 1 }
            return SingleValue(value: items[currentIndex], codingPath: codingPath + [IndexKey(currentIndex)])
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(Any?.self, .init(codingPath: codingPath + [IndexKey(currentIndex)],
                    debugDescription: StrictJSON.atEndMarker + "it has \(items.count) items, more are needed"))
            }
            if items[currentIndex] == .null {
                currentIndex += 1
                return true
            }
            return false
        }

        mutating func decode(_ type: Bool.Type) throws -> Bool { try next(type).decode(type) }
        mutating func decode(_ type: String.Type) throws -> String { try next(type).decode(type) }
        mutating func decode(_ type: Double.Type) throws -> Double { try next(type).decode(type) }
        mutating func decode(_ type: Float.Type) throws -> Float { try next(type).decode(type) }
        mutating func decode(_ type: Int.Type) throws -> Int { try next(type).decode(type) }
        mutating func decode(_ type: Int8.Type) throws -> Int8 { try next(type).decode(type) }
        mutating func decode(_ type: Int16.Type) throws -> Int16 { try next(type).decode(type) }
        mutating func decode(_ type: Int32.Type) throws -> Int32 { try next(type).decode(type) }
        mutating func decode(_ type: Int64.Type) throws -> Int64 { try next(type).decode(type) }
        mutating func decode(_ type: UInt.Type) throws -> UInt { try next(type).decode(type) }
        mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try next(type).decode(type) }
        mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try next(type).decode(type) }
        mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try next(type).decode(type) }
        mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try next(type).decode(type) }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try next(type).decode(type) }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            let child = try next([String: Any].self)
            return try ValueDecoder(value: child.value, codingPath: child.codingPath).container(keyedBy: type)
        }

        mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer {
            let child = try next([Any].self)
            return try ValueDecoder(value: child.value, codingPath: child.codingPath).unkeyedContainer()
        }

        mutating func superDecoder() throws -> Decoder {
            let child = try next(Any.self)
            return ValueDecoder(value: child.value, codingPath: child.codingPath)
        }
    }
}
