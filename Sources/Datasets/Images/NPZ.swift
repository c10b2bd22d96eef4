import Foundation

/// NumPy's `.npz`: a zip archive of `.npy` files, one per array, named
/// `KEY.npy`. Only what `np.savez` writes is read: stored (uncompressed)
/// entries, with or without zip64 fields (NumPy writes zip64 local headers
/// for every entry). `np.savez_compressed` deflates its entries; those are
/// refused with a message saying so, since splat carries no inflater.
///
/// Every offset and size is checked against the file before it is used and
/// every entry's CRC-32 is verified, so a truncated or corrupt archive is a
/// `DatasetError` naming the file, never a crash or silently wrong numbers.
public enum NPZ {
    /// The largest file `read` accepts (it is read whole into memory).
    public static let maximumFileSize = 1 << 30

    /// The arrays of the `.npz` at `path`, by key (the entry's name without
    /// `.npy`). An array's own errors name the file and the key.
    public static func read(path: String) throws -> [String: NPY.NPYArray] {
        try decode(try RegularFile.read(path, limit: maximumFileSize), path: path)
    }

    /// The arrays of an `.npz` held in memory (`path` names it in errors).
    public static func decode(_ data: Data, path: String) throws -> [String: NPY.NPYArray] {
        var arrays: [String: NPY.NPYArray] = [:]
        for (name, bytes) in try ZipArchive.storedEntries(data, path: path) {
            // np.savez names every entry KEY.npy; other members are not arrays.
            guard name.hasSuffix(".npy") else { continue }
            let key = String(name.dropLast(4))
            do {
                arrays[key] = try NPY.decode(bytes, path: path)
            } catch let error as DatasetError {
                throw DatasetError(path, "array '\(key)': \(error.problem)")
            }
        }
        return arrays
    }
}

/// A minimal reader of zip archives whose entries are stored (method 0),
/// enough for `.npz`. It walks the central directory (the authoritative list;
/// local headers may carry zip64 placeholders for their sizes) and takes each
/// entry's data from behind its local header.
enum ZipArchive {
    /// Every entry's name and bytes, in central-directory order.
    static func storedEntries(_ data: Data, path: String) throws -> [(name: String, data: Data)] {
        let bytes = [UInt8](data)
        let reader = Reader(bytes: bytes, path: path)
        let directory = try reader.centralDirectory()
        var entries: [(name: String, data: Data)] = []
        var names = Set<String>()
        var offset = directory.offset
        for index in 0..<directory.count {
            guard try reader.u32(offset, "central directory entry \(index)") == 0x0201_4b50 else {
                throw reader.corrupt("central directory entry \(index) at byte \(offset) has a bad signature")
            }
            let flags = try reader.u16(offset + 8, "entry header")
            let method = try reader.u16(offset + 10, "entry header")
            let crc = try reader.u32(offset + 16, "entry header")
            var compressedSize = UInt64(try reader.u32(offset + 20, "entry header"))
            var size = UInt64(try reader.u32(offset + 24, "entry header"))
            let nameLength = Int(try reader.u16(offset + 28, "entry header"))
            let extraLength = Int(try reader.u16(offset + 30, "entry header"))
            let commentLength = Int(try reader.u16(offset + 32, "entry header"))
            var localOffset = UInt64(try reader.u32(offset + 42, "entry header"))
            let nameBytes = try reader.slice(offset + 46, nameLength, "entry name")
            let name = String(decoding: nameBytes, as: UTF8.self)
            let shown = NPY.HeaderParser.excerpt(name)
            // Sizes and offsets too large for 32 bits live in the zip64 extra
            // field (id 1), in this order, only for those set to 0xffffffff.
            let extra = try reader.slice(offset + 46 + nameLength, extraLength, "entry '\(shown)' extra field")
            if size == 0xffff_ffff || compressedSize == 0xffff_ffff || localOffset == 0xffff_ffff {
                guard var fields = zip64Fields(extra) else {
                    throw reader.corrupt("entry '\(shown)' declares zip64 sizes but has no zip64 extra field")
                }
                func next() throws -> UInt64 {
                    guard !fields.isEmpty else { throw reader.corrupt("entry '\(shown)' has a short zip64 extra field") }
                    return fields.removeFirst()
                }
                if size == 0xffff_ffff { size = try next() }
                if compressedSize == 0xffff_ffff { compressedSize = try next() }
                if localOffset == 0xffff_ffff { localOffset = try next() }
            }
            guard flags & 1 == 0 else { throw DatasetError(path, "entry '\(shown)' is encrypted, which is not supported") }
            switch method {
            case 0: break
            case 8:
                throw DatasetError(path, "entry '\(shown)' is deflated (np.savez_compressed); only stored entries are read: save with np.savez")
            default:
                throw DatasetError(path, "entry '\(shown)' uses zip compression method \(method); only stored entries (method 0, np.savez) are read")
            }
            guard compressedSize == size else {
                throw reader.corrupt("stored entry '\(shown)' has compressed size \(compressedSize) but size \(size)")
            }
            guard localOffset < UInt64(bytes.count), size <= UInt64(bytes.count) else {
                throw reader.truncated("entry '\(shown)' lies beyond the end of the file")
            }
            let local = Int(localOffset)
            guard try reader.u32(local, "entry '\(shown)' local header") == 0x0403_4b50 else {
                throw reader.corrupt("entry '\(shown)' has a bad local header signature at byte \(local)")
            }
            let localName = Int(try reader.u16(local + 26, "entry '\(shown)' local header"))
            let localExtra = Int(try reader.u16(local + 28, "entry '\(shown)' local header"))
            let content = try reader.slice(local + 30 + localName + localExtra, Int(size), "entry '\(shown)' data")
            guard crc32(content) == crc else {
                throw reader.corrupt("entry '\(shown)' fails its CRC-32 check")
            }
            guard names.insert(name).inserted else { throw reader.corrupt("entry '\(shown)' appears twice") }
            entries.append((name, Data(content)))
            offset += 46 + nameLength + extraLength + commentLength
        }
        return entries
    }

    /// The values of a zip64 extended-information field (header id 1) in an
    /// extra block, or nil when there is none.
    static func zip64Fields(_ extra: ArraySlice<UInt8>) -> [UInt64]? {
        var i = extra.startIndex
        while extra.endIndex - i >= 4 {
            let id = Int(extra[i]) | Int(extra[i + 1]) << 8
            let length = Int(extra[i + 2]) | Int(extra[i + 3]) << 8
            guard extra.endIndex - (i + 4) >= length else { return nil }
            if id == 1 {
                return stride(from: 0, to: length - 7, by: 8).map { k in
                    (0..<8).reduce(UInt64(0)) { $0 | UInt64(extra[i + 4 + k + $1]) << (8 * UInt64($1)) }
                }
            }
            i += 4 + length
        }
        return nil
    }

    static let crcTable: [UInt32] = (0..<256).map { n in
        (0..<8).reduce(UInt32(n)) { c, _ in c & 1 != 0 ? 0xedb8_8320 ^ (c >> 1) : c >> 1 }
    }

    /// CRC-32 (ISO-HDLC, as zip and PNG use).
    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xffff_ffff
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xff)] ^ (c >> 8) }
        return c ^ 0xffff_ffff
    }

    /// Bounds-checked little-endian reads; every failure names the file.
    struct Reader {
        let bytes: [UInt8]
        let path: String

        func truncated(_ what: String) -> DatasetError {
            DatasetError(path, "truncated or corrupt zip (npz): \(what)")
        }

        func corrupt(_ what: String) -> DatasetError {
            DatasetError(path, "corrupt zip (npz): \(what)")
        }

        func slice(_ offset: Int, _ count: Int, _ what: String) throws -> ArraySlice<UInt8> {
            guard offset >= 0, count >= 0, offset <= bytes.count, count <= bytes.count - offset else {
                throw truncated("\(what) runs past the end of the file")
            }
            return bytes[offset ..< offset + count]
        }

        func u16(_ offset: Int, _ what: String) throws -> UInt16 {
            let s = try slice(offset, 2, what)
            return UInt16(s[offset]) | UInt16(s[offset + 1]) << 8
        }

        func u32(_ offset: Int, _ what: String) throws -> UInt32 {
            let s = try slice(offset, 4, what)
            return (0..<4).reduce(UInt32(0)) { $0 | UInt32(s[offset + $1]) << (8 * UInt32($1)) }
        }

        func u64(_ offset: Int, _ what: String) throws -> UInt64 {
            let s = try slice(offset, 8, what)
            return (0..<8).reduce(UInt64(0)) { $0 | UInt64(s[offset + $1]) << (8 * UInt64($1)) }
        }

        /// Where the central directory starts and how many entries it holds,
        /// from the end-of-central-directory record (searched backwards over
        /// the largest possible archive comment) and, when its fields are
        /// saturated, the zip64 record it points to.
        func centralDirectory() throws -> (offset: Int, count: Int) {
            let signature: [UInt8] = [0x50, 0x4b, 0x05, 0x06]
            guard bytes.count >= 22 else { throw truncated("\(bytes.count) bytes is too short for a zip archive") }
            let lowest = max(0, bytes.count - 22 - 0xffff)
            guard let end = stride(from: bytes.count - 22, through: lowest, by: -1).first(where: {
                bytes[$0] == signature[0] && bytes[$0 + 1] == signature[1] && bytes[$0 + 2] == signature[2] && bytes[$0 + 3] == signature[3]
            }) else {
                throw truncated("no end-of-central-directory record (not a zip file, or cut short)")
            }
            var count = UInt64(try u16(end + 10, "end record"))
            var size = UInt64(try u32(end + 12, "end record"))
            var offset = UInt64(try u32(end + 16, "end record"))
            var limit = end
            if count == 0xffff || size == 0xffff_ffff || offset == 0xffff_ffff {
                guard end >= 20, try u32(end - 20, "zip64 locator") == 0x0706_4b50 else {
                    throw corrupt("the end record's fields are saturated but no zip64 locator precedes it")
                }
                let record64 = try u64(end - 12, "zip64 locator")
                guard record64 < UInt64(end), try u32(Int(record64), "zip64 end record") == 0x0606_4b50 else {
                    throw corrupt("the zip64 end record is missing or misplaced")
                }
                count = try u64(Int(record64) + 32, "zip64 end record")
                size = try u64(Int(record64) + 40, "zip64 end record")
                offset = try u64(Int(record64) + 48, "zip64 end record")
                limit = Int(record64)
            }
            guard offset <= UInt64(limit), size <= UInt64(limit) - offset else {
                throw truncated("the central directory (\(size) bytes at byte \(offset)) lies beyond the end record at byte \(limit)")
            }
            // Each entry takes at least 46 bytes: a larger count is a lie
            // that would otherwise drive a long loop.
            guard count <= size / 46 else {
                throw corrupt("the end record declares \(count) entries in a \(size)-byte central directory")
            }
            return (Int(offset), Int(count))
        }
    }
}
