import Foundation

/// Line splitting for the line-based formats splat reads (COLMAP text, PLY
/// headers), accepting LF, CRLF and lone CR line endings alike.
///
/// Swift treats "\r\n" as one `Character`, so splitting a `String` on "\n"
/// leaves CRLF files as one long line; the splitting is therefore done on
/// bytes, where CR and LF are separate.
public enum TextLines {
    /// One line: its 1-based number and its text without the line ending.
    public struct Line {
        public var number: Int
        public var text: Substring
    }

    /// Every line of `data` (decoded as UTF-8, invalid bytes replaced), the
    /// last one included even without a line ending. An empty file has no lines.
    public static func split(_ data: Data) -> [Line] {
        let bytes = [UInt8](data)
        var lines: [Line] = []
        var start = 0
        var number = 0
        while start < bytes.count {
            let (end, next) = lineEnd(bytes, from: start, limit: bytes.count)
            number += 1
            lines.append(Line(number: number, text: Substring(String(decoding: bytes[start..<end], as: UTF8.self))))
            start = next
        }
        return lines
    }

    /// The end of the line starting at `start` (the index of its CR or LF, or
    /// `limit` when no ending comes before it) and the start of the next line
    /// (past "\n", "\r\n" or a lone "\r"), in `bytes[..<limit]`.
    static func lineEnd<Bytes: RandomAccessCollection>(_ bytes: Bytes, from start: Int, limit: Int) -> (end: Int, next: Int)
        where Bytes.Element == UInt8, Bytes.Index == Int {
        var i = start
        while i < limit {
            switch bytes[i] {
            case UInt8(ascii: "\n"):
                return (i, i + 1)
            case UInt8(ascii: "\r"):
                return (i, i + 1 < limit && bytes[i + 1] == UInt8(ascii: "\n") ? i + 2 : i + 1)
            default:
                i += 1
            }
        }
        return (limit, limit)
    }

    /// The next complete line (one that has a line ending before `limit`):
    /// its byte range without the ending and where the following line starts;
    /// nil when the bytes end first. For headers before a binary body, where
    /// a last line without an ending means a truncated file.
    static func nextCompleteLine<Bytes: RandomAccessCollection>(_ bytes: Bytes, from start: Int, limit: Int)
        -> (range: Range<Int>, next: Int)? where Bytes.Element == UInt8, Bytes.Index == Int {
        let (end, next) = lineEnd(bytes, from: start, limit: limit)
        guard end < limit else { return nil }
        // A CR as the last byte before `limit` may be the first half of a CRLF
        // that `limit` cut: only whole files (limit == count) may end a line with it.
        if bytes[end] == UInt8(ascii: "\r"), next == limit, limit < bytes.endIndex { return nil }
        return (start..<end, next)
    }

    /// `text` made safe to quote in a one-line message: at most `limit`
    /// characters, control and non-ASCII characters escaped (\n, \r, \t,
    /// \u{...}), "..." added when it was cut. For header lines that may be
    /// binary garbage.
    public static func excerpt<S: StringProtocol>(_ text: S, limit: Int = 40) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count == limit { return out + "..." }
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            case " "..."~": out.unicodeScalars.append(scalar)
            default: out += "\\u{\(String(scalar.value, radix: 16))}"
            }
            count += 1
        }
        return out
    }

    /// Like `excerpt(_:limit:)` for raw bytes: printable ASCII as it is,
    /// every other byte as \xHH.
    public static func excerpt<Bytes: Collection>(bytes: Bytes, limit: Int = 40) -> String where Bytes.Element == UInt8 {
        var out = ""
        var count = 0
        for byte in bytes {
            if count == limit { return out + "..." }
            switch byte {
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(byte))
            default: out += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
            }
            count += 1
        }
        return out
    }
}
