import ArgumentParser
import Compute
import Datasets
import Fields
import Foundation
import Geometry
import Models

struct Mesh: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a NeRF's or NeuS model's surface as a triangle mesh (marching cubes, vertex colours and normals) to PLY.",
        discussion: """
        Samples the density sigma of MODEL (a `splat train --method nerf`
        output folder or its model.nerf) on a --resolution^3 lattice over the
        scene box (cascade 0 of the occupancy grid: the box `splat info MODEL`
        prints) and extracts the surface where sigma crosses --threshold
        (instant-ngp's 2.5, in units of the box's width) with marching cubes.
        Vertex colours are the colour network's, seen from outside along each
        vertex's normal. For a NeuS model (`splat train --method neus`) the
        lattice holds the signed distance (world units, negative inside) and
        the surface is its --threshold level set (default 0: the zero level
        set, as NeuS extracts it; NeuS uses 512^3). The mesh is in the scene's
        world frame, as the model's cameras (a NeuS/IDR scene's scale_mat
        already applied). Output: binary little-endian PLY (float x y z,
        float nx ny nz (unit vertex normals, area-weighted), uchar red green
        blue; triangles as vertex_indices), written to a temporary name and
        renamed when complete. Memory: 4 bytes per lattice point (64 MiB at
        256^3) plus the mesh.
        """)

    @Argument(help: "A NeRF or NeuS training output folder or a .nerf file.")
    var model: String
    @Option(help: "Lattice points per axis.")
    var resolution = 256
    @Option(help: "The surface's level: density for a NeRF (default 2.5, instant-ngp's), signed distance in world units for a NeuS model (default 0).")
    var threshold: Float?
    @Option(name: [.short, .long], help: "The PLY file to write.")
    var out: String
    @Flag(help: "Leave out vertex colours.")
    var noColors = false
    @Option(help: "A shape.json of a synthetic SDF scene (Tools/make-sdf-scenes.py): also print the mesh's Chamfer distance to that analytic surface (world units and % of the object's size).")
    var reference: String?

    func validate() throws {
        try OptionCheck.whole("--resolution", resolution, 2...1024)
        if let threshold, !threshold.isFinite { throw ValidationError("--threshold must be a finite number, got \(threshold)") }
    }

    func run() throws {
        try runReportingErrors {
            let input = try RenderModel.load(model)
            guard case .nerf(let contents) = input.content else {
                throw DatasetError(input.path, "a Gaussian model: splat mesh exports NeRF models (train one with --method nerf)")
            }
            try OutputFolder.prepare((out as NSString).deletingLastPathComponent)
            let device = try ComputeDevice.make()
            let nerf = try NerfTrainer(device: device, model: contents)
            let sdf = nerf.config.isSDF
            if !sdf, let threshold, !(threshold > 0) {
                throw ValidationError("--threshold must be positive for a NeRF's density, got \(threshold)")
            }
            let level = threshold ?? (sdf ? 0 : 2.5)
            let start = Date()
            let n = resolution, count = n * n * n
            let what = sdf ? "signed distance" : "density"
            log("splat mesh: \(what) on \(n)^3 points over the \(String(format: "%.4g", nerf.boxSize))-wide scene box of \(input.path) on \(device.info.displayName)")
            var bar = RenderProgress(total: count, label: what, unit: "points")
            let step = 1 / Float(n - 1)
            func lattice(_ i: Int) -> SIMD3<Float> { SIMD3(Float(i % n), Float((i / n) % n), Float(i / (n * n))) * step }
            // Marching cubes keeps values above the level inside: an SDF (negative inside) goes in negated.
            let values = sdf ? try nerf.signedDistance(count: count, progress: { bar.update(done: $0) }, point: lattice).map { -$0 }
                             : try nerf.density(count: count, progress: { bar.update(done: $0) }, point: lattice)
            bar.abandon()
            let iso = sdf ? -level : level
            let peak = values.lazy.filter(\.isFinite).max() ?? 0, floor = values.lazy.filter(\.isFinite).min() ?? 0
            let spacing = Float(nerf.boxSize) * step
            let origin = nerf.worldPoint(.zero)
            var mesh = MarchingCubes.extract(values: values, size: SIMD3(n, n, n), iso: iso,
                                             origin: SIMD3(Float(origin.x), Float(origin.y), Float(origin.z)),
                                             spacing: SIMD3(repeating: spacing))
            guard !mesh.triangles.isEmpty else {
                if sdf {
                    let (low, high) = (-peak, -floor)
                    throw DatasetError(input.path, String(format: "no surface: the signed distance never crosses %g in the scene box (it ranges over %.3g...%.3g); %@", level, low, high,
                                                          low > level ? "the model is empty there (train longer, or check the scene's masks and box)" : "the box is all inside (try a higher --threshold)"))
                }
                if floor > iso {
                    throw DatasetError(input.path, String(format: "no surface: the density is above %g everywhere in the scene box (its smallest value is %.3g); try a higher --threshold", level, floor))
                }
                throw DatasetError(input.path, String(format: "no surface: the density stays below %g in the scene box (its largest value is %.3g); try a lower --threshold", level, peak))
            }
            let normals = Self.vertexNormals(mesh)
            mesh.normals = normals
            if !noColors {
                let units = mesh.positions.map { nerf.unitPoint(Vector3(Double($0.x), Double($0.y), Double($0.z))) }
                let rgb = try nerf.colour(points: units, directions: normals.map { -$0 })
                mesh.colors = rgb.map { c in SIMD3(RenderOutput.byte(c.x), RenderOutput.byte(c.y), RenderOutput.byte(c.z)) }
            }
            try MeshPLY.write(mesh, to: out)
            if let reference {
                let shape = try AnalyticShape.read(reference)
                let c = shape.chamfer(vertices: mesh.positions)
                log(String(format: "splat mesh: Chamfer distance to %@: %.5f (%.3f%% of the object's size %.4g; accuracy %.5f, completeness %.5f)",
                           reference, c.chamfer, 100 * c.chamfer / shape.size, shape.size, c.accuracy, c.completeness))
            }
            let parts = Self.components(mesh)
            log(String(format: "splat mesh: %d vertices, %d triangles at %@ %g (resolution %d) in %.1f s; wrote %@",
                       mesh.positions.count, mesh.triangles.count, what, level, n, Date().timeIntervalSince(start), out))
            // Floating fragments show as extra connected pieces.
            log(String(format: "splat mesh: %d connected piece%@; the largest has %.2f%% of the triangles", parts.count, parts.count == 1 ? "" : "s",
                       100 * Double(parts.first ?? 0) / Double(max(1, mesh.triangles.count))))
        }
    }

    /// Triangles per connected piece (sharing vertices), largest first.
    static func components(_ mesh: TriangleMesh) -> [Int] {
        var parent = Array(0..<mesh.positions.count)
        func root(_ i: Int) -> Int {
            var i = i
            while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
            return i
        }
        for t in mesh.triangles {
            let a = root(Int(t.x))
            for v in [Int(t.y), Int(t.z)] { let b = root(v); if a != b { parent[b] = a } }
        }
        var counts: [Int: Int] = [:]
        for t in mesh.triangles { counts[root(Int(t.x)), default: 0] += 1 }
        return counts.values.sorted(by: >)
    }

    /// Area-weighted vertex normals (outward: the triangles are counter-clockwise seen from outside).
    static func vertexNormals(_ mesh: TriangleMesh) -> [SIMD3<Float>] {
        var normals = [SIMD3<Float>](repeating: .zero, count: mesh.positions.count)
        for t in mesh.triangles {
            let a = mesh.positions[Int(t.x)], b = mesh.positions[Int(t.y)], c = mesh.positions[Int(t.z)]
            let e1 = b - a, e2 = c - a
            let n = SIMD3(e1.y * e2.z - e1.z * e2.y, e1.z * e2.x - e1.x * e2.z, e1.x * e2.y - e1.y * e2.x)
            for i in [t.x, t.y, t.z] { normals[Int(i)] += n }
        }
        return normals.map { n in
            let l = (n * n).sum().squareRoot()
            return l > 0 ? n / l : SIMD3(0, 0, 1)
        }
    }
}
