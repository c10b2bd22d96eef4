import Foundation

/// A triangle mesh with optional per-vertex colours.
public struct TriangleMesh: Equatable {
    /// [V] world positions.
    public var positions: [SIMD3<Float>]
    /// [V] RGB, or empty when the mesh has no colours.
    public var colors: [SIMD3<UInt8>]
    /// [F] vertex indices, counter-clockwise seen from outside (the face
    /// normal, (b - a) x (c - a), points out of the solid).
    public var triangles: [SIMD3<UInt32>]

    public init(positions: [SIMD3<Float>] = [], colors: [SIMD3<UInt8>] = [], triangles: [SIMD3<UInt32>] = []) {
        self.positions = positions
        self.colors = colors
        self.triangles = triangles
    }

    /// What is wrong with the array shapes or indices, or nil when the mesh
    /// is consistent (colours empty or one per vertex, indices in range).
    public func shapeProblem() -> String? {
        if !colors.isEmpty && colors.count != positions.count {
            return "\(colors.count) colours for \(positions.count) vertices (expected none or one per vertex)"
        }
        if positions.count > Int(Int32.max) {
            return "\(positions.count) vertices do not fit PLY's int vertex indices"
        }
        let vertexCount = UInt32(positions.count)
        if let bad = triangles.firstIndex(where: { any($0 .>= vertexCount) }) {
            return "triangle \(bad) has vertex index \(triangles[bad].max()) but there are \(positions.count) vertices"
        }
        return nil
    }
}

/// Meshes as binary little-endian PLY, the layout MeshLab, Blender and Open3D
/// read: `element vertex V` with `property float x/y/z` (and `property uchar
/// red/green/blue` when the mesh has colours), then `element face F` with
/// `property list uchar int vertex_indices`, one 3-entry list per triangle.
public enum MeshPLY {
    /// Bytes of one face row: the uchar count (always 3) and three int32 indices.
    static let faceRowBytes = 1 + 3 * 4

    /// The header `write` emits for `vertexCount` vertices and `faceCount` faces.
    public static func header(vertexCount: Int, faceCount: Int, colors: Bool) -> String {
        var lines = ["ply", "format binary_little_endian 1.0", "comment written by splat",
                     "element vertex \(vertexCount)", "property float x", "property float y", "property float z"]
        if colors { lines += ["property uchar red", "property uchar green", "property uchar blue"] }
        lines += ["element face \(faceCount)", "property list uchar int vertex_indices", "end_header"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The file's bytes. Throws when the colours or indices disagree with the
    /// vertex count; `path` names the file in that error.
    public static func encode(_ mesh: TriangleMesh, path: String = "<mesh>") throws -> Data {
        if let problem = mesh.shapeProblem() { throw DatasetError(path, problem) }
        let hasColors = !mesh.colors.isEmpty
        let vertexStride = hasColors ? 15 : 12
        let head = Array(header(vertexCount: mesh.positions.count, faceCount: mesh.triangles.count, colors: hasColors).utf8)
        let faceStart = head.count + mesh.positions.count * vertexStride
        var data = Data(count: faceStart + mesh.triangles.count * faceRowBytes)
        data.withUnsafeMutableBytes { (out: UnsafeMutableRawBufferPointer) in
            out.copyBytes(from: head)
            // Explicit little-endian bit patterns: the bytes are the same on any host.
            for (v, p) in mesh.positions.enumerated() {
                let row = head.count + v * vertexStride
                out.storeBytes(of: p.x.bitPattern.littleEndian, toByteOffset: row, as: UInt32.self)
                out.storeBytes(of: p.y.bitPattern.littleEndian, toByteOffset: row + 4, as: UInt32.self)
                out.storeBytes(of: p.z.bitPattern.littleEndian, toByteOffset: row + 8, as: UInt32.self)
                if hasColors {
                    let c = mesh.colors[v]
                    out[row + 12] = c.x
                    out[row + 13] = c.y
                    out[row + 14] = c.z
                }
            }
            for (f, t) in mesh.triangles.enumerated() {
                let row = faceStart + f * faceRowBytes
                out[row] = 3
                // Indices are below Int32.max (checked above), so int32 holds them.
                out.storeBytes(of: t.x.littleEndian, toByteOffset: row + 1, as: UInt32.self)
                out.storeBytes(of: t.y.littleEndian, toByteOffset: row + 5, as: UInt32.self)
                out.storeBytes(of: t.z.littleEndian, toByteOffset: row + 9, as: UInt32.self)
            }
        }
        return data
    }

    /// Writes `mesh` as binary little-endian PLY, atomically (a temporary
    /// name, then a rename: a failed write leaves no file). Throws a
    /// `DatasetError` when the colours are neither empty nor one per vertex,
    /// or an index is out of range.
    public static func write(_ mesh: TriangleMesh, to path: String) throws {
        try AtomicFile.write(try encode(mesh, path: path), to: path)
    }

    /// Reads what `write` writes: binary little endian, float x/y/z, optional
    /// uchar red/green/blue, and a face element whose lists (uchar count, int
    /// or uint indices) all have 3 entries. Every problem is a `DatasetError`
    /// naming the file.
    public static func read(_ path: String) throws -> TriangleMesh {
        try decode(try RegularFile.mapped(path, kind: "mesh"), path: path)
    }

    /// Decodes the bytes of a mesh PLY; `path` names it in errors.
    public static func decode(_ data: Data, path: String) throws -> TriangleMesh {
        try data.withUnsafeBytes { try decode($0, path: path) }
    }

    // MARK: - Reading

    /// What the header says about the body.
    private struct Layout {
        var vertexCount = 0
        var hasColors = false
        var faceCount = 0
        var bodyOffset = 0
    }

    /// Headers longer than this are rejected (ours is about 250 bytes).
    private static let maxHeaderBytes = 1 << 16

    private static func decode(_ bytes: UnsafeRawBufferPointer, path: String) throws -> TriangleMesh {
        let layout = try parseHeader(bytes, path: path)
        let vertexStride = layout.hasColors ? 15 : 12
        // Counts are below Int32.max (checked in the header), so these products do not overflow.
        let vertexBytes = layout.vertexCount * vertexStride
        let bodyBytes = vertexBytes + layout.faceCount * faceRowBytes
        let available = bytes.count - layout.bodyOffset
        if available < bodyBytes {
            throw DatasetError(path, "truncated PLY: the header promises \(layout.vertexCount) vertices and \(layout.faceCount) faces (\(bodyBytes) bytes) but \(available) bytes follow it")
        }
        if available > bodyBytes {
            throw DatasetError(path, "\(available - bodyBytes) unexpected bytes after the last face")
        }
        var mesh = TriangleMesh()
        mesh.positions.reserveCapacity(layout.vertexCount)
        if layout.hasColors { mesh.colors.reserveCapacity(layout.vertexCount) }
        for v in 0..<layout.vertexCount {
            let row = layout.bodyOffset + v * vertexStride
            func float(_ offset: Int) -> Float {
                Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: row + offset, as: UInt32.self)))
            }
            mesh.positions.append(SIMD3(float(0), float(4), float(8)))
            if layout.hasColors { mesh.colors.append(SIMD3(bytes[row + 12], bytes[row + 13], bytes[row + 14])) }
        }
        mesh.triangles.reserveCapacity(layout.faceCount)
        let faceStart = layout.bodyOffset + vertexBytes
        for f in 0..<layout.faceCount {
            let row = faceStart + f * faceRowBytes
            guard bytes[row] == 3 else {
                throw DatasetError(path, "face \(f) has \(bytes[row]) vertices; only triangles are supported")
            }
            func index(_ offset: Int) -> UInt32 {
                UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: row + offset, as: UInt32.self))
            }
            let triangle = SIMD3(index(1), index(5), index(9))
            // A negative int reads as a huge UInt32, so one comparison covers both ends.
            guard !any(triangle .>= UInt32(layout.vertexCount)) else {
                throw DatasetError(path, "face \(f) has vertex indices \(triangle.x) \(triangle.y) \(triangle.z) but there are \(layout.vertexCount) vertices")
            }
            mesh.triangles.append(triangle)
        }
        return mesh
    }

    /// Accepts exactly the header shape that `write` produces (comments and
    /// `obj_info` lines aside, spelled with or without the sized type names),
    /// with the face element optional (a point cloud reads as a mesh without
    /// triangles).
    private static func parseHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws -> Layout {
        var lines: [String] = []
        var position = 0
        let limit = min(bytes.count, maxHeaderBytes)
        var bodyOffset: Int?
        while bodyOffset == nil {
            // Lines end in LF, CRLF or a lone CR (TextLines).
            guard let (range, next) = TextLines.nextCompleteLine(bytes, from: position, limit: limit) else {
                guard lines.first == "ply" else { break }  // reported as "not a PLY file" below
                if limit < bytes.count { throw DatasetError(path, "PLY header longer than \(maxHeaderBytes) bytes") }
                throw DatasetError(path, "truncated PLY header: the file ends before the end_header line")
            }
            let lineBytes = UnsafeRawBufferPointer(rebasing: bytes[range])
            if lines.isEmpty && !lineBytes.elementsEqual("ply".utf8) { break }
            let line = try GaussianPLY.headerLine(lineBytes, number: lines.count + 1, path: path)
            position = next
            lines.append(line)
            if line.split(separator: " ").first == "end_header" { bodyOffset = position }
        }
        guard lines.first == "ply", let bodyOffset else {
            throw DatasetError(path, "not a PLY file (it does not start with the line 'ply')")
        }

        // The words of every line but "ply", "end_header", comments and obj_info.
        let statements = lines.enumerated().dropFirst().dropLast().compactMap { number, line -> (Int, [String])? in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let keyword = words.first, keyword != "comment", keyword != "obj_info" else { return nil }
            return (number + 1, words)
        }
        var layout = Layout(bodyOffset: bodyOffset)
        var cursor = statements.makeIterator()
        func malformed(_ number: Int, _ words: [String], expected: String) -> DatasetError {
            DatasetError(path, "unexpected PLY header line \(number): '\(TextLines.excerpt(words.joined(separator: " "), limit: 80))' (expected \(expected))")
        }
        func count(_ words: [String], _ number: Int) throws -> Int {
            guard words.count == 3, let n = Int(words[2]), n >= 0 else {
                throw malformed(number, words, expected: "'element \(words.count > 1 ? words[1] : "NAME") COUNT'")
            }
            guard n <= Int(Int32.max) else { throw DatasetError(path, "absurd \(words[1]) count \(n)") }
            return n
        }

        guard let (formatLine, format) = cursor.next(), format.first == "format" else {
            throw DatasetError(path, "PLY header has no format line after 'ply'")
        }
        switch format.count >= 2 ? format[1] : "" {
        case "binary_little_endian": break
        case "ascii": throw DatasetError(path, "ASCII PLY is not supported; mesh PLYs are read as binary_little_endian")
        case "binary_big_endian": throw DatasetError(path, "big-endian PLY is not supported; mesh PLYs are read as binary_little_endian")
        default: throw malformed(formatLine, format, expected: "'format binary_little_endian 1.0'")
        }

        guard let (vertexLine, vertex) = cursor.next(), vertex.count >= 2, vertex[0] == "element", vertex[1] == "vertex" else {
            throw DatasetError(path, "PLY header has no vertex element after the format line")
        }
        layout.vertexCount = try count(vertex, vertexLine)
        let floatNames: Set = ["float", "float32"], ucharNames: Set = ["uchar", "uint8"]
        var next = cursor.next()
        for axis in ["x", "y", "z"] {
            guard let (_, words) = next, words.count == 3, words[0] == "property",
                  floatNames.contains(words[1]), words[2] == axis else {
                throw next.map { malformed($0.0, $0.1, expected: "'property float \(axis)'") }
                    ?? DatasetError(path, "PLY header ends before 'property float \(axis)'")
            }
            next = cursor.next()
        }
        if let (_, words) = next, words.count == 3, words[0] == "property", words[2] == "red" {
            for channel in ["red", "green", "blue"] {
                guard let (_, words) = next, words.count == 3, words[0] == "property",
                      ucharNames.contains(words[1]), words[2] == channel else {
                    throw next.map { malformed($0.0, $0.1, expected: "'property uchar \(channel)'") }
                        ?? DatasetError(path, "PLY header ends before 'property uchar \(channel)'")
                }
                next = cursor.next()
            }
            layout.hasColors = true
        }

        guard let (faceLine, face) = next else { return layout }  // no faces: a point cloud
        guard face.count >= 2, face[0] == "element", face[1] == "face" else {
            throw malformed(faceLine, face, expected: layout.hasColors ? "'element face COUNT'" : "'property uchar red' or 'element face COUNT'")
        }
        layout.faceCount = try count(face, faceLine)
        let indexNames: Set = ["int", "int32", "uint", "uint32"]
        guard let (listLine, list) = cursor.next() else {
            throw DatasetError(path, "PLY header ends before the face element's vertex_indices list")
        }
        guard list.count == 5, list[0] == "property", list[1] == "list", ucharNames.contains(list[2]),
              indexNames.contains(list[3]), list[4] == "vertex_indices" || list[4] == "vertex_index" else {
            throw malformed(listLine, list, expected: "'property list uchar int vertex_indices'")
        }
        if let (number, words) = cursor.next() {
            throw malformed(number, words, expected: "'end_header' after the face element's list")
        }
        return layout
    }
}
