import CShaderLayouts
import Compute
import ComputePrimitives
import Foundation

/// instant-ngp's multiscale occupancy grid and ray marcher (Mueller et al.
/// 2022, App. E), in the engine's unit space: cascade 0 is [0, 1]^3 and
/// cascade k covers 0.5 +- 2^(k-1), each with gridSize^3 cells holding an
/// exponential moving average of the optical thickness sigma dtMin, and one
/// occupancy bit per cell (thickness > min(0.01, mean)). Rays march in unit
/// space; samples are handed to the network in field space (the outermost
/// cascade's box mapped to [0, 1]^3).
///
/// An update: `recordUpdatePoints` picks random cells and a point in each;
/// the caller evaluates the density network on them; `recordUpdate` folds
/// the results into the grid (decay 0.95) and rebuilds the bitfield.
public final class OccupancyGrid {
    public struct Settings: Equatable, Codable {
        public var cascades = 1
        public var gridSize = 128
        public var decay: Float = 0.95
        public var threshold: Float = 0.01
        public var maxSamplesPerRay = 1024
        public var coneAngle: Float = 0
        /// Steps across cascade 0's diagonal at the finest step (instant-ngp: 1024).
        public var steps = 1024
        public init(cascades: Int = 1, gridSize: Int = 128, coneAngle: Float = 0, steps: Int = 1024) {
            self.cascades = cascades
            self.gridSize = gridSize
            self.coneAngle = coneAngle
            self.steps = steps
        }
        /// instant-ngp's settings for a scene box of `aabbScale` (a power of two):
        /// log2(aabb_scale) + 1 cascades, cone angle 1/256 when aabb_scale > 1.
        public static func instantNGP(aabbScale: Int, gridSize: Int = 128, steps: Int = 1024) -> Settings {
            let k = max(1, Int(log2(Double(max(1, aabbScale))).rounded(.up)) + 1)
            return Settings(cascades: k, gridSize: gridSize, coneAngle: aabbScale > 1 ? 1.0 / 256 : 0, steps: steps)
        }
        /// The smallest step: sqrt(3) / steps of cascade 0's box (instant-ngp: sqrt(3) / 1024).
        public var dtMin: Float { Float(3).squareRoot() / Float(steps) }
        /// The largest step: one cell diagonal of the outermost cascade.
        public var dtMax: Float { Float(3).squareRoot() * exp2(Float(cascades - 1)) / Float(gridSize) }
        public var cellCount: Int { cascades * gridSize * gridSize * gridSize }
    }

    public let device: ComputeDevice
    public let settings: Settings
    /// [cells] f32: optical thickness (EMA).
    public let grid: GPUBuffer
    /// [cells / 32] u32: occupancy bits.
    public let bitfield: GPUBuffer
    let scratch: GPUBuffer
    let total: GPUBuffer
    let pointsKernel, splatKernel, decayKernel, bitfieldKernel, countKernel: Kernel
    let reduction: Reduction
    let scan: PrefixSum
    let workgroupSize: Int
    let cells = ScratchBuffer(label: "occupancy update cells")
    let points = ScratchBuffer(label: "occupancy update points")
    let sampleTotal: GPUBuffer

    public init(device: ComputeDevice, settings: Settings) throws {
        // Sizes checked before the cell count is computed from them (it could
        // overflow); 8 cascades of 512^3 cells keep the kernels' 32-bit cell indices.
        guard (1...8).contains(settings.cascades), (2...NerfConfig.gridSizeRange.upperBound).contains(settings.gridSize),
              settings.cellCount % 32 == 0 else {
            throw ComputeError.invalidArgument("occupancy grid: 1-8 cascades and a size within 2...\(NerfConfig.gridSizeRange.upperBound) whose cell count is a multiple of 32 (got \(settings.cascades) x \(settings.gridSize)^3)")
        }
        // A step count out of range would make a ray through empty space
        // (practically) endless.
        guard NerfConfig.marchStepsRange.contains(settings.steps),
              (1...(1 << 16)).contains(settings.maxSamplesPerRay), settings.coneAngle >= 0, settings.coneAngle.isFinite,
              settings.decay >= 0, settings.decay <= 1, settings.threshold.isFinite else {
            throw ComputeError.invalidArgument("occupancy grid: steps \(settings.steps) (\(NerfConfig.marchStepsRange)), \(settings.maxSamplesPerRay) samples per ray, cone angle \(settings.coneAngle), decay \(settings.decay) or threshold \(settings.threshold) out of range")
        }
        self.device = device
        self.settings = settings
        workgroupSize = min(256, device.info.maxWorkgroupInvocations, device.info.maxWorkgroupSize[0])
        let n = settings.cellCount
        grid = try GPUBuffer(device: device, length: n * 4, label: "occupancy grid")
        bitfield = try GPUBuffer(device: device, length: n / 8, label: "occupancy bits")
        scratch = try GPUBuffer(device: device, length: n * 4, label: "occupancy scratch")
        total = try GPUBuffer(device: device, length: 16, label: "occupancy sum")
        sampleTotal = try GPUBuffer(device: device, length: 16, label: "ray march total")
        let push = MemoryLayout<OccupancyParams>.size
        let wg = UInt32(workgroupSize)
        pointsKernel = try device.kernel(ShaderLibrary.occupancyPoints, bindings: [.write, .write], pushConstantBytes: push, specialization: [wg])
        splatKernel = try device.kernel(ShaderLibrary.occupancyUpdate, bindings: [.read, .read, .readWrite, .readWrite],
                                        pushConstantBytes: push, specialization: [wg, 0, 0, 0])
        decayKernel = try device.kernel(ShaderLibrary.occupancyUpdate, bindings: [.read, .read, .readWrite, .readWrite],
                                        pushConstantBytes: push, specialization: [wg, 0, 0, 1])
        bitfieldKernel = try device.kernel(ShaderLibrary.occupancyBitfield, bindings: [.read, .read, .write], pushConstantBytes: push, specialization: [wg])
        countKernel = try device.kernel(ShaderLibrary.rayMarch, bindings: [.read, .read, .readWrite, .write, .write, .write, .write, .write, .readWrite],
                                        pushConstantBytes: push, specialization: [wg])
        reduction = try Reduction(device: device)
        scan = try PrefixSum(device: device)
        let stream = try CommandStream(device: device)
        stream.fill(grid, value: 0)
        stream.fill(scratch, value: 0)
        stream.fill(bitfield, value: 0)
        try stream.run()
    }

    func params(count: Int) -> OccupancyParams {
        var p = OccupancyParams()
        p.cascades = UInt32(settings.cascades)
        p.gridSize = UInt32(settings.gridSize)
        p.count = UInt32(count)
        p.maxSamples = UInt32(settings.maxSamplesPerRay)
        p.decay = settings.decay
        p.threshold = settings.threshold
        p.dtMin = settings.dtMin
        p.dtMax = settings.dtMax
        p.coneAngle = settings.coneAngle
        return p
    }

    func groups(_ n: Int) -> Int { (n + workgroupSize - 1) / workgroupSize }

    /// Marks every cell occupied (training starts from a full grid, as instant-ngp's first updates see everything).
    ///
    /// The cells start just above the 0.01 threshold, not far above it: an
    /// update decays only the cells it samples, so a cell that starts at
    /// thickness 1 needs ~90 samples (0.95^90 = 0.01) before it can be found
    /// empty, which on a CPU budget of 2^14 cells per update means thousands
    /// of steps of marching through empty space. Starting at 1.01 x 0.01,
    /// one sample that finds the cell empty clears it (instant-ngp samples
    /// every cell in each of its first updates, which a CPU cannot afford).
    public func recordFill(_ stream: CommandStream, thickness: Float? = nil) {
        let initial = thickness ?? settings.threshold * 1.01
        stream.fill(grid, value: initial.bitPattern)
        stream.fill(bitfield, value: ~0)
    }

    /// Records picking `count` random cells (from `seed`) and a point in
    /// each; returns (cells [count] u32, points [count, 3] f32 in field space).
    public func recordUpdatePoints(_ stream: CommandStream, count: Int, seed: UInt32) throws -> (cells: BufferSlice, points: BufferSlice) {
        let c = try cells.atLeast(max(4, count * 4), device: device).slice(offset: 0, length: count * 4)
        let p = try points.atLeast(max(4, count * 12), device: device).slice(offset: 0, length: count * 12)
        var push = params(count: count)
        push.seed = seed
        if count > 0 { try stream.dispatch(pointsKernel, [c, p], push: push, groups: groups(count), label: "occupancy points") }
        return (c, p)
    }

    /// Records folding the density network's outputs for the update points
    /// (raw log-density in column 0 of `density` [count, densityStride] f32)
    /// into the grid, then the bitfield.
    public func recordUpdate(_ stream: CommandStream, cells c: BufferRange, density: BufferRange, densityStride: Int, count: Int) throws {
        var push = params(count: count)
        push.densityStride = UInt32(densityStride)
        if count > 0 { try stream.dispatch(splatKernel, [c, density, scratch, grid], push: push, groups: groups(count), label: "occupancy splat") }
        if count > 0 { try stream.dispatch(decayKernel, [c, density, scratch, grid], push: push, groups: groups(count), label: "occupancy decay") }
        try recordBitfield(stream)
    }

    /// Records rebuilding the bitfield from the grid (threshold min(0.01, mean)).
    public func recordBitfield(_ stream: CommandStream) throws {
        let n = settings.cellCount
        try reduction.record(stream, .sumF32, input: grid, count: n, result: total.slice(offset: 0, length: 4))
        try stream.dispatch(bitfieldKernel, [grid, total, bitfield], push: params(count: n / 32), groups: groups(n / 32), label: "occupancy bits")
    }

    /// Samples of a batch of rays, in the layout `VolumeRenderer` reads.
    public struct Samples {
        /// Samples written.
        public var count: Int
        /// Leading rays kept (their samples fit the budget).
        public var rays: Int
        /// Samples all rays had.
        public var wanted: Int
        public let ranges: BufferRange    // [R, 2] u32
        public let points: BufferRange    // [S, 3] f32, field space
        public let directions: BufferRange // [S, 3] f32
        public let dt: BufferRange        // [S] f32
        public let t: BufferRange         // [S] f32
    }

    let rayCounts = ScratchBuffer(label: "ray march counts")
    let rayRanges = ScratchBuffer(label: "ray march ranges")
    let samplePoints = ScratchBuffer(label: "ray samples points")
    let sampleDirs = ScratchBuffer(label: "ray samples directions")
    let sampleDt = ScratchBuffer(label: "ray samples dt")
    let sampleT = ScratchBuffer(label: "ray samples t")

    /// Marches rays ([R, 6] f32 origin and unit direction, unit space) from
    /// `near`: counts, scans and reads the offsets back (one submit), keeps
    /// the leading rays whose samples fit `maxSamples` (all of them when they
    /// fit), grows the sample buffers on need, then writes those rays'
    /// samples (a second submit). `Samples.rays` says how many rays were kept,
    /// `wanted` how many samples all `rayCount` rays had.
    ///
    /// With `rayNear` ([R] f32) each ray starts at its own t instead of
    /// `near`, and the write pass stores where it stopped there (-1 once it
    /// left the grid); `samplesPerRay` caps each ray's samples (default: the
    /// settings' `maxSamplesPerRay`). Together they march in rounds.
    public func march(rays: BufferRange, rayCount: Int, near: Float, maxSamples: Int = .max,
                      rayNear: BufferRange? = nil, samplesPerRay: Int? = nil) throws -> Samples {
        let counts = try rayCounts.atLeast(max(4, rayCount * 4), device: device).slice(offset: 0, length: max(4, rayCount * 4))
        let ranges = try rayRanges.atLeast(max(8, rayCount * 8), device: device).slice(offset: 0, length: max(8, rayCount * 8))
        var push = params(count: rayCount)
        push.near = near
        if let samplesPerRay { push.maxSamples = UInt32(max(1, samplesPerRay)) }
        if rayNear != nil { push.flags = OCC_FLAG_RAY_NEAR }
        let nearB = rayNear ?? counts
        let stream = try CommandStream(device: device)
        if rayCount > 0 {
            let dummy = counts
            try stream.dispatch(countKernel, [rays, bitfield, counts, ranges, dummy, dummy, dummy, dummy, nearB],
                                push: push, groups: groups(rayCount), label: "ray march count")
        }
        try scan.record(stream, input: counts, output: counts, count: rayCount, total: sampleTotal.slice(offset: 0, length: 4))
        try stream.run()
        let wanted = Int(try sampleTotal.read(UInt32.self, count: 1, device: device)[0])
        var kept = rayCount, total = wanted
        if wanted > maxSamples {
            // Exclusive offsets: the first k rays have offsets[k] samples (all of them: wanted).
            let offsets = try counts.buffer.read(UInt32.self, count: rayCount, device: device)
            func samples(ofFirst k: Int) -> Int { k < rayCount ? Int(offsets[k]) : wanted }
            var lo = 0, hi = rayCount
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if samples(ofFirst: mid) <= maxSamples { lo = mid } else { hi = mid - 1 }
            }
            kept = lo
            total = samples(ofFirst: kept)
        }
        let s = max(1, total)
        let pts = try samplePoints.atLeast(s * 12, device: device).slice(offset: 0, length: s * 12)
        let dirs = try sampleDirs.atLeast(s * 12, device: device).slice(offset: 0, length: s * 12)
        let dt = try sampleDt.atLeast(s * 4, device: device).slice(offset: 0, length: s * 4)
        let t = try sampleT.atLeast(s * 4, device: device).slice(offset: 0, length: s * 4)
        let write = try CommandStream(device: device)
        push.flags |= OCC_FLAG_WRITE
        push.count = UInt32(kept)
        if kept > 0 {
            try write.dispatch(countKernel, [rays, bitfield, counts, ranges, pts, dirs, dt, t, nearB],
                               push: push, groups: groups(kept), label: "ray march write")
        }
        try write.run()
        return Samples(count: total, rays: kept, wanted: wanted, ranges: ranges, points: pts, directions: dirs, dt: dt, t: t)
    }

    // MARK: Swift twins

    static func cascade(_ p: SIMD3<Float>, cascades: Int) -> Int {
        let m = max(abs(p.x - 0.5), max(abs(p.y - 0.5), abs(p.z - 0.5)))
        // GLSL frexp's exponent (m = f 2^e, f in [0.5, 1); 0 for m = 0).
        let e = m == 0 ? 0 : Int(m.exponent) + 1
        return min(max(e + 1, 0), cascades - 1)
    }

    static func cell(_ p: SIMD3<Float>, cascade k: Int, gridSize g: Int) -> Int {
        let product = (p - SIMD3(repeating: 0.5)) * exp2(-Float(k))
        let q = product + SIMD3(repeating: 0.5)
        let scaled = q * Float(g)
        let c = SIMD3<Int>(Int(scaled.x.rounded(.down)), Int(scaled.y.rounded(.down)), Int(scaled.z.rounded(.down)))
        let cl = SIMD3<Int>(min(max(c.x, 0), g - 1), min(max(c.y, 0), g - 1), min(max(c.z, 0), g - 1))
        return cl.x + g * (cl.y + g * cl.z) + k * g * g * g
    }

    static func hash(_ v: UInt32) -> UInt32 {
        var x = v &* 747_796_405 &+ 2_891_336_453
        x = ((x >> ((x >> 28) &+ 4)) ^ x) &* 277_803_737
        return (x >> 22) ^ x
    }

    /// The Swift twin of `recordUpdatePoints`: (cells, field-space points).
    public static func referencePoints(count: Int, seed: UInt32, settings s: Settings) -> (cells: [UInt32], points: [SIMD3<Float>]) {
        let g = UInt32(s.gridSize), g3 = g * g * g
        var cells: [UInt32] = [], points: [SIMD3<Float>] = []
        for i in 0..<UInt32(count) {
            let h = hash(seed ^ hash(i))
            let cell = h % (UInt32(s.cascades) * g3)
            let k = cell / g3, r = cell % g3
            let c = SIMD3<Float>(Float(r % g), Float((r / g) % g), Float(r / (g * g)))
            let h1 = hash(h), h2 = hash(h1), h3 = hash(h2)
            let jitter = SIMD3<Float>(Float(h1 >> 8), Float(h2 >> 8), Float(h3 >> 8)) * (1.0 / 16_777_216.0)
            let q = (c + jitter) / Float(g)
            let p = (q - SIMD3(repeating: 0.5)) * exp2(Float(k)) + SIMD3(repeating: 0.5)
            cells.append(cell)
            points.append((p - SIMD3(repeating: 0.5)) * exp2(-Float(s.cascades - 1)) + SIMD3(repeating: 0.5))
        }
        return (cells, points)
    }

    /// The Swift twin of the update (splat + decay): the new grid.
    public static func referenceUpdate(grid: [Float], cells: [UInt32], rawDensity: [Float], settings: Settings) -> [Float] {
        var fresh = [Float](repeating: 0, count: grid.count)
        for (c, raw) in zip(cells, rawDensity) { fresh[Int(c)] = max(fresh[Int(c)], max(exp(raw) * settings.dtMin, 0)) }
        // Cells this update did not sample keep their value.
        return zip(grid, fresh).map { $1 > 0 ? max($0 * settings.decay, $1) : $0 }
    }

    /// The Swift twin of the bitfield.
    public static func referenceBitfield(grid: [Float], settings: Settings) -> [UInt32] {
        let mean = grid.reduce(0, +) / Float(grid.count)
        let threshold = min(settings.threshold, mean)
        return (0..<(grid.count / 32)).map { w in
            var word: UInt32 = 0
            for b in 0..<32 where grid[32 * w + b] > threshold { word |= 1 << UInt32(b) }
            return word
        }
    }

    /// The Swift twin of `march` for one ray: its samples' (t, dt) and field-space points.
    public static func referenceMarch(origin o: SIMD3<Float>, direction d: SIMD3<Float>, near: Float, bits: [UInt32],
                                      settings s: Settings) -> [(t: Float, dt: Float, point: SIMD3<Float>)] {
        referenceMarchRound(origin: o, direction: d, near: near, maxSamples: s.maxSamplesPerRay, bits: bits, settings: s).samples
    }

    /// The twin of one round of `march` with `rayNear`: at most `maxSamples`
    /// samples from `near`, and the t where the ray stopped (-1: it left the grid).
    public static func referenceMarchRound(origin o: SIMD3<Float>, direction d: SIMD3<Float>, near: Float, maxSamples: Int, bits: [UInt32],
                                           settings s: Settings) -> (samples: [(t: Float, dt: Float, point: SIMD3<Float>)], stop: Float) {
        let half = 0.5 * exp2(Float(s.cascades - 1))
        let safe = SIMD3<Float>(d.x == 0 ? 1e-9 : d.x, d.y == 0 ? 1e-9 : d.y, d.z == 0 ? 1e-9 : d.z)
        let inv = SIMD3<Float>(repeating: 1) / safe
        let ta = (SIMD3(repeating: 0.5 - half) - o) * inv, tb = (SIMD3(repeating: 0.5 + half) - o) * inv
        let tlo = pointwiseMin(ta, tb), thi = pointwiseMax(ta, tb)
        let tEnter = max(max(tlo.x, tlo.y), tlo.z), tExit = min(min(thi.x, thi.y), thi.z)
        var t = max(tEnter, near)
        var out: [(Float, Float, SIMD3<Float>)] = []
        let g = s.gridSize
        while t < tExit && out.count < maxSamples {
            let td = t * d
            let p = o + td
            let dt = min(max(t * s.coneAngle, s.dtMin), s.dtMax)
            let k = cascade(p, cascades: s.cascades)
            let c = cell(p, cascade: k, gridSize: g)
            if bits[c >> 5] & (1 << UInt32(c & 31)) != 0 {
                let f = (p - SIMD3(repeating: 0.5)) * exp2(-Float(s.cascades - 1)) + SIMD3(repeating: 0.5)
                out.append((t, dt, f))
                t += dt
            } else {
                let scale = exp2(Float(k))
                let product = (p - SIMD3(repeating: 0.5)) * exp2(-Float(k))
                let q = product + SIMD3(repeating: 0.5)
                let qs = q * Float(g)
                let cf = SIMD3<Float>(min(max(qs.x.rounded(.down), 0), Float(g) - 1), min(max(qs.y.rounded(.down), 0), Float(g) - 1),
                                      min(max(qs.z.rounded(.down), 0), Float(g) - 1))
                let stepUp = SIMD3<Float>(d.x >= 0 ? 1 : 0, d.y >= 0 ? 1 : 0, d.z >= 0 ? 1 : 0)
                let plane = ((cf + stepUp) / Float(g) - SIMD3(repeating: 0.5)) * scale + SIMD3(repeating: 0.5)
                let tp = (plane - o) * inv
                let tLeave = min(min(tp.x, tp.y), tp.z)
                t += dt * max(1, ((tLeave - t) / dt).rounded(.up))
            }
        }
        return (out.map { (t: $0.0, dt: $0.1, point: $0.2) }, t < tExit ? t : -1)
    }
}
