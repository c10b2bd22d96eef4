import Foundation

/// NumPy's `.npy` format, version 1.0, for float32 arrays (what `np.load`
/// reads): the magic `\x93NUMPY`, version bytes 1 and 0, a little-endian
/// uint16 header length, then the header, a Python dict literal
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (H, W), }` padded with
/// spaces and ended by a newline so that magic + version + length + header
/// is a multiple of 64 bytes, then the values, C order, little-endian float32.
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
}
