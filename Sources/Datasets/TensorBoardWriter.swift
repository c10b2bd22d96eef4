import Foundation

/// Writes TensorBoard scalar curves (`--log-dir`): one
/// `events.out.tfevents.<unix seconds>.<host>.splat` file of TFRecord-framed
/// `tensorflow.Event` protobufs, encoded by hand (no TensorFlow or protobuf
/// dependency). Each record is flushed to the file when written, so a killed
/// run keeps its curve up to its last scalar.
public final class TensorBoardWriter {
    /// The event file's path.
    public let path: String
    private let handle: FileHandle

    /// Creates `folder` (and its parents) and a new event file in it, whose
    /// first record carries the file version "brain.Event:2".
    public init(folder: String) throws {
        let dir = folder.isEmpty ? "." : folder
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw DatasetError(folder, "cannot create the log folder: \(OutputFolder.describe(error))")
        }
        let host = ProcessInfo.processInfo.hostName.isEmpty ? "localhost" : ProcessInfo.processInfo.hostName
        let name = "events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(host).splat"
        path = (dir as NSString).appendingPathComponent(name)
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forWritingAtPath: path) else {
            throw DatasetError(path, "cannot create the TensorBoard event file")
        }
        self.handle = handle
        var event = Self.eventHeader(wallTime: Date().timeIntervalSince1970, step: 0)
        Self.appendBytesField(3, Array("brain.Event:2".utf8), to: &event)
        try write(record: event)
    }

    deinit { try? handle.close() }

    /// Appends the scalar `value` of `tag` at `step` (TensorBoard's
    /// `simple_value`, a 32-bit float).
    public func scalar(_ tag: String, _ value: Double, step: Int) throws {
        try scalars([(tag, value)], step: step)
    }

    /// Appends several scalars at `step`, one record each, and flushes once.
    public func scalars(_ values: [(String, Double)], step: Int) throws {
        var data: [UInt8] = []
        let now = Date().timeIntervalSince1970
        for (tag, value) in values {
            var event = Self.eventHeader(wallTime: now, step: step)
            var summaryValue: [UInt8] = []
            Self.appendBytesField(1, Array(tag.utf8), to: &summaryValue)
            summaryValue.append(0x15)                        // field 2, wire type 5 (fixed32)
            summaryValue += Self.littleEndian(UInt64(Float(value).bitPattern), bytes: 4)
            var summary: [UInt8] = []
            Self.appendBytesField(1, summaryValue, to: &summary)
            Self.appendBytesField(5, summary, to: &event)
            data += Self.frame(event)
        }
        try append(data)
    }

    /// Flushes and closes the file; later writes fail.
    public func close() throws {
        try handle.synchronize()
        try handle.close()
    }

    private func write(record payload: [UInt8]) throws {
        try append(Self.frame(payload))
    }

    private func append(_ bytes: [UInt8]) throws {
        do {
            try handle.write(contentsOf: Data(bytes))
        } catch {
            throw DatasetError(path, "cannot write the TensorBoard event file: \(OutputFolder.describe(error))")
        }
    }

    // MARK: Encoding

    /// One TFRecord: length (u64 LE), masked CRC-32C of the length, payload,
    /// masked CRC-32C of the payload.
    public static func frame(_ payload: [UInt8]) -> [UInt8] {
        let length = littleEndian(UInt64(payload.count), bytes: 8)
        return length + littleEndian(UInt64(maskedCRC32C(length)), bytes: 4)
            + payload + littleEndian(UInt64(maskedCRC32C(payload)), bytes: 4)
    }

    private static let crcTable: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    /// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).
    public static func crc32C<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes { crc = crcTable[Int((crc ^ UInt32(b)) & 0xff)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// TFRecord's masked CRC: rotate right by 15, plus 0xa282ead8 (wrapping).
    public static func maskCRC(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }

    public static func maskedCRC32C<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        maskCRC(crc32C(bytes))
    }

    static func littleEndian(_ value: UInt64, bytes: Int) -> [UInt8] {
        (0..<bytes).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7f) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// A length-delimited field (wire type 2): string, bytes or message.
    static func appendBytesField(_ field: UInt64, _ bytes: [UInt8], to out: inout [UInt8]) {
        appendVarint(field << 3 | 2, to: &out)
        appendVarint(UInt64(bytes.count), to: &out)
        out += bytes
    }

    /// Event fields 1 (wall_time, double) and 2 (step, int64).
    static func eventHeader(wallTime: Double, step: Int) -> [UInt8] {
        var out: [UInt8] = [0x09]                            // field 1, wire type 1 (fixed64)
        out += littleEndian(wallTime.bitPattern, bytes: 8)
        out.append(0x10)                                     // field 2, wire type 0 (varint)
        appendVarint(UInt64(bitPattern: Int64(step)), to: &out)
        return out
    }
}
