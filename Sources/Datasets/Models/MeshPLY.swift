import Foundation

/// A triangle mesh with optional per-vertex normals and colours.
public struct TriangleMesh: Equatable {
    /// [V] world positions.
    public var positions: [SIMD3<Float>]
    /// [V] unit normals (outward, in world axes), or empty when the mesh has
    /// no normals. Only the count is checked (`shapeProblem`): the lengths
    /// are whatever the producer wrote.
    public var normals: [SIMD3<Float>]
    /// [V] RGB, or empty when the mesh has no colours.
    public var colors: [SIMD3<UInt8>]
    /// [F] vertex indices, counter-clockwise seen from outside (the face
    /// normal, (b - a) x (c - a), points out of the solid).
    public var triangles: [SIMD3<UInt32>]

    public init(positions: [SIMD3<Float>] = [], normals: [SIMD3<Float>] = [], colors: [SIMD3<UInt8>] = [],
                triangles: [SIMD3<UInt32>] = []) {
        self.positions = positions
        self.normals = normals
        self.colors = colors
        self.triangles = triangles
    }

    /// What is wrong with the array shapes or indices, or nil when the mesh
    /// is consistent (normals and colours each empty or one per vertex,
    /// indices in range).
    public func shapeProblem() -> String? {
        if !normals.isEmpty && normals.count != positions.count {
            return "\(normals.count) normals for \(positions.count) vertices (expected none or one per vertex)"
        }
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
/// read: `element vertex V` with, in this order,
///
/// - `property float x/y/z` (the position, always),
/// - `property float nx/ny/nz` (the normal, when the mesh has normals),
/// - `property uchar red/green/blue` (the colour, when the mesh has colours),
///
/// so a vertex row is 12, 15, 24 or 27 bytes; then `element face F` with
/// `property list uchar int vertex_indices`, one 3-entry list per triangle
/// (13 bytes a row).
public enum MeshPLY {
    /// Bytes of one face row: the uchar count (always 3) and three int32 indices.
    static let faceRowBytes = 1 + 3 * 4

    /// Bytes of one vertex row: float x y z, then float nx ny nz with
    /// normals, then uchar red green blue with colours.
    static func vertexRowBytes(normals: Bool, colors: Bool) -> Int {
        12 + (normals ? 12 : 0) + (colors ? 3 : 0)
    }

    /// The header `write` emits for `vertexCount` vertices and `faceCount`
    /// faces, with the normal properties (nx ny nz, after x y z) when
    /// `normals` and the colour properties (red green blue, last) when `colors`.
    public static func header(vertexCount: Int, faceCount: Int, colors: Bool, normals: Bool = false) -> String {
        var lines = ["ply", "format binary_little_endian 1.0", "comment written by splat",
                     "element vertex \(vertexCount)", "property float x", "property float y", "property float z"]
        if normals { lines += ["property float nx", "property float ny", "property float nz"] }
        if colors { lines += ["property uchar red", "property uchar green", "property uchar blue"] }
        lines += ["element face \(faceCount)", "property list uchar int vertex_indices", "end_header"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The file's bytes. Throws when the normals, colours or indices disagree
    /// with the vertex count; `path` names the file in that error.
    public static func encode(_ mesh: TriangleMesh, path: String = "<mesh>") throws -> Data {
        if let problem = mesh.shapeProblem() { throw DatasetError(path, problem) }
        let hasNormals = !mesh.normals.isEmpty, hasColors = !mesh.colors.isEmpty
        let vertexStride = vertexRowBytes(normals: hasNormals, colors: hasColors)
        let colorOffset = hasNormals ? 24 : 12
        let head = Array(header(vertexCount: mesh.positions.count, faceCount: mesh.triangles.count,
                                colors: hasColors, normals: hasNormals).utf8)
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
                if hasNormals {
                    let n = mesh.normals[v]
                    out.storeBytes(of: n.x.bitPattern.littleEndian, toByteOffset: row + 12, as: UInt32.self)
                    out.storeBytes(of: n.y.bitPattern.littleEndian, toByteOffset: row + 16, as: UInt32.self)
                    out.storeBytes(of: n.z.bitPattern.littleEndian, toByteOffset: row + 20, as: UInt32.self)
                }
                if hasColors {
                    let c = mesh.colors[v]
                    out[row + colorOffset] = c.x
                    out[row + colorOffset + 1] = c.y
                    out[row + colorOffset + 2] = c.z
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
    /// `DatasetError` when the normals or colours are neither empty nor one
    /// per vertex, or an index is out of range.
    public static func write(_ mesh: TriangleMesh, to path: String) throws {
        try AtomicFile.write(try encode(mesh, path: path), to: path)
    }

    /// Reads what `write` writes: binary little endian, float x/y/z, optional
    /// float nx/ny/nz, optional uchar red/green/blue (in that order), and a
    /// face element whose lists (uchar count, int or uint indices) all have 3
    /// entries. Every problem is a `DatasetError` naming the file.
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
        var hasNormals = false
        var hasColors = false
        var faceCount = 0
        var bodyOffset = 0
    }

    /// Headers longer than this are rejected (ours is about 250 bytes).
    private static let maxHeaderBytes = 1 << 16

    private static func decode(_ bytes: UnsafeRawBufferPointer, path: String) throws -> TriangleMesh {
        let layout = try parseHeader(bytes, path: path)
        let vertexStride = vertexRowBytes(normals: layout.hasNormals, colors: layout.hasColors)
        let colorOffset = layout.hasNormals ? 24 : 12
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
        if layout.hasNormals { mesh.normals.reserveCapacity(layout.vertexCount) }
        if layout.hasColors { mesh.colors.reserveCapacity(layout.vertexCount) }
        for v in 0..<layout.vertexCount {
            let row = layout.bodyOffset + v * vertexStride
            func float(_ offset: Int) -> Float {
                Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: row + offset, as: UInt32.self)))
            }
            mesh.positions.append(SIMD3(float(0), float(4), float(8)))
            if layout.hasNormals { mesh.normals.append(SIMD3(float(12), float(16), float(20))) }
            if layout.hasColors {
                mesh.colors.append(SIMD3(bytes[row + colorOffset], bytes[row + colorOffset + 1], bytes[row + colorOffset + 2]))
            }
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

    /// Accepts exactly the header shapes that `write` produces (x y z, then
    /// optionally nx ny nz, then optionally red green blue; comments and
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
        // Consumes `property TYPE NAME` for each name, TYPE one of `types`
        // (spelled `typeName` in errors).
        func properties(_ names: [String], _ types: Set<String>, _ typeName: String) throws {
            for name in names {
                guard let (_, words) = next, words.count == 3, words[0] == "property",
                      types.contains(words[1]), words[2] == name else {
                    throw next.map { malformed($0.0, $0.1, expected: "'property \(typeName) \(name)'") }
                        ?? DatasetError(path, "PLY header ends before 'property \(typeName) \(name)'")
                }
                next = cursor.next()
            }
        }
        // Whether the next statement is a property called `name`.
        func nextIsProperty(_ name: String) -> Bool {
            guard let (_, words) = next else { return false }
            return words.count == 3 && words[0] == "property" && words[2] == name
        }
        try properties(["x", "y", "z"], floatNames, "float")
        if nextIsProperty("nx") {
            try properties(["nx", "ny", "nz"], floatNames, "float")
            layout.hasNormals = true
        }
        if nextIsProperty("red") {
            try properties(["red", "green", "blue"], ucharNames, "uchar")
            layout.hasColors = true
        }

        guard let (faceLine, face) = next else { return layout }  // no faces: a point cloud
        guard face.count >= 2, face[0] == "element", face[1] == "face" else {
            // What could have come here: the optional properties not yet seen, or the faces.
            let options = (layout.hasNormals || layout.hasColors ? [] : ["'property float nx'"])
                + (layout.hasColors ? [] : ["'property uchar red'"]) + ["'element face COUNT'"]
            var expected = options.count == 1 ? options[0]
                : options.dropLast().joined(separator: ", ") + " or " + options.last!
            if layout.hasColors && nextIsProperty("nx") { expected += "; the normals nx ny nz go before red green blue" }
            throw malformed(faceLine, face, expected: expected)
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
