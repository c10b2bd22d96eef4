import Datasets
@testable import Fields
import Foundation
import Geometry
import XCTest

/// Marching cubes on analytic fields (sphere, torus), on random fields and on
/// every configuration of one and two cubes, and the mesh PLY round trip.
/// CPU only.
final class MarchingCubesTests: XCTestCase {
    var folder: URL!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("splat-meshes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: folder)
    }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    // MARK: - Helpers

    /// [nz, ny, nx] f32, x fastest: `field` at origin + spacing * (i, j, k)
    /// (evaluated in double precision).
    func sample(_ size: SIMD3<Int>, origin: SIMD3<Float>, spacing: SIMD3<Float>, _ field: (Vector3) -> Double) -> [Float] {
        var values: [Float] = []
        values.reserveCapacity(size.x * size.y * size.z)
        for k in 0..<size.z {
            for j in 0..<size.y {
                for i in 0..<size.x { values.append(Float(field(Vector3(origin) + Vector3(spacing) * Vector3(Double(i), Double(j), Double(k))))) }
            }
        }
        return values
    }

    /// What keeps `mesh` from being a closed, consistently oriented surface
    /// (at most a few, for the failure message), and its Euler characteristic
    /// V - E + F. Closed and consistent: every directed edge is used by
    /// exactly one triangle and its reverse by exactly one other, so every
    /// undirected edge has exactly two triangles.
    func topology(_ mesh: TriangleMesh) -> (problems: [String], euler: Int) {
        var problems: [String] = []
        func report(_ problem: String) { if problems.count < 5 { problems.append(problem) } }
        // Directed edge a -> b, keyed a << 32 | b: how many triangles use it.
        var directed: [UInt64: Int] = [:]
        var used = [Bool](repeating: false, count: mesh.positions.count)
        for (f, t) in mesh.triangles.enumerated() {
            let corners = [t.x, t.y, t.z]
            guard corners.allSatisfy({ Int($0) < mesh.positions.count }) else {
                report("triangle \(f) \(t) indexes past \(mesh.positions.count) vertices")
                continue
            }
            if t.x == t.y || t.y == t.z || t.z == t.x { report("triangle \(f) \(t) repeats a vertex") }
            for m in 0..<3 {
                used[Int(corners[m])] = true
                directed[UInt64(corners[m]) << 32 | UInt64(corners[(m + 1) % 3]), default: 0] += 1
            }
        }
        for (key, count) in directed {
            let a = key >> 32, b = key & 0xFFFF_FFFF
            if count != 1 { report("directed edge \(a) -> \(b) used by \(count) triangles") }
            if directed[b << 32 | a] == nil { report("edge \(a) -> \(b) has no reverse (open boundary or flipped triangle)") }
        }
        if let unused = used.firstIndex(of: false) { report("vertex \(unused) is used by no triangle") }
        let undirectedEdges = Set(directed.keys.map { min($0 >> 32, $0 & 0xFFFF_FFFF) << 32 | max($0 >> 32, $0 & 0xFFFF_FFFF) }).count
        return (problems, mesh.positions.count - undirectedEdges + mesh.triangles.count)
    }

    /// The signed volume the mesh encloses (divergence theorem): positive
    /// when the triangles are counter-clockwise seen from outside.
    func enclosedVolume(_ mesh: TriangleMesh) -> Double {
        mesh.triangles.reduce(0.0) { sum, t in
            let (a, b, c) = corners(mesh, t)
            return sum + a.dot(b.cross(c)) / 6
        }
    }

    /// A triangle's corner positions in double precision.
    func corners(_ mesh: TriangleMesh, _ t: SIMD3<UInt32>) -> (Vector3, Vector3, Vector3) {
        (Vector3(mesh.positions[Int(t.x)]), Vector3(mesh.positions[Int(t.y)]), Vector3(mesh.positions[Int(t.z)]))
    }

    /// How many lattice edges have one end inside (value > iso, finite) and
    /// one outside: the vertex count marching cubes must produce.
    func crossedEdgeCount(_ values: [Float], _ size: SIMD3<Int>, iso: Float) -> Int {
        func inside(_ i: Int, _ j: Int, _ k: Int) -> Bool {
            let v = values[(k * size.y + j) * size.x + i]
            return v > iso && v.isFinite
        }
        var count = 0
        for k in 0..<size.z {
            for j in 0..<size.y {
                for i in 0..<size.x {
                    if i + 1 < size.x && inside(i, j, k) != inside(i + 1, j, k) { count += 1 }
                    if j + 1 < size.y && inside(i, j, k) != inside(i, j + 1, k) { count += 1 }
                    if k + 1 < size.z && inside(i, j, k) != inside(i, j, k + 1) { count += 1 }
                }
            }
        }
        return count
    }

    // MARK: - Marching cubes

    /// A sphere, centred off the lattice points so no value is exactly iso:
    /// closed, consistently oriented, genus 0, outward normals, vertices
    /// within the linear interpolation error of the true surface, and the
    /// enclosed volume close to 4/3 pi r^3.
    func testSphereIsClosedOutwardAndAccurate() {
        let size = SIMD3(40, 40, 40), h: Float = 0.05
        let origin = SIMD3<Float>(-1, -1, -1), spacing = SIMD3<Float>(repeating: h)
        let center = Vector3(-0.013, 0.021, 0.007), radius = 0.7
        let values = sample(size, origin: origin, spacing: spacing) { radius - ($0 - center).length }
        let mesh = MarchingCubes.extract(values: values, size: size, iso: 0, origin: origin, spacing: spacing)
        XCTAssertGreaterThan(mesh.triangles.count, 1000)
        XCTAssertTrue(mesh.colors.isEmpty)
        XCTAssertEqual(mesh.positions.count, crossedEdgeCount(values, size, iso: 0), "one vertex per crossed lattice edge")
        let (problems, euler) = topology(mesh)
        XCTAssertEqual(problems, [])
        XCTAssertEqual(euler, 2, "a sphere has Euler characteristic 2")

        // The field is the signed distance, whose second derivative along a
        // lattice edge is at most 1 / (r - h): linear interpolation misses
        // its zero by at most h^2 / (8 (r - h)) in distance.
        let bound = Double(h * h) / (8 * (radius - Double(h))) + 1e-6
        let worst = mesh.positions.map { abs((Vector3($0) - center).length - radius) }.max() ?? .infinity
        XCTAssertLessThan(worst, bound, "vertex distance from the sphere")

        for (f, t) in mesh.triangles.enumerated() {
            let (a, b, c) = corners(mesh, t)
            let outward = (a + b + c) / 3 - center
            XCTAssertGreaterThan((b - a).cross(c - a).dot(outward), 0, "triangle \(f) faces inward")
        }
        let exact = 4.0 / 3.0 * Double.pi * pow(radius, 3)
        XCTAssertEqual(enclosedVolume(mesh), exact, accuracy: 0.01 * exact)
    }

    /// A torus: closed, consistently oriented, Euler characteristic 0.
    func testTorusHasEulerCharacteristicZero() {
        let size = SIMD3(48, 48, 30), h: Float = 0.045
        let origin = SIMD3<Float>(-1.06, -1.04, -0.66), spacing = SIMD3<Float>(repeating: h)
        let (major, minor) = (0.62, 0.27)
        let values = sample(size, origin: origin, spacing: spacing) { p in
            let q = p - Vector3(0.011, -0.007, 0.003)
            let ring = (q.x * q.x + q.y * q.y).squareRoot() - major
            return minor - (ring * ring + q.z * q.z).squareRoot()
        }
        let mesh = MarchingCubes.extract(values: values, size: size, iso: 0, origin: origin, spacing: spacing)
        XCTAssertGreaterThan(mesh.triangles.count, 1000)
        let (problems, euler) = topology(mesh)
        XCTAssertEqual(problems, [])
        XCTAssertEqual(euler, 0, "a torus has Euler characteristic 0")
        let exact = 2 * Double.pi * Double.pi * major * minor * minor
        XCTAssertEqual(enclosedVolume(mesh), exact, accuracy: 0.02 * exact)
    }

    /// Random values inside, the border below iso: many ambiguous faces
    /// (inside corners diagonally opposite), shared by two cubes that must
    /// resolve them alike. The mesh is closed, consistently oriented and
    /// encloses a positive volume.
    func testRandomFieldsAreClosedAndOriented() {
        var rng = SplitMix64(seed: 7)
        for (trial, iso) in [Float(0), 0.3, -0.4].enumerated() {
            let size = SIMD3(14, 11, 12)
            var values = [Float](repeating: -1, count: size.x * size.y * size.z)
            var ambiguousFaces = 0
            for k in 1..<(size.z - 1) {
                for j in 1..<(size.y - 1) {
                    for i in 1..<(size.x - 1) { values[(k * size.y + j) * size.x + i] = rng.uniform(-1, 1) }
                }
            }
            // Count z faces with inside corners diagonally opposite, to know the test exercises them.
            for k in 0..<size.z {
                for j in 0..<(size.y - 1) {
                    for i in 0..<(size.x - 1) {
                        let n = (k * size.y + j) * size.x + i
                        let corners = [values[n], values[n + 1], values[n + size.x + 1], values[n + size.x]].map { $0 > iso }
                        if corners[0] == corners[2] && corners[1] == corners[3] && corners[0] != corners[1] { ambiguousFaces += 1 }
                    }
                }
            }
            XCTAssertGreaterThan(ambiguousFaces, 20, "trial \(trial)")
            let mesh = MarchingCubes.extract(values: values, size: size, iso: iso, origin: SIMD3(1, 2, 3), spacing: SIMD3(0.5, 1, 2))
            XCTAssertEqual(mesh.positions.count, crossedEdgeCount(values, size, iso: iso), "trial \(trial)")
            XCTAssertEqual(topology(mesh).problems, [], "trial \(trial)")
            XCTAssertGreaterThan(enclosedVolume(mesh), 0, "trial \(trial)")
        }
    }

    /// Every configuration of one cube (256) and of two cubes sharing a face
    /// (4096, so every pairing of an ambiguous shared face with its two
    /// cubes), each surrounded by outside points: closed, consistently
    /// oriented, enclosing a positive volume.
    func testEveryConfigurationOfOneAndTwoCubesIsClosed() {
        for (size, cornerCount) in [(SIMD3(4, 4, 4), 8), (SIMD3(5, 4, 4), 12)] {
            let inner = size &- 2
            for configuration in 1..<(1 << cornerCount) {
                var values = [Float](repeating: -1, count: size.x * size.y * size.z)
                for c in 0..<cornerCount where configuration >> c & 1 == 1 {
                    let i = 1 + c % inner.x, j = 1 + c / inner.x % inner.y, k = 1 + c / (inner.x * inner.y)
                    // Varied magnitudes, so vertices are not all at edge midpoints.
                    values[(k * size.y + j) * size.x + i] = 0.5 + Float(c % 3)
                }
                let mesh = MarchingCubes.extract(values: values, size: size, iso: 0)
                let label = "lattice \(size) configuration \(configuration)"
                XCTAssertEqual(mesh.positions.count, crossedEdgeCount(values, size, iso: 0), label)
                XCTAssertEqual(topology(mesh).problems, [], label)
                XCTAssertGreaterThan(enclosedVolume(mesh), 0, label)
            }
        }
    }

    /// One inside point: an octahedron whose vertices sit where linear
    /// interpolation puts them, in world coordinates, with x fastest in the
    /// values.
    func testSinglePointGivesAnInterpolatedOctahedron() {
        let size = SIMD3(3, 3, 3)
        var values = [Float](repeating: -1, count: 27)
        values[13] = 3  // (1, 1, 1)
        values[14] = -3  // (2, 1, 1): the +x crossing moves to the middle
        let origin = SIMD3<Float>(10, 20, 30), spacing = SIMD3<Float>(1, 2, 4)
        let mesh = MarchingCubes.extract(values: values, size: size, iso: 0, origin: origin, spacing: spacing)
        XCTAssertEqual(mesh.triangles.count, 8)
        let (problems, euler) = topology(mesh)
        XCTAssertEqual(problems, [])
        XCTAssertEqual(euler, 2)
        // From the centre, the field falls from 3 to -1 (crossing at 0.75) or to -3 (at 0.5).
        let expected: [SIMD3<Float>] = [SIMD3(0.25, 1, 1), SIMD3(1.5, 1, 1), SIMD3(1, 0.25, 1), SIMD3(1, 1.75, 1),
                                        SIMD3(1, 1, 0.25), SIMD3(1, 1, 1.75)].map { origin + spacing * $0 }
        XCTAssertEqual(Set(mesh.positions.map { [$0.x, $0.y, $0.z] }), Set(expected.map { [$0.x, $0.y, $0.z] }))
        // Eight tetrahedra, one per octant: the product of the three world extents over 6.
        XCTAssertEqual(enclosedVolume(mesh), (1.25 * 1) * (1.5 * 2) * (1.5 * 4) / 6, accuracy: 1e-4)
    }

    /// Uniform fields, tiny lattices and a NaN iso give no mesh; NaN and
    /// infinite values count as outside and never reach a position.
    func testDegenerateAndNonFiniteFields() {
        let size = SIMD3(6, 5, 4)
        let count = size.x * size.y * size.z
        XCTAssertEqual(MarchingCubes.extract(values: [Float](repeating: 1, count: count), size: size, iso: 0), TriangleMesh())
        XCTAssertEqual(MarchingCubes.extract(values: [Float](repeating: -1, count: count), size: size, iso: 0), TriangleMesh())
        XCTAssertEqual(MarchingCubes.extract(values: [Float](repeating: .nan, count: count), size: size, iso: 0), TriangleMesh())
        XCTAssertEqual(MarchingCubes.extract(values: [Float](repeating: .infinity, count: count), size: size, iso: 0), TriangleMesh())
        XCTAssertEqual(MarchingCubes.extract(values: [1, 1, 1, 1], size: SIMD3(4, 1, 1), iso: 0), TriangleMesh())
        XCTAssertEqual(MarchingCubes.extract(values: [], size: SIMD3(0, 5, 5), iso: 0), TriangleMesh())
        var rng = SplitMix64(seed: 3)
        let random = (0..<count).map { _ in rng.uniform(-1, 1) }
        XCTAssertEqual(MarchingCubes.extract(values: random, size: size, iso: .nan), TriangleMesh())

        // A sphere with NaNs and infinities sprinkled in, some next to inside points.
        let sphereSize = SIMD3(16, 16, 16)
        var values = sample(sphereSize, origin: .zero, spacing: .one) { 6.2 - ($0 - Vector3(7.6, 7.4, 7.3)).length }
        for n in stride(from: 5, to: values.count, by: 37) { values[n] = [.nan, .infinity, -.infinity][n % 3] }
        let mesh = MarchingCubes.extract(values: values, size: sphereSize, iso: 0)
        XCTAssertFalse(mesh.triangles.isEmpty)
        XCTAssertTrue(mesh.positions.allSatisfy { $0.x.isFinite && $0.y.isFinite && $0.z.isFinite })
        XCTAssertEqual(mesh.positions.count, crossedEdgeCount(values, sphereSize, iso: 0))
        XCTAssertEqual(topology(mesh).problems, [])
        // All inside except infinities: the surface wraps the lattice's non-finite points.
        var holes = [Float](repeating: 1, count: count)
        holes[2 * 30 + 2 * 6 + 2] = .nan
        holes[1 * 30 + 3 * 6 + 3] = -.infinity
        let wrapped = MarchingCubes.extract(values: holes, size: size, iso: 0)
        XCTAssertEqual(wrapped.triangles.count, 16, "two octahedra around the two outside points")
        XCTAssertEqual(topology(wrapped).problems, [])
        XCTAssertLessThan(enclosedVolume(wrapped), 0, "the normals point into the outside points")
    }

    // MARK: - PLY

    /// Deterministic mesh with awkward floats (-0, subnormal, huge) and all
    /// index bytes in use.
    func makeMesh(vertices: Int, triangles: Int, colors: Bool, seed: UInt64) -> TriangleMesh {
        var rng = SplitMix64(seed: seed)
        var mesh = TriangleMesh()
        let awkward: [Float] = [-0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -1e-30]
        mesh.positions = (0..<vertices).map { v in
            v < awkward.count ? SIMD3(awkward[v], -awkward[v], 1) : SIMD3(rng.uniform(-100, 100), rng.uniform(-1, 1), rng.normal())
        }
        if colors { mesh.colors = (0..<vertices).map { _ in SIMD3(UInt8(truncatingIfNeeded: rng.next()), UInt8(truncatingIfNeeded: rng.next()), UInt8(truncatingIfNeeded: rng.next())) } }
        mesh.triangles = (0..<triangles).map { _ in
            SIMD3(UInt32(rng.next() % UInt64(vertices)), UInt32(rng.next() % UInt64(vertices)), UInt32(rng.next() % UInt64(vertices)))
        }
        return mesh
    }

    func assertBitIdentical(_ a: TriangleMesh, _ b: TriangleMesh, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.positions.map { [$0.x.bitPattern, $0.y.bitPattern, $0.z.bitPattern] },
                       b.positions.map { [$0.x.bitPattern, $0.y.bitPattern, $0.z.bitPattern] }, label, file: file, line: line)
        XCTAssertEqual(a.normals.map { [$0.x.bitPattern, $0.y.bitPattern, $0.z.bitPattern] },
                       b.normals.map { [$0.x.bitPattern, $0.y.bitPattern, $0.z.bitPattern] }, label, file: file, line: line)
        XCTAssertEqual(a.colors, b.colors, label, file: file, line: line)
        XCTAssertEqual(a.triangles, b.triangles, label, file: file, line: line)
    }

    func testPLYRoundTripWithAndWithoutColors() throws {
        for colors in [false, true] {
            let mesh = makeMesh(vertices: 70_000, triangles: 1000, colors: colors, seed: colors ? 2 : 1)
            let target = path(colors ? "colored.ply" : "plain.ply")
            try MeshPLY.write(mesh, to: target)
            let header = MeshPLY.header(vertexCount: 70_000, faceCount: 1000, colors: colors)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: target))
            XCTAssertEqual(bytes.count, header.utf8.count + 70_000 * (colors ? 15 : 12) + 1000 * 13)
            XCTAssertTrue(bytes.starts(with: Array(header.utf8)))
            XCTAssertEqual(header.contains("property uchar red"), colors)
            XCTAssertTrue(header.contains("element face 1000\nproperty list uchar int vertex_indices\nend_header\n"))
            assertBitIdentical(try MeshPLY.read(target), mesh, "colours \(colors)")
        }
        // Empty meshes and a marching cubes mesh survive too.
        try MeshPLY.write(TriangleMesh(), to: path("empty.ply"))
        XCTAssertEqual(try MeshPLY.read(path("empty.ply")), TriangleMesh())
        var blob = MarchingCubes.extract(values: [Float](repeating: 0, count: 13) + [1] + [Float](repeating: 0, count: 13),
                                         size: SIMD3(3, 3, 3), iso: 0.5)
        blob.colors = [SIMD3<UInt8>](repeating: SIMD3(255, 128, 0), count: blob.positions.count)
        try MeshPLY.write(blob, to: path("blob.ply"))
        XCTAssertEqual(try MeshPLY.read(path("blob.ply")), blob)
    }

    /// Writes `data` and expects reading it to fail with a DatasetError that
    /// names the file and whose problem contains `fragment`.
    func expectReadError(_ data: Data, _ fragment: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let target = path("bad.ply")
        try data.write(to: URL(fileURLWithPath: target))
        do {
            let mesh = try MeshPLY.read(target)
            XCTFail("read \(mesh.positions.count) vertices from a bad file", file: file, line: line)
        } catch let error as DatasetError {
            XCTAssertEqual(error.path, target, file: file, line: line)
            XCTAssertTrue(error.description.hasPrefix(target), error.description, file: file, line: line)
            XCTAssertTrue(error.problem.contains(fragment), "'\(error.problem)' lacks '\(fragment)'", file: file, line: line)
        }
    }

    func testBadPLYFilesAndMeshesGiveDatasetErrors() throws {
        let mesh = makeMesh(vertices: 10, triangles: 6, colors: true, seed: 5)
        let good = try MeshPLY.encode(mesh)
        let headerBytes = MeshPLY.header(vertexCount: 10, faceCount: 6, colors: true).utf8.count
        try expectReadError(good.prefix(good.count - 1), "truncated")
        try expectReadError(good.prefix(headerBytes + 20), "truncated")
        try expectReadError(good.prefix(headerBytes - 5), "truncated PLY header")
        try expectReadError(good + [0], "unexpected bytes")
        try expectReadError(Data("solid cube\n".utf8), "not a PLY file")
        try expectReadError(Data("ply\nformat ascii 1.0\nelement vertex 0\nend_header\n".utf8), "ASCII")
        try expectReadError(Data("ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty double x\nend_header\n".utf8), "property float x")
        var quad = good
        quad[headerBytes + 10 * 15] = 4
        try expectReadError(quad, "only triangles")
        var outOfRange = good
        outOfRange[headerBytes + 10 * 15 + 1] = 10
        try expectReadError(outOfRange, "vertex indices")
        XCTAssertThrowsError(try MeshPLY.read(path("missing.ply"))) { error in
            XCTAssertEqual(error as? DatasetError, DatasetError(path("missing.ply"), "no such file"))
        }

        // Colours that are neither absent nor one per vertex, and indices past
        // the vertices, are refused before anything is written.
        var badColors = mesh
        badColors.colors.removeLast()
        var badIndex = mesh
        badIndex.triangles[3].y = 10
        for (name, bad) in [("colors.ply", badColors), ("index.ply", badIndex)] {
            XCTAssertThrowsError(try MeshPLY.write(bad, to: path(name))) { error in
                XCTAssertEqual((error as? DatasetError)?.path, path(name), "\(error)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: path(name)))
        }
    }
}
