import Datasets

/// Marching cubes (Lorensen & Cline 1987) on a regular lattice: the
/// triangle mesh of the surface where a sampled scalar field crosses an iso
/// value, for exporting a density field (a trained NeRF sampled on a grid,
/// say) as a mesh.
///
/// The per-cube triangulations are not a hand-typed table: `CaseTable`
/// derives them for all 256 corner sign configurations from one rule per cube
/// face (see there). That rule resolves ambiguous faces from the face's own
/// corners, so neighbouring cubes always agree and a surface that stays
/// inside the lattice comes out closed (every edge shared by exactly two
/// triangles) and consistently oriented.
public enum MarchingCubes {
    /// The mesh of the surface where `values` crosses `iso`.
    ///
    /// `values` is [nz, ny, nx] f32, x fastest: the field at lattice point
    /// (i, j, k) lies at `origin + spacing * (i, j, k)`. "Inside" is
    /// value > iso (a density blob); non-finite values (NaN, +-inf) count as
    /// outside. Vertices sit on lattice edges by linear interpolation (at the
    /// edge's midpoint when one end is non-finite) and are shared between the
    /// cubes that meet at an edge, one vertex per crossed edge. Triangles are
    /// counter-clockwise seen from outside: their normals point from inside
    /// to outside, toward decreasing value.
    ///
    /// When the field is outside on the lattice's border the mesh is closed
    /// and consistently oriented; a surface that reaches the border is left
    /// open there (no caps). Fewer than 2 points along an axis give an empty
    /// mesh. Colours are left empty.
    public static func extract(values: [Float], size: SIMD3<Int>, iso: Float,
                               origin: SIMD3<Float> = .zero, spacing: SIMD3<Float> = .one) -> TriangleMesh {
        let nx = size.x, ny = size.y, nz = size.z
        precondition(nx >= 0 && ny >= 0 && nz >= 0, "negative lattice size \(size)")
        precondition(values.count == nx * ny * nz, "\(values.count) values for a \(nx) x \(ny) x \(nz) lattice")
        // One vertex per lattice edge at most, and fewer than 3 edges per point.
        precondition(values.count < Int(UInt32.max) / 3, "lattice too large for 32-bit vertex indices")
        guard nx >= 2, ny >= 2, nz >= 2 else { return TriangleMesh() }

        let table = CaseTable.shared
        let sliceCount = nx * ny
        // [2, ny, nx] u8: 1 where the lattice point is inside, for the two
        // slices that bound the current layer of cubes (slot = z parity).
        let inside = UnsafeMutablePointer<UInt8>.allocate(capacity: 2 * sliceCount)
        // [5, ny, nx] u32: the vertex on each crossed lattice edge, by the
        // edge's lower end: x edges of slots 0 and 1, y edges of slots 0 and
        // 1, then the z edges between the two slices. Entries of edges that
        // are not crossed are never read.
        let edgeVertex = UnsafeMutablePointer<UInt32>.allocate(capacity: 5 * sliceCount)
        // [12] where each cube edge's vertex lies in `edgeVertex`, relative to
        // the cube's lower corner's slice index (changes with the layer's slots).
        let edgeOffset = UnsafeMutablePointer<Int>.allocate(capacity: 12)
        defer {
            inside.deallocate()
            edgeVertex.deallocate()
            edgeOffset.deallocate()
        }

        var positions: [SIMD3<Float>] = []
        var triangles: [SIMD3<UInt32>] = []

        values.withUnsafeBufferPointer { field in
            let field = field.baseAddress!

            func addVertex(_ lattice: SIMD3<Float>) -> UInt32 {
                positions.append(origin + spacing * lattice)
                return UInt32(positions.count - 1)
            }

            // Inside flags of slice z, and the vertices on its x and y edges.
            func fillSlice(_ z: Int, slot: Int) {
                let value = field + z * sliceCount
                let flag = inside + slot * sliceCount
                for n in 0..<sliceCount {
                    let v = value[n]
                    flag[n] = v > iso && v < .infinity ? 1 : 0  // NaN fails both comparisons
                }
                let xEdges = edgeVertex + slot * sliceCount
                let yEdges = edgeVertex + (2 + slot) * sliceCount
                let height = Float(z)
                for j in 0..<ny {
                    let row = j * nx
                    for i in 0..<nx {
                        let n = row + i
                        if i + 1 < nx && flag[n] != flag[n + 1] {
                            let t = crossing(value[n], value[n + 1], iso: iso)
                            xEdges[n] = addVertex(SIMD3(Float(i) + t, Float(j), height))
                        }
                        if j + 1 < ny && flag[n] != flag[n + nx] {
                            let t = crossing(value[n], value[n + nx], iso: iso)
                            yEdges[n] = addVertex(SIMD3(Float(i), Float(j) + t, height))
                        }
                    }
                }
            }

            fillSlice(0, slot: 0)
            for z in 0..<(nz - 1) {
                let low = z & 1, high = low ^ 1
                fillSlice(z + 1, slot: high)
                let lowFlag = inside + low * sliceCount, highFlag = inside + high * sliceCount

                // Vertices on the z edges between slices z and z + 1.
                let lowValue = field + z * sliceCount, highValue = lowValue + sliceCount
                let zEdges = edgeVertex + 4 * sliceCount
                for j in 0..<ny {
                    for i in 0..<nx {
                        let n = j * nx + i
                        if lowFlag[n] != highFlag[n] {
                            let t = crossing(lowValue[n], highValue[n], iso: iso)
                            zEdges[n] = addVertex(SIMD3(Float(i), Float(j), Float(z) + t))
                        }
                    }
                }

                for e in 0..<12 {
                    let corner = table.edgeLowerCorner[e]
                    let slot = corner & 4 == 0 ? low : high
                    let array = table.edgeAxis[e] == 2 ? 4 : 2 * table.edgeAxis[e] + slot
                    edgeOffset[e] = array * sliceCount + (corner >> 1 & 1) * nx + (corner & 1)
                }

                // The cubes of this layer: case index bit c is corner c's flag,
                // corner c at (c & 1, c >> 1 & 1, c >> 2 & 1) from the lower corner.
                for j in 0..<(ny - 1) {
                    for i in 0..<(nx - 1) {
                        let n = j * nx + i
                        let lowBits = Int(lowFlag[n]) | Int(lowFlag[n + 1]) << 1
                            | Int(lowFlag[n + nx]) << 2 | Int(lowFlag[n + nx + 1]) << 3
                        let highBits = Int(highFlag[n]) | Int(highFlag[n + 1]) << 1
                            | Int(highFlag[n + nx]) << 2 | Int(highFlag[n + nx + 1]) << 3
                        let index = lowBits | highBits << 4
                        if index == 0 || index == 255 { continue }
                        var k = Int(table.firstEdge[index])
                        let end = Int(table.firstEdge[index + 1])
                        while k < end {
                            let a = edgeVertex[edgeOffset[Int(table.edges[k])] + n]
                            let b = edgeVertex[edgeOffset[Int(table.edges[k + 1])] + n]
                            let c = edgeVertex[edgeOffset[Int(table.edges[k + 2])] + n]
                            triangles.append(SIMD3(a, b, c))
                            k += 3
                        }
                    }
                }
            }
        }
        return TriangleMesh(positions: positions, triangles: triangles)
    }

    /// Where along an edge from value `a` (inside or outside) to value `b`
    /// (the other) the field crosses `iso`, in [0, 1]. Exactly one end is
    /// inside, so a and b differ and the quotient is defined; a non-finite
    /// end says nothing about where the crossing is, so that gives the
    /// midpoint (and keeps NaN out of the positions).
    @inline(__always)
    static func crossing(_ a: Float, _ b: Float, iso: Float) -> Float {
        guard a.isFinite && b.isFinite else { return 0.5 }
        let t = (iso - a) / (b - a)
        return t.isNaN ? 0.5 : min(max(t, 0), 1)  // NaN: inf / inf when b - a overflows
    }
}

/// The triangles of each of the 256 cube configurations, derived at first
/// use rather than typed in.
///
/// Cube numbering: corner c sits at (c & 1, c >> 1 & 1, c >> 2 & 1); edge
/// 4 * axis + k runs along `axis` from the corner whose other two
/// coordinates (lower axis first) are the bits of k. Face 2 * axis + side is
/// the face where that coordinate equals `side`.
///
/// The derivation, for one configuration (bit c set = corner c inside):
/// - The crossed edges are those whose two corners differ; each gets a vertex.
/// - On each face, walk its four corners counter-clockwise seen from outside
///   the cube. A crossed edge walked from an outside corner to an inside one
///   is where a segment starts; walked inside to outside, where one ends.
///   Every start is joined to the next crossing along the walk. That segment
///   has the face's inside corners on its right seen from outside the cube,
///   which is what makes the loops below run counter-clockwise around the
///   surface normal (pointing to the outside region).
/// - A face with 2 crossings has one start and one end: one segment. A face
///   with 4 crossings (inside corners diagonally opposite) is ambiguous: the
///   surface could separate the two inside corners or join them across the
///   face. The rule above joins each start to the end right after it, with
///   one inside corner between them, so it always cuts off each inside
///   corner: **ambiguous faces separate the inside corners** (the outside
///   corners connect across the face).
/// - Each crossed edge lies on two faces and is walked in opposite directions
///   by them, so it is the start of one segment and the end of another: the
///   segments form closed loops, and each loop is triangulated as a fan.
///
/// Why the mesh is watertight: the segments on a face depend only on that
/// face's four corners (the ambiguity rule looks at nothing else), so the
/// cube on the other side of the face draws the same segments between the
/// same two shared vertices. It walks the face the other way round, so its
/// starts are our ends and the segments are reversed: every loop edge is used
/// by one triangle on each side of the face, in opposite directions. A
/// choice that looked at more than the face (the original 1987 table's
/// reuse of complemented cases amounts to one) could differ between the two
/// cubes and leave holes.
///
/// The fan's apex is chosen so that no diagonal lies in a cube face: on an
/// ambiguous face whose two segments belong to the same loop, a diagonal
/// between two of its vertices would lie in the face, where the neighbouring
/// cube may draw the same diagonal, making an edge with four triangles. An
/// apex whose two faces carry only one segment of its loop always exists
/// (checked for all 256 configurations when the table is built); its
/// diagonals then cross the cube's interior and belong to this cube alone.
struct CaseTable {
    /// [12] the axis each cube edge runs along.
    let edgeAxis: [Int]
    /// [12] the corner each cube edge starts from (the lower of its two).
    let edgeLowerCorner: [Int]
    /// [257] where configuration c's triangles start in `edges`; c's run ends
    /// where c + 1's starts.
    let firstEdge: [UInt16]
    /// [T * 3] cube edges, three per triangle, counter-clockwise seen from outside.
    let edges: [UInt8]

    static let shared = CaseTable()

    init() {
        // Edges: 4 * axis + k, from lowerCorner to lowerCorner + (1 << axis).
        var axes: [Int] = [], lower: [Int] = []
        for axis in 0..<3 {
            let others = (0..<3).filter { $0 != axis }
            for k in 0..<4 {
                axes.append(axis)
                lower.append((k & 1) << others[0] | (k >> 1) << others[1])
            }
        }
        func edge(_ a: Int, _ b: Int) -> Int {
            let axis = (a ^ b).trailingZeroBitCount
            return lower.indices.first { axes[$0] == axis && lower[$0] == min(a, b) }!
        }
        // Faces: 2 * axis + side, corners counter-clockwise seen from outside.
        // With (axis, u, v) cyclic, u x v = +axis, so (0,0) (1,0) (1,1) (0,1) in
        // (u, v) is counter-clockwise seen from the + side; the - side reverses it.
        var faceCorners: [[Int]] = []
        for axis in 0..<3 {
            let u = (axis + 1) % 3, v = (axis + 2) % 3
            for side in 0..<2 {
                let ring = [(0, 0), (1, 0), (1, 1), (0, 1)].map { side << axis | $0.0 << u | $0.1 << v }
                faceCorners.append(side == 1 ? ring : ring.reversed())
            }
        }

        var firstEdge: [UInt16] = [0]
        var edges: [UInt8] = []
        for configuration in 0..<256 {
            func isInside(_ corner: Int) -> Bool { configuration >> corner & 1 == 1 }
            // next[e]: the crossed edge where the segment starting at crossed
            // edge e ends; segmentFace[e]: the face that segment lies on.
            var next = [Int](repeating: -1, count: 12)
            var segmentFace = [Int](repeating: -1, count: 12)
            for (face, corners) in faceCorners.enumerated() {
                // The face's crossed edges in walking order; `starts`: walked outside -> inside.
                var crossings: [(edge: Int, starts: Bool)] = []
                for m in 0..<4 {
                    let a = corners[m], b = corners[(m + 1) % 4]
                    if isInside(a) != isInside(b) { crossings.append((edge(a, b), isInside(b))) }
                }
                for (q, crossing) in crossings.enumerated() where crossing.starts {
                    let end = crossings[(q + 1) % crossings.count]
                    precondition(!end.starts && next[crossing.edge] == -1, "marching cubes table: face \(face) of case \(configuration)")
                    next[crossing.edge] = end.edge
                    segmentFace[crossing.edge] = face
                }
            }
            var traced = [Bool](repeating: false, count: 12)
            for first in 0..<12 where next[first] >= 0 && !traced[first] {
                var loop: [Int] = []
                var e = first
                repeat {
                    loop.append(e)
                    traced[e] = true
                    e = next[e]
                } while e != first
                let m = loop.count
                var segmentsOnFace = [Int](repeating: 0, count: 6)
                for e in loop { segmentsOnFace[segmentFace[e]] += 1 }
                // The apex's faces: that of its incoming and of its outgoing segment.
                let apex = (0..<m).first { i in
                    segmentsOnFace[segmentFace[loop[i]]] == 1 && segmentsOnFace[segmentFace[loop[(i + m - 1) % m]]] == 1
                }
                guard let apex else { preconditionFailure("marching cubes table: no fan apex for case \(configuration)") }
                for s in 1..<(m - 1) {
                    edges += [loop[apex], loop[(apex + s) % m], loop[(apex + s + 1) % m]].map { UInt8($0) }
                }
            }
            firstEdge.append(UInt16(edges.count))
        }
        self.edgeAxis = axes
        self.edgeLowerCorner = lower
        self.firstEdge = firstEdge
        self.edges = edges
    }
}
