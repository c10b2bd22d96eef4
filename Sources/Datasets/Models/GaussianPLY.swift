import Foundation

#if _endian(big)
#error("GaussianPLY copies little-endian float32 rows directly and needs a little-endian host")
#endif

/// The Gaussian PLY of the original 3DGS release (docs/reference.md):
/// `binary_little_endian 1.0`, one `element vertex N`, float32 properties
/// x y z nx ny nz f_dc_0..2 f_rest_0..(3(K-1)-1) opacity scale_0..2 rot_0..3,
/// K = (degree + 1)^2; the f_rest count (0, 9, 24 or 45) gives the degree.
/// The properties and their order come from `GaussianSchema.gaussians3D`.
///
/// Reading accepts the properties in any order, float or double for the
/// required ones, and extra properties of any scalar type (skipped by size,
/// reported in one warning). The normals are optional and ignored. Other
/// elements are skipped with a warning (those before the vertices only when
/// they have no list properties). ASCII and big-endian PLYs are rejected.
/// Every problem is a `DatasetError` naming the file.
public enum GaussianPLY {
    /// Vertex counts above this are rejected as absurd (indices are 32-bit).
    public static let maxVertexCount = Int(Int32.max)
    /// Headers longer than this are rejected (3DGS's is about 1.5 KB).
    public static let maxHeaderBytes = 1 << 20

    /// Reads a 3DGS Gaussian PLY.
    public static func read(path: String) throws -> GaussianModel {
        let data = try GaussianModelFile.readFile(path)
        return try decode(data, path: path)
    }

    /// Decodes the bytes of a 3DGS Gaussian PLY; `path` names it in errors.
    public static func decode(_ data: Data, path: String) throws -> GaussianModel {
        try data.withUnsafeBytes { try decode($0, path: path) }
    }

    /// The vertex properties `write` emits, in order.
    public static func propertyNames(shDegree: Int, hasTime: Bool = false) -> [String] {
        (hasTime ? GaussianSchema.gaussians4D(shDegree: shDegree) : GaussianSchema.gaussians3D(shDegree: shDegree)).plyPropertyNames
    }

    /// The header `write` emits, exactly as the 3DGS release writes it (4D
    /// models: with the time properties after the 3DGS ones).
    public static func header(count: Int, shDegree: Int, hasTime: Bool = false) -> String {
        header(count: count, schema: hasTime ? GaussianSchema.gaussians4D(shDegree: shDegree) : GaussianSchema.gaussians3D(shDegree: shDegree))
    }

    /// The header of `schema`'s PLY row (every property float).
    public static func header(count: Int, schema: GaussianSchema) -> String {
        var lines = ["ply", "format binary_little_endian 1.0", "element vertex \(count)"]
        lines += schema.plyPropertyNames.map { "property float \($0)" }
        lines.append("end_header")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The file's bytes in the original 3DGS layout (normals written as zeros).
    /// Throws when the model's array shapes disagree.
    public static func encode(_ model: GaussianModel, path: String = "<model>") throws -> Data {
        if let problem = model.shapeProblem() { throw DatasetError(path, problem) }
        let n = model.count
        let schema = model.schema
        let names = schema.plyPropertyNames
        let stride = 4 * names.count
        let offsets = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, 4 * $0) })
        let runs = runs(of: schema) { (offsets[$0]!, false) }
        let widths = schema.groups.map(\.floatsPerGaussian)
        let head = Array(header(count: n, schema: schema).utf8)
        // Zero-filled: the unused properties (the normals) stay zero.
        var data = Data(count: head.count + n * stride)
        data.withUnsafeMutableBytes { (out: UnsafeMutableRawBufferPointer) in
            out.copyBytes(from: head)
            guard n > 0 else { return }
            let body = out.baseAddress! + head.count
            withBaseAddresses(of: model.parameterGroups) { groups in
                let copies = runs.map { (offset: $0.offset, values: groups[$0.group]! + $0.index, width: widths[$0.group], length: $0.length) }
                copies.withUnsafeBufferPointer { copies in
                    for i in 0..<n {
                        let row = body + i * stride
                        for copy in copies {
                            (row + copy.offset).copyMemory(from: copy.values + i * copy.width, byteCount: 4 * copy.length)
                        }
                    }
                }
            }
        }
        return data
    }

    /// Writes `model` in the original 3DGS layout, atomically (a temporary
    /// name, then a rename: a failed write leaves no file). Values are written
    /// as they are; only inconsistent array shapes are refused.
    public static func write(_ model: GaussianModel, to path: String) throws {
        try AtomicFile.write(try encode(model, path: path), to: path)
    }

    // MARK: - Header

    private enum Scalar: String {
        case char, uchar, short, ushort, int, uint, float, double

        init?(plyName: String) {
            switch plyName {
            case "char", "int8": self = .char
            case "uchar", "uint8": self = .uchar
            case "short", "int16": self = .short
            case "ushort", "uint16": self = .ushort
            case "int", "int32": self = .int
            case "uint", "uint32": self = .uint
            case "float", "float32": self = .float
            case "double", "float64": self = .double
            default: return nil
            }
        }

        var size: Int {
            switch self {
            case .char, .uchar: return 1
            case .short, .ushort: return 2
            case .int, .uint, .float: return 4
            case .double: return 8
            }
        }
    }

    private struct Property {
        var name: String
        var type: Scalar?  // nil for a list property
        var offset: Int  // bytes from the start of the row (meaningful when the element has no lists)
    }

    private struct Element {
        var name: String
        var count: Int
        var properties: [Property] = []
        var hasList = false
        var stride = 0
    }

    private struct Header {
        var elements: [Element]
        var bodyOffset: Int
    }

    private static func parseHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws -> Header {
        let ply = Array("ply".utf8)
        guard bytes.count >= 3, bytes[0] == ply[0], bytes[1] == ply[1], bytes[2] == ply[2],
              bytes.count == 3 || bytes[3] == UInt8(ascii: "\n") || bytes[3] == UInt8(ascii: "\r")
        else {
            throw DatasetError(path, "not a PLY file (it does not start with the line 'ply')")
        }
        let limit = min(bytes.count, maxHeaderBytes)
        var position = 0
        var lineNumber = 0
        var elements: [Element] = []
        var sawFormat = false
        while true {
            // Lines end in LF, CRLF or a lone CR (TextLines).
            guard let (range, next) = TextLines.nextCompleteLine(bytes, from: position, limit: limit) else {
                if limit < bytes.count {
                    throw DatasetError(path, "PLY header longer than \(maxHeaderBytes) bytes (no end_header line)")
                }
                throw DatasetError(path, "truncated PLY header: the file ends before the end_header line")
            }
            lineNumber += 1
            let line = try headerLine(UnsafeRawBufferPointer(rebasing: bytes[range]), number: lineNumber, path: path)
            position = next
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if lineNumber == 1 { continue }  // "ply", checked above
            guard let keyword = words.first else { continue }
            switch keyword {
            case "end_header":
                guard sawFormat else { throw DatasetError(path, "PLY header has no format line") }
                return Header(elements: elements, bodyOffset: position)
            case "comment", "obj_info":
                continue
            case "format":
                guard words.count >= 2 else { throw malformed(path, lineNumber, line) }
                switch words[1] {
                case "binary_little_endian":
                    sawFormat = true
                case "ascii":
                    throw DatasetError(path, "ASCII PLY is not supported; splat reads binary_little_endian PLYs (the 3DGS layout)")
                case "binary_big_endian":
                    throw DatasetError(path, "big-endian PLY is not supported; splat reads binary_little_endian PLYs (the 3DGS layout)")
                default:
                    throw DatasetError(path, "unknown PLY format '\(words[1])'")
                }
            case "element":
                guard words.count == 3 else { throw malformed(path, lineNumber, line) }
                let count = try parseCount(words[2], element: words[1], path: path)
                elements.append(Element(name: words[1], count: count))
            case "property":
                guard !elements.isEmpty else {
                    throw DatasetError(path, "PLY header line \(lineNumber): property before any element")
                }
                if words.count == 5, words[1] == "list" {
                    guard Scalar(plyName: words[2]) != nil, Scalar(plyName: words[3]) != nil else {
                        throw malformed(path, lineNumber, line)
                    }
                    elements[elements.count - 1].properties.append(Property(name: words[4], type: nil, offset: 0))
                    elements[elements.count - 1].hasList = true
                } else if words.count == 3, let type = Scalar(plyName: words[1]) {
                    let element = elements[elements.count - 1]
                    elements[elements.count - 1].properties.append(Property(name: words[2], type: type, offset: element.stride))
                    elements[elements.count - 1].stride += type.size
                } else {
                    throw malformed(path, lineNumber, line)
                }
            default:
                throw malformed(path, lineNumber, line)
            }
        }
    }

    private static func malformed(_ path: String, _ lineNumber: Int, _ line: String) -> DatasetError {
        DatasetError(path, "malformed PLY header line \(lineNumber): '\(TextLines.excerpt(line, limit: 80))'")
    }

    /// The text of header line `number`, or an error quoting an escaped
    /// excerpt of it when it is not text (a binary body reached too early,
    /// or not a PLY at all): raw bytes are never printed.
    static func headerLine(_ bytes: UnsafeRawBufferPointer, number: Int, path: String) throws -> String {
        guard let text = String(bytes: bytes, encoding: .utf8),
              !text.unicodeScalars.contains(where: { ($0.value < 0x20 && $0 != "\t") || $0.value == 0x7F }) else {
            throw DatasetError(path, "PLY header line \(number) is not text: '\(TextLines.excerpt(bytes: bytes))' (\(bytes.count) bytes)")
        }
        return text
    }

    private static func parseCount(_ word: String, element: String, path: String) throws -> Int {
        if let count = Int(word) {
            guard count >= 0 else { throw DatasetError(path, "element \(element) has a negative count (\(count))") }
            if element == "vertex", count > maxVertexCount {
                throw DatasetError(path, "absurd vertex count \(count) (more than \(maxVertexCount))")
            }
            return count
        }
        if !word.isEmpty, word.allSatisfy({ $0.isASCII && $0.isNumber }) {
            throw DatasetError(path, "absurd \(element) count \(word) (too large for a 64-bit integer)")
        }
        throw DatasetError(path, "element \(element) count '\(word)' is not a number")
    }

    // MARK: - Body

    /// Properties that lie next to each other both in a PLY row and in a
    /// parameter group (the whole f_rest block, for instance): `length`
    /// values from byte `offset` of the row, values `index...` of the
    /// Gaussian's row of `schema.groups[group]`. Each is one copy per row.
    private struct Run {
        var offset: Int
        var group: Int
        var index: Int
        var length: Int
        var double: Bool  // a double property (length 1), converted to float when read
    }

    /// The runs of `schema`'s groups, given each property's byte offset in
    /// the row and whether it is a double.
    private static func runs(of schema: GaussianSchema, _ property: (String) -> (offset: Int, double: Bool)) -> [Run] {
        var runs: [Run] = []
        for (group, parameters) in schema.groups.enumerated() {
            for (index, name) in parameters.plyProperties.enumerated() {
                let (offset, double) = property(name)
                if !double, let last = runs.last, !last.double, last.group == group,
                   last.index + last.length == index, last.offset + 4 * last.length == offset {
                    runs[runs.count - 1].length += 1
                } else {
                    runs.append(Run(offset: offset, group: group, index: index, length: 1, double: double))
                }
            }
        }
        return runs
    }

    /// A run resolved to its destination: element `index` of Gaussian 0.
    private struct Copy {
        var source: Int
        var destination: UnsafeMutablePointer<Float>
        var destinationStride: Int  // floats per Gaussian in that array
        var length: Int
        var double: Bool
    }

    /// Calls `body` with the base address of every array (nil for an empty
    /// one), all valid at once, so that each row is copied in one pass.
    private static func withBaseAddresses(of arrays: [[Float]], _ body: ([UnsafePointer<Float>?]) -> Void) {
        func visit(_ k: Int, _ addresses: [UnsafePointer<Float>?]) {
            guard k < arrays.count else { return body(addresses) }
            arrays[k].withUnsafeBufferPointer { visit(k + 1, addresses + [$0.baseAddress]) }
        }
        visit(0, [])
    }

    /// The same with mutable addresses, for filling the arrays. Each array
    /// is moved out of `arrays` while its address is in use, so that it
    /// stays uniquely referenced and is not copied.
    private static func withBaseAddresses(of arrays: inout [[Float]], _ body: ([UnsafeMutablePointer<Float>?]) -> Void) {
        func visit(_ k: Int, _ addresses: [UnsafeMutablePointer<Float>?]) {
            guard k < arrays.count else { return body(addresses) }
            var array: [Float] = []
            swap(&array, &arrays[k])
            array.withUnsafeMutableBufferPointer { visit(k + 1, addresses + [$0.baseAddress]) }
            swap(&array, &arrays[k])
        }
        visit(0, [])
    }

    private static func decode(_ bytes: UnsafeRawBufferPointer, path: String) throws -> GaussianModel {
        let header = try parseHeader(bytes, path: path)
        guard let vertexIndex = header.elements.firstIndex(where: { $0.name == "vertex" }) else {
            throw DatasetError(path, "PLY has no 'element vertex'")
        }
        var offset = header.bodyOffset
        for element in header.elements[..<vertexIndex] {
            guard !element.hasList else {
                throw DatasetError(path, "cannot skip element '\(element.name)' before the vertices: it has list properties")
            }
            let (size, overflow) = element.count.multipliedReportingOverflow(by: element.stride)
            guard !overflow, size <= bytes.count - offset else {
                throw DatasetError(path, "truncated PLY body: element '\(element.name)' (\(element.count) x \(element.stride) bytes) does not fit in the file")
            }
            offset += size
        }
        let vertex = header.elements[vertexIndex]
        var byName: [String: Property] = [:]
        for property in vertex.properties {
            guard byName[property.name] == nil else {
                throw DatasetError(path, "vertex property '\(property.name)' appears twice")
            }
            byName[property.name] = property
        }
        if let list = vertex.properties.first(where: { $0.type == nil }) {
            throw DatasetError(path, "vertex property '\(list.name)' is a list; Gaussian PLYs have scalar properties only")
        }

        // The degree, from the f_rest_ properties.
        let restCount = vertex.properties.filter { isRestName($0.name) }.count
        guard let degree = GaussianModel.degree(restCount: restCount) else {
            throw DatasetError(path, "has \(restCount) f_rest_ properties; a 3DGS PLY has 0, 9, 24 or 45 (SH degree 0 to 3)")
        }

        // 4D first: any time property makes this a 4D file, which then needs
        // all of them (never a 3D model with extra properties).
        let hasTime = GaussianSchema.timeProperties.contains { byName[$0] != nil }
        // 2D image-plane Gaussians likewise, by their Cholesky factor.
        let image2D = !hasTime && GaussianSchema.image2DProperties.contains { byName[$0] != nil }
        // The groups' properties are required (named in file order), the unused ones optional.
        let schema = image2D ? GaussianSchema.image2D
            : hasTime ? GaussianSchema.gaussians4D(shDegree: degree) : GaussianSchema.gaussians3D(shDegree: degree)
        let required = schema.groupsInPLYOrder.flatMap(\.plyProperties)
        let missing = required.filter { byName[$0] == nil }
        guard missing.isEmpty else {
            throw DatasetError(path, "missing required vertex propert\(missing.count == 1 ? "y" : "ies") \(missing.joined(separator: ", "))"
                               + (hasTime ? " (it has time properties, so it is read as 4D Gaussians, which need \(GaussianSchema.timeProperties.joined(separator: ", ")))" : "")
                               + (image2D ? " (it has Cholesky properties, so it is read as 2D image Gaussians)" : ""))
        }
        for name in required {
            let type = byName[name]!.type!
            guard type == .float || type == .double else {
                throw DatasetError(path, "vertex property \(name) is \(type.rawValue); expected float (or double)")
            }
        }
        // The size check comes before any allocation.
        let n = vertex.count
        let stride = vertex.stride
        let available = bytes.count - offset
        let (needed, overflow) = n.multipliedReportingOverflow(by: stride)
        guard !overflow, needed <= available else {
            throw DatasetError(path, "truncated PLY body: \(n) vertices of \(stride) bytes need \(overflow ? "more than \(Int.max)" : "\(needed)") bytes after the header, the file holds \(available)")
        }

        // Warnings only for a file that is otherwise readable.
        let known = Set(schema.plyPropertyNames)
        let extras = vertex.properties.map(\.name).filter { !known.contains($0) }
        if !extras.isEmpty {
            let shown = extras.prefix(20).joined(separator: ", ") + (extras.count > 20 ? ", ... (\(extras.count) in all)" : "")
            Diagnostics.warn("\(path): ignoring \(extras.count) extra vertex propert\(extras.count == 1 ? "y" : "ies"): \(shown)")
        }
        let others = header.elements.enumerated().filter { $0.offset != vertexIndex }.map { $0.element.name }
        if !others.isEmpty {
            Diagnostics.warn("\(path): ignoring PLY element\(others.count == 1 ? "" : "s") \(others.joined(separator: ", "))")
        }
        if vertexIndex == header.elements.count - 1, available > needed {
            Diagnostics.warn("\(path): ignoring \(available - needed) bytes after the last vertex")
        }

        var groups = schema.groups.map { [Float](repeating: 0, count: n * $0.floatsPerGaussian) }
        if n > 0 {
            let runs = runs(of: schema) { (byName[$0]!.offset, byName[$0]!.type == .double) }
            let widths = schema.groups.map(\.floatsPerGaussian)
            let rows = bytes.baseAddress! + offset
            withBaseAddresses(of: &groups) { bases in
                let copies = runs.map { run in
                    Copy(source: run.offset, destination: bases[run.group]! + run.index,
                         destinationStride: widths[run.group], length: run.length, double: run.double)
                }
                copyRows(rows, count: n, stride: stride, copies: copies)
            }
        }
        let model = GaussianModel(shDegree: degree, parameterGroups: groups, hasTime: hasTime, image2D: image2D)
        if let bad = model.firstNonFinite() {
            throw DatasetError(path, "vertex \(bad.index): property \(bad.property) is \(bad.value) (NaN and infinity are not allowed)")
        }
        return model
    }

    private static func copyRows(_ rows: UnsafeRawPointer, count n: Int, stride: Int, copies: [Copy]) {
        copies.withUnsafeBufferPointer { copies in
            for i in 0..<n {
                let row = rows + i * stride
                for run in copies {
                    let destination = run.destination + i * run.destinationStride
                    if run.double {
                        let bits = UInt64(littleEndian: row.loadUnaligned(fromByteOffset: run.source, as: UInt64.self))
                        destination.pointee = Float(Double(bitPattern: bits))
                    } else {
                        UnsafeMutableRawPointer(destination).copyMemory(from: row + run.source, byteCount: 4 * run.length)
                    }
                }
            }
        }
    }

    /// "f_rest_<decimal index>" without leading zeros.
    private static func isRestName(_ name: String) -> Bool {
        guard name.hasPrefix("f_rest_") else { return false }
        let suffix = name.dropFirst(7)
        guard let index = Int(suffix), index >= 0 else { return false }
        return String(index) == suffix
    }
}
