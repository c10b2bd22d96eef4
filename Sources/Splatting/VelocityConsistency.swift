import CShaderLayouts
import Compute
import ComputePrimitives
import Datasets
import Foundation
import Geometry

/// The 4D consistency regulariser of 4D-Rotor Gaussian Splatting (Duan et
/// al., SIGGRAPH 2024): neighbouring Gaussians should move alike. A 4D
/// Gaussian's sliced mean moves at the constant velocity v = V / W (the
/// time column of its 4D covariance over the time variance), and the loss
///
///     lambda / N sum_i | v_i - mean over the K nearest neighbours j of v_j |_1
///
/// pulls each velocity towards its neighbours' mean (`--consistency-4d`).
/// Neighbours are the K nearest 4D means in space-time, time scaled by the
/// spatial extent of the means (so a time span of 1 weighs like the scene's
/// size), found on the host (`neighbours(of:)`) whenever the model's size
/// changes and every `refreshEvery` steps; the gradient runs on the GPU
/// (velocity_consistency) and is added to the loss gradients before the
/// optimiser.
public final class VelocityConsistency {
    public let device: ComputeDevice
    /// lambda.
    public var weight: Double
    /// K.
    public let neighbourCount: Int
    /// Steps between neighbour searches (the Gaussians move slowly).
    public var refreshEvery: Int
    let kernels: [Kernel]   // velocity, residual, chain
    let workgroupSize: Int
    let neighbourBuffer = ScratchBuffer(label: "consistency neighbours")
    let velocities = ScratchBuffer(label: "consistency velocities")
    let velocityGradients = ScratchBuffer(label: "consistency velocity gradients")
    var neighboursFor = -1          // Gaussian count the neighbours were found for
    var stepsSinceSearch = 0

    public init(device: ComputeDevice, weight: Double, neighbours: Int = 8, refreshEvery: Int = 500) throws {
        guard device.info.float32AtomicAdd else {
            throw ComputeError.invalidArgument("the 4D consistency regulariser needs float atomics (VK_EXT_shader_atomic_float), which \(device.info.displayName) lacks")
        }
        self.device = device
        self.weight = weight
        neighbourCount = neighbours
        self.refreshEvery = refreshEvery
        let size = min(256, device.info.maxWorkgroupInvocations, device.info.maxWorkgroupSize[0])
        workgroupSize = size
        kernels = try [CONSISTENCY_VARIANT_VELOCITY, CONSISTENCY_VARIANT_RESIDUAL, CONSISTENCY_VARIANT_CHAIN].map { variant in
            try device.kernel(ShaderLibrary.velocityConsistency,
                              bindings: [.read, .read, .read, .read, .read, .readWrite, .readWrite, .readWrite, .readWrite, .readWrite, .readWrite],
                              pushConstantBytes: MemoryLayout<ConsistencyParams>.size,
                              specialization: [UInt32(size), 0, 0, variant])
        }
    }

    /// Records adding the regulariser's gradient to the last backward pass's
    /// gradients of the log-scales, time log-scales and both quaternions;
    /// searches neighbours first when they are stale (reads the model).
    public func record(_ stream: CommandStream, rasterizer: GaussianRasterizer) throws {
        let n = rasterizer.gaussianCount
        guard weight > 0, n > neighbourCount else { return }
        let schema = rasterizer.schema
        func index(_ name: String) throws -> Int {
            guard let k = schema.groups.firstIndex(where: { $0.name == name }) else {
                throw ComputeError.invalidArgument("the 4D consistency regulariser needs a 4D model (no \(name))")
            }
            return k
        }
        let names = ["rotations", "rotations_right", "scales", "time_scales"]
        let indices = try names.map(index)
        let trainable = rasterizer.trainableGroups()
        let gradients = names.compactMap { name in trainable.first { $0.name == name }?.gradients }
        guard gradients.count == names.count else {
            throw ComputeError.invalidArgument("the 4D consistency regulariser needs the gradients of a backward pass")
        }
        let K = neighbourCount
        if neighboursFor != n || stepsSinceSearch >= refreshEvery {
            let model = try rasterizer.currentModel()
            let found = Self.neighbours(of: model, count: K)
            let b = try neighbourBuffer.atLeast(n * K * 4, device: device)
            try b.write(found, device: device)
            neighboursFor = n
            stepsSinceSearch = 0
        }
        stepsSinceSearch += 1
        let params = indices.map { k in rasterizer.modelBuffers[k].slice(offset: 0, length: n * schema.groups[k].floatsPerGaussian * 4) }
        let v = try velocities.atLeast(n * 12, device: device), gv = try velocityGradients.atLeast(n * 12, device: device)
        let buffers = params + [neighbourBuffer.buffer!.slice(offset: 0, length: n * K * 4),
                                v.slice(offset: 0, length: n * 12), gv.slice(offset: 0, length: n * 12)] + gradients
        try record(stream, buffers: buffers, count: n)
    }

    /// The three passes on explicit buffers: rotations [N, 4], right rotations
    /// [N, 4], log-scales [N, 3], time log-scales [N], neighbours [N, K] u32,
    /// velocities [N, 3] (scratch), velocity gradients [N, 3] (scratch), then
    /// the four gradient buffers (added to).
    func record(_ stream: CommandStream, buffers: [BufferRange], count n: Int) throws {
        var p = ConsistencyParams()
        p.count = UInt32(n)
        p.neighbours = UInt32(neighbourCount)
        p.weight = Float(weight / Double(n))
        let groups = (n + workgroupSize - 1) / workgroupSize
        stream.fill(buffers[6].buffer, value: 0, offset: buffers[6].offset, bytes: n * 12)
        try stream.dispatch(kernels[0], buffers, push: p, groups: groups, label: "consistency velocities")
        try stream.dispatch(kernels[1], buffers, push: p, groups: groups, label: "consistency residuals")
        try stream.dispatch(kernels[2], buffers, push: p, groups: groups, label: "consistency gradients")
    }

    // MARK: Neighbours

    /// The `count` nearest other Gaussians of each Gaussian in space-time
    /// ([N, count] u32): points (x, y, z, t s) with s the largest side of the
    /// means' bounding box, searched in a uniform 4D grid ring by ring.
    public static func neighbours(of model: GaussianModel, count K: Int) -> [UInt32] {
        let n = model.count
        guard n > K else { return [UInt32](repeating: 0, count: n * K) }
        var lo = SIMD3<Float>(repeating: .infinity), hi = SIMD3<Float>(repeating: -.infinity)
        for i in 0..<n {
            let p = SIMD3(model.positions[3 * i], model.positions[3 * i + 1], model.positions[3 * i + 2])
            lo = pointwiseMin(lo, p); hi = pointwiseMax(hi, p)
        }
        let side = max((hi - lo).max(), 1e-6)
        let timeScale = side
        func point(_ i: Int) -> SIMD4<Float> {
            SIMD4(model.positions[3 * i], model.positions[3 * i + 1], model.positions[3 * i + 2],
                  (model.timeMeans.isEmpty ? 0 : model.timeMeans[i]) * timeScale)
        }
        let points = (0..<n).map(point)
        var low = SIMD4<Float>(repeating: .infinity), high = SIMD4<Float>(repeating: -.infinity)
        for p in points { low = pointwiseMin(low, p); high = pointwiseMax(high, p) }
        // About two points per cell.
        let cellsPerSide = max(1, Int(pow(Double(n) / 2, 0.25)))
        let extent = pointwiseMax(high - low, SIMD4(repeating: 1e-6))
        let scale = SIMD4<Float>(repeating: Float(cellsPerSide)) / extent
        func cell(_ p: SIMD4<Float>) -> SIMD4<Int32> {
            let c = SIMD4<Int32>((p - low) * scale, rounding: .down)
            return pointwiseMin(pointwiseMax(c, .zero), SIMD4(repeating: Int32(cellsPerSide - 1)))
        }
        func key(_ c: SIMD4<Int32>) -> Int {
            let r = cellsPerSide
            return ((Int(c.w) * r + Int(c.z)) * r + Int(c.y)) * r + Int(c.x)
        }
        let cells = (0..<n).map { cell(points[$0]) }
        let total = cellsPerSide * cellsPerSide * cellsPerSide * cellsPerSide
        var start = [Int](repeating: 0, count: total + 1)
        for c in cells { start[key(c) + 1] += 1 }
        for k in 0..<total { start[k + 1] += start[k] }
        var order = [Int](repeating: 0, count: n)
        var next = start
        for (i, c) in cells.enumerated() { order[next[key(c)]] = i; next[key(c)] += 1 }
        let cellWidth = (extent / SIMD4(repeating: Float(cellsPerSide))).min()

        var out = [UInt32](repeating: 0, count: n * K)
        var best: [(distance: Float, index: Int)] = []
        for i in 0..<n {
            let p = points[i], home = cells[i]
            var ring: Int32 = 0
            best.removeAll(keepingCapacity: true)
            while true {
                // Visit the cells at Chebyshev distance `ring` from home.
                let r = ring
                for w in -r...r { for z in -r...r { for y in -r...r { for x in -r...r {
                    guard max(abs(w), abs(z), abs(y), abs(x)) == r else { continue }
                    let c = home &+ SIMD4(x, y, z, w)
                    guard all(c .>= .zero), all(c .< SIMD4(repeating: Int32(cellsPerSide))) else { continue }
                    let k = key(c)
                    for slot in start[k]..<start[k + 1] {
                        let j = order[slot]
                        guard j != i else { continue }
                        let d = p - points[j]
                        let distance = (d * d).sum()
                        if best.count < K {
                            best.append((distance, j))
                            if best.count == K { best.sort { $0.distance < $1.distance } }
                        } else if distance < best[K - 1].distance {
                            var at = K - 1
                            while at > 0 && best[at - 1].distance > distance { at -= 1 }
                            best.insert((distance, j), at: at)
                            best.removeLast()
                        }
                    }
                } } } }
                // Done when K are found and no unvisited cell can hold a nearer point.
                let reach = Float(ring) * cellWidth
                if best.count == K && best[K - 1].distance <= reach * reach { break }
                if Int(ring) >= cellsPerSide { break }
                ring += 1
            }
            if best.count < K { best.sort { $0.distance < $1.distance } }
            for k in 0..<K { out[i * K + k] = UInt32(best[min(k, best.count - 1)].index) }
        }
        return out
    }

    // MARK: Twin

    /// The velocity of a 4D Gaussian's sliced mean, A b / W (zero where W vanishes).
    public static func velocity(_ g: Gaussian4DParametersD) -> SIMD3<Double> {
        let F = GaussianSlice.factor(g)
        let b = F[3]
        let W = GaussianSlice.dot(b, b)
        guard W > 1e-30 else { return .zero }
        return SIMD3((0..<3).map { GaussianSlice.dot(F[$0], b) / W })
    }

    /// The regulariser's value, lambda / N sum_i |v_i - mean_j v_j|_1.
    public static func value(_ gaussians: [Gaussian4DParametersD], neighbours: [UInt32], count K: Int, weight: Double) -> Double {
        let v = gaussians.map(velocity)
        var sum = 0.0
        for i in v.indices {
            var mean = SIMD3<Double>.zero
            for k in 0..<K { mean += v[Int(neighbours[i * K + k])] }
            sum += (v[i] - mean / Double(K)).magnitudeSum
        }
        return weight * sum / Double(v.count)
    }

    /// Twin of velocity_consistency: the regulariser's gradient with respect
    /// to each Gaussian's log-scales and quaternions (other fields zero).
    public static func reference(_ gaussians: [Gaussian4DParametersD], neighbours: [UInt32], count K: Int,
                                 weight: Double) -> [Gaussian4DParametersD] {
        let n = gaussians.count
        let v = gaussians.map(velocity)
        var gv = [SIMD3<Double>](repeating: .zero, count: n)
        for i in 0..<n {
            var mean = SIMD3<Double>.zero
            for k in 0..<K { mean += v[Int(neighbours[i * K + k])] }
            let r = v[i] - mean / Double(K)
            let g = SIMD3(sign(r.x), sign(r.y), sign(r.z)) * (weight / Double(n))
            gv[i] += g
            for k in 0..<K { gv[Int(neighbours[i * K + k])] -= g / Double(K) }
        }
        return zip(gaussians, gv).map { velocityBackward($0, $1) }
    }

    /// The gradient of a Gaussian's raw parameters from dL/dv.
    public static func velocityBackward(_ g: Gaussian4DParametersD, _ gv: SIMD3<Double>) -> Gaussian4DParametersD {
        let F = GaussianSlice.factor(g)
        let b = F[3]
        let W = GaussianSlice.dot(b, b)
        var out = Gaussian4DParametersD.zero
        guard W > 1e-30 else { return out }
        let A = Array(F[0..<3])
        let Ab = A.map { GaussianSlice.dot($0, b) }
        let gvs = [gv.x, gv.y, gv.z]
        let gW = -GaussianSlice.dot(gvs, Ab) / (W * W)
        // gF rows: A's rows r get gv_r b_c / W; b gets A_c . gv / W + 2 gW b_c.
        var gF = [[Double]](repeating: [0, 0, 0, 0], count: 4)
        for c in 0..<4 {
            for r in 0..<3 { gF[r][c] = gvs[r] * b[c] / W }
            gF[3][c] = (0..<3).reduce(0.0) { $0 + A[$1][c] * gvs[$1] } / W + 2 * gW * b[c]
        }
        let R4 = GaussianSlice.rotation(left: g.left, right: g.right)
        let scale = SIMD4(exp(g.logScale.x), exp(g.logScale.y), exp(g.logScale.z), exp(g.logScale.w))
        var gR4 = [[Double]](repeating: [0, 0, 0, 0], count: 4)
        for c in 0..<4 {
            var sum = 0.0
            for r in 0..<4 { sum += gF[r][c] * R4[r][c]; gR4[r][c] = gF[r][c] * scale[c] }
            out.logScale[c] = sum * scale[c]
        }
        let Lq = GaussianSlice.leftIsoclinic(GaussianSlice.normalized(g.left))
        let Rq = GaussianSlice.rightIsoclinic(GaussianSlice.normalized(g.right))
        out.left = GaussianSlice.isoclinicBackward(g.left, GaussianSlice.multiply(gR4, GaussianSlice.transpose(Rq)), right: false)
        out.right = GaussianSlice.isoclinicBackward(g.right, GaussianSlice.multiply(GaussianSlice.transpose(Lq), gR4), right: true)
        return out
    }
}

/// GLSL's sign: -1, 0 or 1.
private func sign(_ x: Double) -> Double { x > 0 ? 1 : (x < 0 ? -1 : 0) }

private extension SIMD3 where Scalar == Double {
    var magnitudeSum: Double { abs(x) + abs(y) + abs(z) }
}
