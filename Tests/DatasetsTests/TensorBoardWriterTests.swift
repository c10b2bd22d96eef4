import Foundation
import XCTest
@testable import Datasets

/// One decoded `tensorflow.Event`: the fields `TensorBoardWriter` writes.
struct DecodedEvent {
    var wallTime: Double?
    var step: Int64 = 0
    var fileVersion: String?
    var values: [(tag: String, value: Float)] = []
}

/// A tiny protobuf reader: (field, wire type, varint value or bytes).
private func protobufFields(_ bytes: [UInt8]) throws -> [(field: UInt64, wire: UInt8, varint: UInt64, data: [UInt8])] {
    var fields: [(UInt64, UInt8, UInt64, [UInt8])] = []
    var i = 0
    func varint() throws -> UInt64 {
        var value: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard i < bytes.count, shift < 64 else { throw DatasetError("protobuf", "truncated varint") }
            let b = bytes[i]; i += 1
            value |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return value }
            shift += 7
        }
    }
    func take(_ n: Int) throws -> [UInt8] {
        guard n >= 0, i + n <= bytes.count else { throw DatasetError("protobuf", "truncated field") }
        defer { i += n }
        return Array(bytes[i..<i + n])
    }
    while i < bytes.count {
        let key = try varint()
        let wire = UInt8(key & 7), field = key >> 3
        switch wire {
        case 0: fields.append((field, wire, try varint(), []))
        case 1: fields.append((field, wire, 0, try take(8)))
        case 2: fields.append((field, wire, 0, try take(Int(try varint()))))
        case 5: fields.append((field, wire, 0, try take(4)))
        default: throw DatasetError("protobuf", "wire type \(wire)")
        }
    }
    return fields
}

private func littleEndian(_ bytes: [UInt8]) -> UInt64 {
    bytes.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
}

/// The TFRecord payloads of an event file, every length and CRC checked.
func tfRecords(_ data: [UInt8]) throws -> [[UInt8]] {
    var records: [[UInt8]] = []
    var i = 0
    while i < data.count {
        guard i + 12 <= data.count else { throw DatasetError("tfrecord", "truncated header at \(i)") }
        let lengthBytes = Array(data[i..<i + 8])
        let length = Int(littleEndian(lengthBytes))
        guard UInt32(littleEndian(Array(data[i + 8..<i + 12]))) == TensorBoardWriter.maskedCRC32C(lengthBytes) else {
            throw DatasetError("tfrecord", "bad length CRC at \(i)")
        }
        guard i + 12 + length + 4 <= data.count else { throw DatasetError("tfrecord", "truncated record at \(i)") }
        let payload = Array(data[i + 12..<i + 12 + length])
        guard UInt32(littleEndian(Array(data[i + 12 + length..<i + 16 + length]))) == TensorBoardWriter.maskedCRC32C(payload) else {
            throw DatasetError("tfrecord", "bad payload CRC at \(i)")
        }
        records.append(payload)
        i += 16 + length
    }
    return records
}

func decodeEvent(_ payload: [UInt8]) throws -> DecodedEvent {
    var event = DecodedEvent()
    for f in try protobufFields(payload) {
        switch (f.field, f.wire) {
        case (1, 1): event.wallTime = Double(bitPattern: littleEndian(f.data))
        case (2, 0): event.step = Int64(bitPattern: f.varint)
        case (3, 2): event.fileVersion = String(decoding: f.data, as: UTF8.self)
        case (5, 2):
            for v in try protobufFields(f.data) where v.field == 1 && v.wire == 2 {
                var tag = "", value = Float.nan
                for g in try protobufFields(v.data) {
                    if g.field == 1 && g.wire == 2 { tag = String(decoding: g.data, as: UTF8.self) }
                    if g.field == 2 && g.wire == 5 { value = Float(bitPattern: UInt32(littleEndian(g.data))) }
                }
                event.values.append((tag, value))
            }
        default: XCTFail("unexpected Event field \(f.field) (wire type \(f.wire))")
        }
    }
    return event
}

final class TensorBoardWriterTests: XCTestCase {
    func testCRC32CGoldenValues() {
        XCTAssertEqual(TensorBoardWriter.crc32C(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(TensorBoardWriter.crc32C([UInt8]()), 0)
        // RFC 3720 (iSCSI), B.4: 32 bytes of zeros, and of 0xff.
        XCTAssertEqual(TensorBoardWriter.crc32C([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(TensorBoardWriter.crc32C([UInt8](repeating: 0xff, count: 32)), 0x62A8_AB43)
    }

    func testMaskedCRC() {
        XCTAssertEqual(TensorBoardWriter.maskCRC(0), 0xA282_EAD8)
        XCTAssertEqual(TensorBoardWriter.maskCRC(0xE306_9283), 0xC78A_B0E5)
        XCTAssertEqual(TensorBoardWriter.maskedCRC32C(Array("123456789".utf8)), 0xC78A_B0E5)
    }

    func testFrameLayout() {
        let frame = TensorBoardWriter.frame([1, 2, 3])
        XCTAssertEqual(frame.count, 8 + 4 + 3 + 4)
        XCTAssertEqual(Array(frame[0..<8]), [3, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(Array(frame[12..<15]), [1, 2, 3])
    }

    func testWrittenFileParsesBack() throws {
        let dir = NSTemporaryDirectory() + "splat-tb-\(UUID().uuidString)/logs"
        defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        let before = Date().timeIntervalSince1970
        let writer = try TensorBoardWriter(folder: dir)
        try writer.scalar("train/loss", 0.25, step: 1)
        try writer.scalars([("train/psnr", 21.5), ("gaussians/count", 123_456)], step: 300)
        try writer.scalar("train/loss", -1.5, step: 1 << 40)
        // Each write is in the file already (a killed run keeps its curve).
        let early = try tfRecords(Array(try Data(contentsOf: URL(fileURLWithPath: writer.path))))
        XCTAssertEqual(early.count, 5)
        try writer.close()

        let name = (writer.path as NSString).lastPathComponent
        XCTAssertTrue(name.hasPrefix("events.out.tfevents."), name)
        XCTAssertTrue(name.hasSuffix(".splat"), name)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [name])

        let events = try tfRecords(Array(try Data(contentsOf: URL(fileURLWithPath: writer.path)))).map(decodeEvent)
        XCTAssertEqual(events.count, 5)
        XCTAssertEqual(events[0].fileVersion, "brain.Event:2")
        XCTAssertTrue(events[0].values.isEmpty)
        for e in events {
            let t = try XCTUnwrap(e.wallTime)
            XCTAssertGreaterThanOrEqual(t, before - 1)
            XCTAssertLessThanOrEqual(t, Date().timeIntervalSince1970 + 1)
        }
        XCTAssertTrue(events.dropFirst().allSatisfy { $0.fileVersion == nil && $0.values.count == 1 })
        let scalars = events.dropFirst().map { ($0.step, $0.values[0].tag, $0.values[0].value) }
        XCTAssertEqual(scalars.map(\.0), [1, 300, 300, 1 << 40])
        XCTAssertEqual(scalars.map(\.1), ["train/loss", "train/psnr", "gaussians/count", "train/loss"])
        XCTAssertEqual(scalars.map(\.2), [0.25, 21.5, 123_456, -1.5])
    }

    func testUnwritableFolderIsNamed() throws {
        let file = NSTemporaryDirectory() + "splat-tb-file-\(UUID().uuidString)"
        XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: file) }
        XCTAssertThrowsError(try TensorBoardWriter(folder: file + "/logs")) { error in
            XCTAssertTrue("\(error)".contains(file), "\(error)")
        }
    }
}
