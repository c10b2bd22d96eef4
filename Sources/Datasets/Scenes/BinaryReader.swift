import Foundation

/// Bounds-checked little-endian reads from a file's bytes: running past the
/// end is an error naming the file and what was being read, never a crash.
struct BinaryReader {
    let path: String
    let bytes: [UInt8]
    private(set) var offset = 0

    init(path: String) throws {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DatasetError(path, "cannot read the file")
        }
        bytes = [UInt8](data)
    }

    var remaining: Int { bytes.count - offset }

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
