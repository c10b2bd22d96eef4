import Foundation

/// Bounds-checked little-endian reads from a file's bytes: running past the
/// end is an error naming the file and what was being read, never a crash.
struct BinaryReader {
    let path: String
    let bytes: [UInt8]
    private(set) var offset = 0

    /// Reads the bytes of `data`; `path` names them in errors.
    init(data: Data, path: String) {
        self.path = path
        bytes = [UInt8](data)
    }

    /// Reads the regular file at `path`.
    init(path: String) throws {
        self.init(data: try RegularFile.read(path), path: path)
    }

    var remaining: Int { bytes.count - offset }

    /// A little-endian UInt64 count of records that each take at least
    /// `minimumSize` bytes, checked against the bytes left before anyone
    /// allocates for it (a corrupt count of 2^62 is an error, not an allocation).
    mutating func readCount(_ what: String, minimumSize: Int) throws -> Int {
        let count = try read(UInt64.self, "the number of \(what)")
        let room = remaining / minimumSize
        guard count <= UInt64(room) else {
            throw DatasetError(path, "declares \(count) \(what), but the \(remaining) bytes after the count hold at most \(room) (each takes at least \(minimumSize) bytes)")
        }
        return Int(count)
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw truncated(what()) }
        var value: T = 0
        withUnsafeMutableBytes(of: &value) { raw in
            for i in 0..<size { raw[i] = bytes[offset + i] }
        }
        offset += size
        return T(littleEndian: value)
    }

    mutating func readDouble(_ what: @autoclosure () -> String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    /// A NUL-terminated string.
    mutating func readCString(_ what: @autoclosure () -> String) throws -> String {
        guard let end = bytes[offset...].firstIndex(of: 0) else { throw truncated(what()) }
        let s = String(decoding: bytes[offset..<end], as: UTF8.self)
        offset = end + 1
        return s
    }

    mutating func skip(_ count: Int, _ what: @autoclosure () -> String) throws {
        guard count >= 0, remaining >= count else { throw truncated(what()) }
        offset += count
    }

    func truncated(_ what: String) -> DatasetError {
        DatasetError(path, "truncated: the file ends at byte \(bytes.count) while reading \(what)")
    }
}
