import Compute
import Foundation
import Geometry

/// Point queries of a trained NeRF, for mesh export and tools: the density
/// and colour networks evaluated at given points, in chunks of
/// `renderSamples` (no ray marching, no occupancy test).
extension NerfTrainer {
    /// World frame -> the engine's unit space (cascade 0 is [0, 1]^3).
    public func unitPoint(_ world: Vector3) -> SIMD3<Float> {
        let u = (world - boxCenter) / boxSize + Vector3(0.5, 0.5, 0.5)
        return SIMD3(Float(u.x), Float(u.y), Float(u.z))
    }

    /// Unit space -> world frame.
    public func worldPoint(_ unit: SIMD3<Float>) -> Vector3 {
        (Vector3(Double(unit.x), Double(unit.y), Double(unit.z)) - Vector3(0.5, 0.5, 0.5)) * boxSize + boxCenter
    }

    /// Unit space -> the network's field space (the outermost cascade's box
    /// -> [0, 1]^3), as `occupancyToField` in the shaders.
    func fieldPoint(_ unit: SIMD3<Float>) -> SIMD3<Float> {
        (unit - SIMD3(repeating: 0.5)) * exp2(-Float(occupancy.settings.cascades - 1)) + SIMD3(repeating: 0.5)
    }

    /// Density sigma = exp(raw) ([N] f32, per unit-space length) at `count`
    /// unit-space points that `point(i)` gives.
    /// `progress` hears the points done after each chunk.
    public func density(count: Int, progress: ((Int) -> Void)? = nil, point: (Int) -> SIMD3<Float>) throws -> [Float] {
        try fieldColumnZero(count: count, progress: progress, rawSDF: false, point: point).map { exp($0) }
    }

    /// Column 0 of the field network's outputs at unit-space points, in
    /// chunks of `renderSamples`: the raw log-density, or for an SDF field
    /// its occupancy log-density (or, with `rawSDF`, the signed distance in
    /// field units).
    func fieldColumnZero(count: Int, progress: ((Int) -> Void)?, rawSDF: Bool, point: (Int) -> SIMD3<Float>) throws -> [Float] {
        var out = [Float](repeating: 0, count: count)
        let chunk = max(1, renderSamples)
        var start = 0
        while start < count {
            let m = min(chunk, count - start)
            var pts = [Float](repeating: 0, count: m * 3)
            for i in 0..<m {
                let f = fieldPoint(point(start + i))
                pts[3 * i] = f.x; pts[3 * i + 1] = f.y; pts[3 * i + 2] = f.z
            }
            let ptsB = try slice(renderRays, m * 12)
            try ptsB.buffer.write(pts, device: device)
            let s = try CommandStream(device: device)
            let raw = try recordDensity(s, points: ptsB, count: m, rawSDF: rawSDF)
            try s.run()
            let values = try raw.buffer.read(Float.self, count: m * 16, device: device)
            for i in 0..<m { out[start + i] = values[16 * i] }
            start += m
            progress?(start)
        }
        return out
    }

    /// The signed distance ([N] f32, in world units: negative inside) at
    /// `count` unit-space points that `point(i)` gives, for an SDF field.
    public func signedDistance(count: Int, progress: ((Int) -> Void)? = nil, point: (Int) -> SIMD3<Float>) throws -> [Float] {
        guard sdfField != nil else { throw ComputeError.invalidArgument("not an SDF field (a NeuS model)") }
        // Field-space lengths -> world: the field's box is 2^(cascades - 1) unit boxes of boxSize.
        let scale = Float(boxSize) * exp2(Float(occupancy.settings.cascades - 1))
        return try fieldColumnZero(count: count, progress: progress, rawSDF: true, point: point).map { $0 * scale }
    }

    /// Colour ([N] rgb in 0...1) seen along unit `directions` at unit-space `points`.
    public func colour(points: [SIMD3<Float>], directions: [SIMD3<Float>]) throws -> [SIMD3<Float>] {
        precondition(points.count == directions.count)
        var out = [SIMD3<Float>](repeating: .zero, count: points.count)
        let cols = colour.dims[0]
        // An SDF's stencil evaluates 5 points per query point: its render chunk bounds the dispatch.
        let chunk = max(1, sdfField != nil ? min(renderSamples, renderChunkSamples) : renderSamples)
        var start = 0
        while start < points.count {
            let m = min(chunk, points.count - start)
            var pts = [Float](repeating: 0, count: m * 3), dirs = [Float](repeating: 0, count: m * 3)
            for i in 0..<m {
                let f = fieldPoint(points[start + i])
                var d = directions[start + i]
                let l = (d * d).sum().squareRoot()
                d = l > 0 ? d / l : SIMD3(0, 0, 1)
                for c in 0..<3 { pts[3 * i + c] = f[c]; dirs[3 * i + c] = d[c] }
            }
            let ptsB = try slice(renderRays, m * 12), dirsB = try slice(renderNear, m * 12)
            try ptsB.buffer.write(pts, device: device)
            try dirsB.buffer.write(dirs, device: device)
            let s = try CommandStream(device: device)
            let rgb: BufferSlice
            if sdfField != nil {
                // The SDF's colour network also takes the position and the gradient (its stencil).
                let dtB = try slice(depth, m * 4)
                s.fill(dtB.buffer, value: 0, offset: 0, bytes: m * 4)
                rgb = try recordSDFForward(s, points: ptsB, directions: dirsB, dt: dtB, count: m, training: false).rgb
            } else {
                let dOut = try recordDensity(s, points: ptsB, count: m)
                let cIn = try slice(colourIn, m * cols * 4)
                rgb = try slice(rgbRaw, m * 12)
                try sh.encode(s, directions: dirsB, encoded: cIn, count: m, stride: cols, column: 0)
                try batch.recordConcat(s, density: dOut, colour: cIn, samples: m, columns: cols)
                try colour.forward(s, input: cIn, weights: colourWeights, output: rgb, count: m)
            }
            try s.run()
            let raw = try rgb.buffer.read(Float.self, count: m * 3, device: device)
            for i in 0..<m {
                func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }
                out[start + i] = SIMD3(sigmoid(raw[3 * i]), sigmoid(raw[3 * i + 1]), sigmoid(raw[3 * i + 2]))
            }
            start += m
        }
        return out
    }
}
