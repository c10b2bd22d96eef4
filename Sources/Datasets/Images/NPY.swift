import Foundation

/// NumPy's `.npy` format: the magic `\x93NUMPY`, version bytes 1 and 0, a
/// little-endian uint16 header length, then the header, a Python dict literal
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (H, W), }` padded with
/// spaces and ended by a newline so that magic + version + length + header
/// is a multiple of 64 bytes, then the values, C order, little-endian.
/// Versions 2.0 and 3.0 differ only in a uint32 header length (3.0 also allows
/// UTF-8 in the header).
///
/// The writer writes version 1.0 float32 (what `np.load` reads); the reader
/// (`read`, `decode`) takes versions 1.0, 2.0 and 3.0 and the numeric dtypes
/// `np.save` writes for float16/32/64, int8/16/32/64, uint8/16/32/64 and bool,
/// little-endian, C order, and converts the values to Float.
public enum NPY {
    /// Writes `values` (C order) with `shape` to `path`, atomically.
    /// The product of `shape` must equal `values.count` (a `DatasetError` otherwise).
    public static func write(_ values: [Float], shape: [Int], to path: String) throws {
        try AtomicFile.write(try encode(values, shape: shape, path: path), to: path)
    }

    /// The file's bytes (see `write`).
    public static func encode(_ values: [Float], shape: [Int], path: String = "<npy>") throws -> Data {
        guard shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) == values.count else {
            throw DatasetError(path, "NPY shape \(shape) does not hold \(values.count) values")
        }
        var data = header(shape: shape)
        data.reserveCapacity(data.count + values.count * 4)
        values.withUnsafeBufferPointer { buffer in
            #if _endian(little)
            data.append(buffer)
            #else
            for v in buffer { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            #endif
        }
        return data
    }

    /// Magic, version 1.0, header length and the padded header dict.
    public static func header(shape: [Int]) -> Data {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '<f4', 'fortran_order': False, 'shape': \(dims), }"
        let prefix = 10  // magic (6) + version (2) + header length (2)
        let unpadded = prefix + dict.utf8.count + 1  // + newline
        dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(dict.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xff), UInt8(length >> 8)])
        data.append(contentsOf: Array(dict.utf8))
        return data
    }

    // MARK: Reading

    /// An array read from an `.npy` file: its shape and its values in C order
    /// (the last index varies fastest), converted to Float. `shape == []` is a
    /// scalar (one value). int64/uint64 values beyond 2^24 and float64 values
    /// lose precision in the conversion; float64 beyond Float's range become
    /// infinite.
    public struct NPYArray: Equatable {
        public var shape: [Int]
        public var values: [Float]

        public init(shape: [Int], values: [Float]) {
            self.shape = shape
            self.values = values
        }
    }

    /// The largest file `read` accepts: the whole file is read into memory and
    /// then converted (4 bytes a value), so a larger one is refused up front
    /// rather than exhausting memory part way.
    public static let maximumFileSize = 8 << 30

    /// Reads the `.npy` file at `path` (see `decode`). A file that is not a
    /// regular file, or is larger than `maximumFileSize`, is refused before
    /// any of it is read.
    public static func read(path: String) throws -> NPYArray {
        try RegularFile.check(path)
        var info = stat()
        if stat(path, &info) == 0, info.st_size > maximumFileSize {
            throw DatasetError(path, "NPY file of \(describeSize(Int64(info.st_size))) is larger than the \(describeSize(Int64(maximumFileSize))) this reader accepts")
        }
        // The limit again while reading: the file may grow after the check.
        return try decode(try RegularFile.read(path, limit: maximumFileSize), path: path)
    }

    /// Decodes the bytes of an `.npy` file; `path` names it in errors. Bad
    /// input (a bad magic, an unknown version, a malformed header dict, an
    /// unsupported dtype, Fortran order, big-endian data, a shape that
    /// overflows or does not match the data) is a `DatasetError`, never a crash.
    public static func decode(_ data: Data, path: String) throws -> NPYArray {
        try data.withUnsafeBytes { bytes in
            let header = try readHeader(bytes, path: path)
            let type = header.type
            // The product is checked for overflow, then against the bytes
            // present, before anything is allocated for it.
            var count = 1
            for dimension in header.shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard !overflow else {
                    throw DatasetError(path, "NPY shape \(header.shape) has more elements than can be counted")
                }
                count = product
            }
            let available = bytes.count - header.dataOffset
            let (needed, overflow) = count.multipliedReportingOverflow(by: type.size)
            guard !overflow, needed <= available else {
                throw DatasetError(path, "truncated: NPY shape \(header.shape) of '\(header.descr)' needs \(overflow ? "more than \(Int.max)" : String(needed)) bytes of data, the file holds \(available) after the header")
            }
            guard needed == available else {
                throw DatasetError(path, "NPY shape \(header.shape) of '\(header.descr)' needs \(needed) bytes of data, but \(available) follow the header (\(available - needed) extra bytes)")
            }
            let payload = UnsafeRawBufferPointer(rebasing: bytes[header.dataOffset...])
            let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                convert(payload, type: type, count: count, into: buffer)
                initialized = count
            }
            return NPYArray(shape: header.shape, values: values)
        }
    }

    /// An element type the reader converts from: its kind and size in bytes.
    struct ElementType: Equatable {
        enum Kind { case float, signed, unsigned, bool }
        let kind: Kind
        let size: Int
    }

    /// What the header says: the dtype (as written and parsed), the shape,
    /// and where the data starts.
    struct Header {
        let descr: String
        let type: ElementType
        let shape: [Int]
        let dataOffset: Int
    }

    /// Magic, version, header length and the header dict, checked.
    static func readHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws -> Header {
        let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
        guard bytes.count >= 8 else {
            if !bytes.elementsEqual(magic.prefix(bytes.count)) { throw badMagic(bytes, path: path) }
            throw DatasetError(path, "truncated: the file ends at byte \(bytes.count) within the NPY magic and version")
        }
        guard bytes.prefix(6).elementsEqual(magic) else { throw badMagic(bytes, path: path) }
        let major = bytes[6], minor = bytes[7]
        let lengthSize: Int
        switch (major, minor) {
        case (1, 0): lengthSize = 2
        case (2, 0), (3, 0): lengthSize = 4  // a uint32 length, for headers of many fields
        default:
            throw DatasetError(path, "unsupported NPY format version \(major).\(minor) (1.0, 2.0 and 3.0 are read)")
        }
        guard bytes.count >= 8 + lengthSize else {
            throw DatasetError(path, "truncated: the file ends at byte \(bytes.count) within the NPY header length")
        }
        var headerLength = 0
        for i in 0..<lengthSize { headerLength |= Int(bytes[8 + i]) << (8 * i) }
        let headerStart = 8 + lengthSize
        guard headerLength <= bytes.count - headerStart else {
            throw DatasetError(path, "truncated: the NPY header declares \(headerLength) bytes, the file holds \(bytes.count - headerStart) after the header length")
        }
        let headerBytes = bytes[headerStart ..< headerStart + headerLength]
        // 1.0 and 2.0 headers are Latin-1 (one byte one character); 3.0 is UTF-8.
        let text: String
        if major == 3 {
            text = String(decoding: headerBytes, as: UTF8.self)
            // Decoding replaces invalid sequences; a round trip that differs had some.
            guard text.utf8.elementsEqual(headerBytes) else {
                throw DatasetError(path, "malformed NPY header: not valid UTF-8")
            }
        } else {
            text = String(String.UnicodeScalarView(headerBytes.map { Unicode.Scalar($0) }))
        }
        var parser = HeaderParser(text: text, path: path)
        let dict = try parser.parseDict()

        func value(_ key: String) throws -> HeaderValue {
            guard let entry = dict.first(where: { $0.key == key }) else {
                throw DatasetError(path, "malformed NPY header: no '\(key)' key (expected 'descr', 'fortran_order' and 'shape')")
            }
            return entry.value
        }
        for entry in dict where !["descr", "fortran_order", "shape"].contains(entry.key) {
            throw DatasetError(path, "malformed NPY header: unexpected key '\(HeaderParser.excerpt(entry.key))' (expected 'descr', 'fortran_order' and 'shape')")
        }
        guard case .string(let descr) = try value("descr") else {
            throw DatasetError(path, "unsupported NPY dtype: 'descr' is not a string such as '<f4' (structured arrays are not read)")
        }
        let type = try elementType(descr, path: path)
        guard case .bool(let fortranOrder) = try value("fortran_order") else {
            throw DatasetError(path, "malformed NPY header: 'fortran_order' is not True or False")
        }
        guard !fortranOrder else {
            throw DatasetError(path, "Fortran-ordered arrays are not supported; save with np.ascontiguousarray")
        }
        guard case .tuple(let items) = try value("shape") else {
            throw DatasetError(path, "malformed NPY header: 'shape' is not a tuple of integers such as (5,) or (2, 3)")
        }
        var shape: [Int] = []
        for item in items {
            guard case .integer(let dimension) = item else {
                throw DatasetError(path, "malformed NPY header: 'shape' is not a tuple of integers such as (5,) or (2, 3)")
            }
            guard dimension >= 0 else {
                throw DatasetError(path, "malformed NPY header: negative dimension \(dimension) in 'shape'")
            }
            shape.append(dimension)
        }
        return Header(descr: descr, type: type, shape: shape, dataOffset: headerStart + headerLength)
    }

    /// The element type of a dtype string: byte order `<` (little-endian) or
    /// `|` (not applicable, 1-byte types), a kind letter and a size.
    static func elementType(_ descr: String, path: String) throws -> ElementType {
        let shown = HeaderParser.excerpt(descr)
        let types: [String: ElementType] = [
            "f2": .init(kind: .float, size: 2), "f4": .init(kind: .float, size: 4), "f8": .init(kind: .float, size: 8),
            "i1": .init(kind: .signed, size: 1), "i2": .init(kind: .signed, size: 2),
            "i4": .init(kind: .signed, size: 4), "i8": .init(kind: .signed, size: 8),
            "u1": .init(kind: .unsigned, size: 1), "u2": .init(kind: .unsigned, size: 2),
            "u4": .init(kind: .unsigned, size: 4), "u8": .init(kind: .unsigned, size: 8),
            "b1": .init(kind: .bool, size: 1),
        ]
        guard let order = descr.first, let type = types[String(descr.dropFirst())] else {
            throw DatasetError(path, "unsupported NPY dtype '\(shown)' (read: f2, f4, f8, i1, i2, i4, i8, u1, u2, u4, u8, b1)")
        }
        switch order {
        case "<": return type
        case "|" where type.size == 1: return type
        case ">" where type.size > 1:
            throw DatasetError(path, "big-endian NPY data ('\(shown)') is not supported; save with arr.astype('<\(descr.dropFirst())')")
        default:
            throw DatasetError(path, "unsupported NPY dtype '\(shown)': byte order '\(order)' (read: '<', and '|' for 1-byte types)")
        }
    }

    /// Converts `count` little-endian elements of `type` at `payload` (which
    /// holds at least `count * type.size` bytes) to Float.
    static func convert(_ payload: UnsafeRawBufferPointer, type: ElementType, count: Int,
                        into output: UnsafeMutableBufferPointer<Float>) {
        func load<T: FixedWidthInteger>(_: T.Type, _ i: Int) -> T {
            T(littleEndian: payload.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self))
        }
        switch (type.kind, type.size) {
        case (.float, 2): for i in 0..<count { output[i] = floatFromHalf(load(UInt16.self, i)) }
        case (.float, 4): for i in 0..<count { output[i] = Float(bitPattern: load(UInt32.self, i)) }
        case (.float, 8): for i in 0..<count { output[i] = Float(Double(bitPattern: load(UInt64.self, i))) }
        case (.signed, 1): for i in 0..<count { output[i] = Float(load(Int8.self, i)) }
        case (.signed, 2): for i in 0..<count { output[i] = Float(load(Int16.self, i)) }
        case (.signed, 4): for i in 0..<count { output[i] = Float(load(Int32.self, i)) }
        case (.signed, 8): for i in 0..<count { output[i] = Float(load(Int64.self, i)) }
        case (.unsigned, 1): for i in 0..<count { output[i] = Float(load(UInt8.self, i)) }
        case (.unsigned, 2): for i in 0..<count { output[i] = Float(load(UInt16.self, i)) }
        case (.unsigned, 4): for i in 0..<count { output[i] = Float(load(UInt32.self, i)) }
        case (.unsigned, 8): for i in 0..<count { output[i] = Float(load(UInt64.self, i)) }
        case (.bool, _): for i in 0..<count { output[i] = load(UInt8.self, i) == 0 ? 0 : 1 }
        default: preconditionFailure("elementType returns no other type")
        }
    }

    /// IEEE 754 binary16 bits as a Float, exactly (every half is a Float).
    /// Decoded by hand: Swift's `Float16` is not available on every platform
    /// splat builds on (macOS on x86_64).
    static func floatFromHalf(_ bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32(bits >> 10) & 0x1f
        let mantissa = UInt32(bits & 0x3ff)
        switch exponent {
        case 0:
            // Zero or subnormal: mantissa * 2^-24, exact in Float.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 0x1f:
            // Infinity or NaN; a NaN keeps its payload.
            return Float(bitPattern: sign | 0x7f80_0000 | mantissa << 13)
        default:
            return Float(bitPattern: sign | (exponent + 127 - 15) << 23 | mantissa << 13)
        }
    }

    static func badMagic(_ bytes: UnsafeRawBufferPointer, path: String) -> DatasetError {
        let start = bytes.prefix(6).map { String(format: "%02x", $0) }.joined(separator: " ")
        return DatasetError(path, "not an NPY file: it starts with [\(start)], not the magic \\x93NUMPY")
    }

    static func describeSize(_ bytes: Int64) -> String {
        let gib = Double(bytes) / Double(1 << 30)
        return gib == gib.rounded() ? "\(Int64(gib)) GiB" : String(format: "%.1f GiB", gib)
    }

    /// A value in the header dict: the subset of Python literals `np.save`
    /// writes (strings, True/False, integers, tuples) and lists, so that a
    /// list where a tuple belongs is named rather than a syntax error.
    enum HeaderValue: Equatable {
        case string(String)
        case bool(Bool)
        case integer(Int)
        case tuple([HeaderValue])
        case list([HeaderValue])
        case none
    }

    /// A strict parser of the header's Python dict literal. It accepts what
    /// `np.save` and the common hand-written variants hold: single or double
    /// quotes, trailing commas, Python 2 longs (`3L`), whitespace (spaces,
    /// tabs, newlines) between tokens and as padding after the dict. Anything
    /// else is a `DatasetError` naming the position.
    struct HeaderParser {
        let characters: [Character]
        let path: String
        var position = 0

        init(text: String, path: String) {
            characters = Array(text)
            self.path = path
        }

        /// The dict, keys unique, in file order; only whitespace may follow it.
        mutating func parseDict() throws -> [(key: String, value: HeaderValue)] {
            skipSpace()
            try expect("{")
            var entries: [(key: String, value: HeaderValue)] = []
            skipSpace()
            while peek != "}" {
                guard peek == "'" || peek == "\"" else { throw error("expected a quoted key or '}'") }
                let key = try parseString()
                guard !entries.contains(where: { $0.key == key }) else {
                    throw error("duplicate key '\(Self.excerpt(key))'")
                }
                skipSpace()
                try expect(":")
                let value = try parseValue(depth: 0)
                entries.append((key, value))
                skipSpace()
                if peek == "," { position += 1; skipSpace() } else if peek != "}" { throw error("expected ',' or '}'") }
            }
            position += 1
            skipSpace()
            guard position == characters.count else { throw error("unexpected text after the dict") }
            return entries
        }

        /// Nesting is bounded so that a header of thousands of `(` cannot
        /// exhaust the stack.
        mutating func parseValue(depth: Int) throws -> HeaderValue {
            guard depth < 16 else { throw error("values nested too deeply") }
            skipSpace()
            guard let c = peek else { throw error("the header ends where a value belongs") }
            switch c {
            case "'", "\"": return .string(try parseString())
            case "(", "[":
                let close: Character = c == "(" ? ")" : "]"
                position += 1
                var items: [HeaderValue] = []
                var sawComma = false
                skipSpace()
                while peek != close {
                    items.append(try parseValue(depth: depth + 1))
                    skipSpace()
                    if peek == "," { position += 1; sawComma = true; skipSpace() } else if peek != close {
                        throw error("expected ',' or '\(close)'")
                    }
                }
                position += 1
                // `(5)` is the integer 5 in Python, not a tuple: only a comma makes one.
                if close == ")" && items.count == 1 && !sawComma { return items[0] }
                return close == ")" ? .tuple(items) : .list(items)
            case "-", "0"..."9": return .integer(try parseInteger())
            default:
                var word = ""
                while let c = peek, c.isLetter || c == "_" { word.append(c); position += 1 }
                switch word {
                case "True": return .bool(true)
                case "False": return .bool(false)
                case "None": return .none
                default: throw error(word.isEmpty ? "unexpected character" : "unknown name '\(Self.excerpt(word))'")
                }
            }
        }

        mutating func parseInteger() throws -> Int {
            let start = position
            var negative = false
            if peek == "-" { negative = true; position += 1 }
            var value = 0
            var digits = 0
            while let c = peek, let digit = c.wholeNumberValue, c.isASCII {
                let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = shifted.addingReportingOverflow(digit)
                guard !o1, !o2 else { position = start; throw error("integer too large") }
                value = sum
                digits += 1
                position += 1
            }
            guard digits > 0 else { position = start; throw error("expected digits") }
            if peek == "L" { position += 1 }  // Python 2 wrote long dimensions as 3L
            return negative ? -value : value
        }

        /// A quoted string without escapes (dtype strings and keys hold none).
        mutating func parseString() throws -> String {
            let quote = characters[position]
            let start = position
            position += 1
            var text = ""
            while let c = peek, c != quote {
                guard c != "\\", c != "\n" else { position = start; throw error("unsupported string (escapes or a line break)") }
                text.append(c)
                position += 1
            }
            guard peek == quote else { position = start; throw error("unterminated string") }
            position += 1
            return text
        }

        var peek: Character? { position < characters.count ? characters[position] : nil }

        mutating func skipSpace() {
            while let c = peek, c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\r\n" { position += 1 }
        }

        mutating func expect(_ c: Character) throws {
            guard peek == c else { throw error("expected '\(c)'") }
            position += 1
        }

        func error(_ problem: String) -> DatasetError {
            let near = position < characters.count ? " near \"\(Self.excerpt(String(characters[position...])))\"" : " at its end"
            return DatasetError(path, "malformed NPY header: \(problem) at character \(position)\(near)")
        }

        /// At most 24 characters of `text`, for messages about a file's
        /// content (a header may be megabytes long).
        static func excerpt(_ text: String) -> String {
            let cleaned = String(text.prefix(24).map { $0.isASCII && ($0.isLetter || $0.isNumber || $0.isPunctuation || $0.isSymbol || $0 == " ") ? $0 : "?" })
            return text.count > 24 ? cleaned + "..." : cleaned
        }
    }
}
