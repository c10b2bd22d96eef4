import CShaderLayouts
import Compute
import ComputePrimitives
import Datasets
import Foundation

/// The tile-based Gaussian rasterizer on the compute core, forward and backward.
///
/// One pipeline with explicit variation points (docs/architecture.md):
/// `splat_prepare_3d` runs the 3D kind's front end (scale + quaternion ->
/// covariance factor, SH -> an RGB payload) inside the shared projection
/// stage (gsplat classic: EWA with 0.3 dilation, opacity-aware extents) and
/// counts the 16x16 tiles each splat touches; a prefix sum turns the counts
/// into offsets and a total (read back to size the key buffers, which grow on
/// need); `splat_emit` writes one (tile | depth) key per intersection;
/// `RadixSort` sorts them on 32 + ceil(log2 tiles) bits; `splat_ranges`
/// finds each tile's span; and `splat_blend` blends each tile's payload
/// channels (any C, or K sparse pairs over L channels; `PayloadLayout`) with
/// alpha compositing or additive accumulation (`BlendMode`).
///
/// The camera and per-frame values live in a uniform buffer (`RasterFrame`);
/// the Gaussians stay on the GPU as the structure of arrays of raw trainable
/// parameters that training uses too (`schema` order). Every buffer is reused
/// across frames and only grows.
public final class GaussianRasterizer {
    public let device: ComputeDevice
    let sorter: RadixSort
    let scan: PrefixSum
    /// The prepare kernels (forward, backward) of each kind, by schema kind:
    /// the 3D kind's made at once, others on first use.
    private var prepareKernels: [String: (forward: Kernel, backward: Kernel)] = [:]
    let emitKernel: Kernel
    let rangesKernel: Kernel
    let workgroupSize: Int
    let splatBytes = MemoryLayout<ProjectedSplat>.stride
    /// Pixels each thread of the blend kernels handles (a divisor of the tile size).
    let pixelsPerThread: Int
    /// Blend kernels (forward, backward) per specialisation, made on first use.
    private var blendKernels: [BlendVariant: (forward: Kernel, backward: Kernel?)] = [:]

    /// The model's parameter groups: what each holds and in which order.
    public private(set) var schema = GaussianSchema.gaussians3D(shDegree: 0)
    /// Whether the model is 4D (space-time) Gaussians, sliced at each frame's time.
    public var hasTime: Bool { schema.kind == GaussianSchema.kind4D }
    /// Whether the model holds 2D image-plane Gaussians (kind image2d).
    public var isImage2D: Bool { schema.kind == GaussianSchema.kindImage2D }
    /// One buffer per schema group, in schema order: for 3D Gaussians
    /// [N, 3], [N, 3], [N, 4], [N], [N, 3], [N, 3, K-1] f32.
    private var parameters: [GPUBuffer] = []
    /// The gradient of each group, in schema order (after a backward pass).
    private var gradientBuffers: [ScratchBuffer] = []
    public private(set) var gaussianCount = 0
    /// Gaussians per binding of the chunked per-Gaussian buffers.
    public private(set) var chunkGaussians = 1
    /// Forces small chunks so tests cover the multi-binding path on any device.
    var chunkGaussiansForTesting: Int?
    public private(set) var modelSHDegree = 0

    // Per-frame buffers, grown on need.
    private let frameUniform: GPUBuffer
    private let splats = ScratchBuffer(label: "projected splats")
    private let payloadOut = ScratchBuffer(label: "payload")
    private let backgroundIn = ScratchBuffer(label: "background")
    private let touched = ScratchBuffer(label: "tiles touched")
    private let offsets = ScratchBuffer(label: "tile offsets")
    private let keys = ScratchBuffer(label: "tile keys")
    private let values = ScratchBuffer(label: "tile values")
    private let ranges = ScratchBuffer(label: "tile ranges")
    private let colorOut = ScratchBuffer(label: "color")
    private let depthOut = ScratchBuffer(label: "depth")
    private let transmittanceOut = ScratchBuffer(label: "transmittance")
    private let countOut = ScratchBuffer(label: "contributors")
    private let counters: GPUBuffer  // [0] intersections total, [1] non-finite Gaussians
    private let gradColorIn = ScratchBuffer(label: "grad colour")
    private let gradAlphaIn = ScratchBuffer(label: "grad alpha")
    private let gradDepthIn = ScratchBuffer(label: "grad depth")
    private let splatGradients = ScratchBuffer(label: "splat gradients")
    private let payloadGradients = ScratchBuffer(label: "payload gradients")
    /// What the last frame was rendered with (the backward pass reuses it).
    private var lastFrame: (camera: RasterCamera, settings: RasterSettings, intersections: Int, payload: RasterPayload?)?
    private let prepareStream: CommandStream
    private let drawStream: CommandStream

    /// GPU time of the stages of the last frame, ms: prepare, bin, sort, blend, total.
    public private(set) var lastTimings: [String: Double] = [:]
    /// GPU milliseconds of the last `backwardOnDevice`: "blend" (zeroing and
    /// blend backward), "prepare" (prepare backward); empty without timestamps.
    public private(set) var lastBackwardTimings: [String: Double] = [:]
    /// Tile intersections of the last frame.
    public private(set) var lastIntersections = 0
    /// Gaussians skipped in the last frame for NaN/Inf parameters.
    public private(set) var lastInvalidCount = 0

    /// The blend kernels' pixels per thread for a device: 1 on GPUs; a whole
    /// tile column (16) on CPU drivers (lavapipe), where a workgroup runs as
    /// subgroups of SIMD lanes, each splat read from shared memory then serves
    /// 16 pixels, and the blend backward's per-splat subgroup sums and atomics
    /// (executed lane by lane on a CPU) cover twice the pixels they do at 8
    /// (docs/measurements.md).
    public static func preferredPixelsPerThread(for info: DeviceInfo) -> Int { info.kind == .cpu ? 16 : 1 }

    /// The accumulators (pixels per thread x channels per chunk) a blend
    /// thread keeps at most before the host lowers the pixels per thread for
    /// wide payloads (CPU drivers, which give a thread 16 pixels). Chosen by
    /// measurement on lavapipe (docs/measurements.md): C = 64 in chunks of 16
    /// was fastest at 8 pixels per thread; K = 4 sparse pairs over L = 64
    /// channels in one chunk at 8 (1 to 16 tried).
    static let denseAccumulatorFloats = 128
    static let sparseAccumulatorFloats = 512

    /// The widest channel chunk one blend workgroup handles (dense payloads);
    /// sparse payloads take up to `maxSparseChunk` channels per workgroup,
    /// since each splat adds to only K of them.
    static let maxDenseChunk = 16
    static let maxSparseChunk = 64

    /// `pixelsPerThread` (a divisor of 16) overrides the device's preferred value;
    /// tests run both.
    public init(device: ComputeDevice, pixelsPerThread: Int? = nil) throws {
        self.device = device
        let info = device.info
        let tileThreads = rasterTileSize * rasterTileSize
        if info.maxWorkgroupInvocations < tileThreads || info.maxWorkgroupSize[0] < rasterTileSize || info.maxWorkgroupSize[1] < rasterTileSize {
            throw ComputeError.limitExceeded(limit: "maxComputeWorkGroupInvocations (one thread per pixel of a 16x16 tile)",
                                             requested: tileThreads, maximum: info.maxWorkgroupInvocations)
        }
        let sharedBytes = Self.blendSharedBytes(stagedFloats: 3)
        if info.maxSharedMemoryBytes < sharedBytes {
            throw ComputeError.limitExceeded(limit: "maxComputeSharedMemorySize (blend batches)", requested: sharedBytes,
                                             maximum: info.maxSharedMemoryBytes)
        }
        scan = try PrefixSum(device: device)
        sorter = try RadixSort(device: device, scan: scan)
        workgroupSize = min(256, info.maxWorkgroupInvocations, info.maxWorkgroupSize[0])
        let spec = [UInt32(workgroupSize)]
        let push = MemoryLayout<RasterDispatch>.size
        let chunkedReads = [BufferAccess](repeating: .read, count: Int(RASTER_CHUNKS))
        emitKernel = try device.kernel(ShaderLibrary.splatEmit, bindings: chunkedReads + [.read, .read, .write, .write, .uniform],
                                       pushConstantBytes: push, specialization: spec)
        rangesKernel = try device.kernel(ShaderLibrary.splatRanges, bindings: [.read, .write],
                                         pushConstantBytes: push, specialization: spec)
        // Pixels per blend thread, forward and backward: 1 on GPUs; several on CPU
        // drivers, which run a workgroup on one core and gain from reusing each
        // shared-memory read (and, backward, from fewer subgroup sums and atomics).
        let ppt = pixelsPerThread ?? Self.preferredPixelsPerThread(for: info)
        guard ppt > 0, rasterTileSize % ppt == 0 else {
            throw ComputeError.invalidArgument("pixels per blend thread must divide \(rasterTileSize), got \(ppt)")
        }
        self.pixelsPerThread = ppt
        frameUniform = try GPUBuffer(device: device, length: MemoryLayout<RasterFrame>.size, label: "raster frame")
        counters = try GPUBuffer(device: device, length: 16, label: "raster counters")
        prepareStream = try CommandStream(device: device)
        drawStream = try CommandStream(device: device)
        _ = try frontEndKernels(for: schema)
    }

    /// The prepare kernels of `schema`'s kind (made on first use). Each
    /// binds the kind's parameter groups in schema order (chunked groups as
    /// RASTER_CHUNKS slices), then the shared stage's buffers, then (backward)
    /// one gradient output per parameter binding.
    func frontEndKernels(for schema: GaussianSchema) throws -> (forward: Kernel, backward: Kernel) {
        if let kernels = prepareKernels[schema.kind] { return kernels }
        let sources: (forward: SPIRVBinary, backward: SPIRVBinary)
        switch schema.kind {
        case "gaussians": sources = (ShaderLibrary.splatPrepare3d, ShaderLibrary.splatPrepare3dBackward)
        case GaussianSchema.kind4D: sources = (ShaderLibrary.splatPrepare4d, ShaderLibrary.splatPrepare4dBackward)
        case GaussianSchema.kindImage2D: sources = (ShaderLibrary.splatPrepare2d, ShaderLibrary.splatPrepare2dBackward)
        default: throw ComputeError.invalidArgument("the rasterizer has no front end for Gaussians of kind \(schema.kind)")
        }
        let spec = [UInt32(workgroupSize)]
        let push = MemoryLayout<RasterDispatch>.size
        let chunks = Int(RASTER_CHUNKS)
        let reads = schema.groups.flatMap { [BufferAccess](repeating: .read, count: Self.chunkedGroups.contains($0.name) ? chunks : 1) }
        let writes = reads.map { _ in BufferAccess.write }
        let chunkedReads = [BufferAccess](repeating: .read, count: chunks)
        let chunkedWrites = [BufferAccess](repeating: .write, count: chunks)
        let forward = try device.kernel(sources.forward, bindings: reads + [.uniform] + chunkedWrites + chunkedWrites + [.write, .readWrite],
                                        pushConstantBytes: push, specialization: spec)
        let backward = try device.kernel(sources.backward, bindings: reads + [.uniform, .read, .read] + chunkedReads + writes,
                                         pushConstantBytes: push, specialization: spec)
        prepareKernels[schema.kind] = (forward, backward)
        return (forward, backward)
    }

    /// Shared memory of the blend backward (the larger of the two blend
    /// kernels) for `stagedFloats` payload floats per staged splat: two vec4,
    /// an index and the payload per splat of a batch, plus two counters.
    static func blendSharedBytes(stagedFloats: Int, batch: Int = Int(RASTER_BATCH)) -> Int { batch * (36 + 4 * stagedFloats) + 8 }

    /// The specialisation of the blend kernels for a payload and blend mode
    /// on this device: channels per workgroup (a chunk of the C channels, or
    /// up to 64 of the L channels of a sparse payload), as wide as shared
    /// memory allows; pixels per thread lowered where the chunk is wide, to
    /// bound each thread's accumulators.
    func blendVariant(_ layout: PayloadLayout, _ mode: BlendMode) throws -> BlendVariant {
        let info = device.info
        let widest = layout.sparsePairs > 0 ? Self.maxSparseChunk : Self.maxDenseChunk
        let pieces = (layout.channels + widest - 1) / widest
        var chunk = (layout.channels + pieces - 1) / pieces
        let groups = layout.sparsePairs > 0 ? layout.sparseGroups : 1
        // Grouped sparse pairs: one chunk per group (its channels), its pairs alone staged.
        if groups > 1 { chunk = layout.channels / groups }
        func staged(_ chunk: Int) -> Int { layout.sparsePairs > 0 ? 2 * layout.sparsePairs / groups : chunk }
        while groups == 1 && chunk > 1 && Self.blendSharedBytes(stagedFloats: staged(chunk)) > info.maxSharedMemoryBytes { chunk = (chunk + 1) / 2 }
        // Wide sparse payloads (many pairs) stage fewer splats per round instead.
        var batch = Int(RASTER_BATCH)
        while batch > 32 && Self.blendSharedBytes(stagedFloats: staged(chunk), batch: batch) > info.maxSharedMemoryBytes { batch /= 2 }
        let shared = Self.blendSharedBytes(stagedFloats: staged(chunk), batch: batch)
        guard shared <= info.maxSharedMemoryBytes else {
            throw ComputeError.limitExceeded(limit: "maxComputeSharedMemorySize (blend batches of \(layout.sparsePairs) sparse pairs)",
                                             requested: shared, maximum: info.maxSharedMemoryBytes)
        }
        var ppt = pixelsPerThread
        let registers = layout.sparsePairs > 0 ? Self.sparseAccumulatorFloats : Self.denseAccumulatorFloats
        while ppt > 1 && ppt * chunk > registers { ppt /= 2 }
        return BlendVariant(channels: layout.channels, sparsePairs: layout.sparsePairs, chunk: chunk, mode: mode, pixelsPerThread: ppt,
                            batch: batch, sparseGroups: groups)
    }

    func blendKernels(_ variant: BlendVariant) throws -> (forward: Kernel, backward: Kernel?) {
        if let made = blendKernels[variant] { return made }
        let chunks = Int(RASTER_CHUNKS)
        let chunkedReads = [BufferAccess](repeating: .read, count: chunks)
        let spec: [UInt32] = [0, 0, UInt32(rasterTileSize / variant.pixelsPerThread), UInt32(variant.pixelsPerThread),
                              UInt32(variant.channels), UInt32(variant.chunk), UInt32(variant.sparsePairs),
                              variant.mode == .additive ? RASTER_BLEND_ADDITIVE : RASTER_BLEND_ALPHA, UInt32(variant.batch),
                              UInt32(variant.sparseGroups)]
        let push = MemoryLayout<RasterDispatch>.size
        let forward = try device.kernel(ShaderLibrary.splatBlend,
                                        bindings: chunkedReads + chunkedReads + [.read, .read, .uniform, .read, .write, .write, .write, .write],
                                        pushConstantBytes: push, specialization: spec)
        let backward = device.info.float32AtomicAdd
            ? try device.kernel(ShaderLibrary.splatBlendBackward,
                                bindings: chunkedReads + chunkedReads + [.read, .read, .uniform, .read, .read, .read, .read, .read, .read, .readWrite]
                                    + [BufferAccess](repeating: .readWrite, count: chunks),
                                pushConstantBytes: push, specialization: spec)
            : nil
        blendKernels[variant] = (forward, backward)
        return (forward, backward)
    }

    /// Uploads a model; it stays on the GPU until the next call.
    public func setModel(_ model: GaussianModel) throws {
        if let problem = model.shapeProblem() { throw ComputeError.invalidArgument("model: \(problem)") }
        let n = model.count
        let schema = model.schema
        _ = try frontEndKernels(for: schema)
        parameters = try zip(schema.groups, model.parameterGroups).map { group, values in
            try GPUBuffer(device: device, values.isEmpty ? [0] : values, label: group.name)
        }
        if gradientBuffers.map(\.label) != schema.groups.map({ "grad \($0.name)" }) {
            gradientBuffers = schema.groups.map { ScratchBuffer(label: "grad \($0.name)") }
        }
        self.schema = schema
        gaussianCount = n
        modelSHDegree = model.shDegree
        chunkGaussians = try chunkSize(count: n)
    }

    /// The 3D front end's buffers, as its kernels bind them: the groups in
    /// schema order, chunked groups as RASTER_CHUNKS slices.
    func frontEndBindings(_ buffers: [GPUBuffer]) -> [BufferRange] {
        let n = gaussianCount
        return zip(schema.groups, buffers).flatMap { group, buffer -> [BufferRange] in
            guard Self.chunkedGroups.contains(group.name) else { return [buffer.slice(offset: 0, length: buffer.length)] }
            let bytes = max(4, group.floatsPerGaussian * 4)
            return chunked(buffer, itemBytes: bytes, count: group.floatsPerGaussian > 0 ? n : 1)
        }
    }

    /// The groups the 3D front end binds as chunked slices (they may outgrow
    /// one binding): SH rest.
    static let chunkedGroups: Set<String> = ["sh_rest"]

    /// Bytes per Gaussian of every chunked group of the current model.
    var chunkedBytesPerGaussian: [Int] {
        schema.groups.filter { Self.chunkedGroups.contains($0.name) }.map { 4 * $0.floatsPerGaussian }
    }

    /// The widest payload (bytes per Gaussian) the chunked bindings are sized
    /// for: RGB until a wider payload is rendered.
    public private(set) var maxPayloadBytesPerGaussian = 12

    func chunkSize(count n: Int) throws -> Int {
        try Self.chunkSize(count: n, bytesPerGaussian: chunkedBytesPerGaussian + [maxPayloadBytesPerGaussian], info: device.info,
                           override: chunkGaussiansForTesting)
    }

    /// Gaussians per binding of the chunked buffers (SH rest, projected
    /// splats, payload): as many as one binding's range holds, a multiple of
    /// 64 so that every slice offset meets minStorageBufferOffsetAlignment; up
    /// to RASTER_CHUNKS bindings, beyond which the model does not fit and the
    /// error says why.
    static func chunkSize(count n: Int, bytesPerGaussian: [Int], info: DeviceInfo, override: Int?) throws -> Int {
        let range = info.maxStorageBufferRange
        var limit = range / MemoryLayout<ProjectedSplat>.stride
        for bytes in bytesPerGaussian where bytes > 0 { limit = min(limit, range / bytes) }
        limit = limit / 64 * 64
        if let override { limit = min(limit, override) }
        let chunks = Int(RASTER_CHUNKS)
        guard limit > 0, n <= limit * chunks else {
            throw ComputeError.limitExceeded(
                limit: "maxStorageBufferRange (\(formatBytes(range)) per binding, \(chunks) bindings of per-Gaussian data)",
                requested: n, maximum: limit * chunks)
        }
        return max(1, limit)
    }

    /// `chunks` slices of `itemBytes`-sized items (the last may be short); slices
    /// past the data repeat the first, since every binding must hold a buffer.
    func chunked(_ buffer: GPUBuffer, itemBytes: Int, count: Int) -> [BufferRange] {
        let chunks = Int(RASTER_CHUNKS)
        var out: [BufferRange] = []
        for c in 0..<chunks {
            let first = c * chunkGaussians
            if first < count || c == 0 {
                let items = max(1, min(chunkGaussians, count - first))
                out.append(buffer.slice(offset: first * itemBytes, length: items * itemBytes))
            } else {
                out.append(out[0])
            }
        }
        return out
    }

    /// The per-frame uniform block for `camera`.
    func frameValues(_ camera: RasterCamera, _ settings: RasterSettings, channels: Int) -> RasterFrame {
        let r = camera.rotation, t = camera.translation, c = camera.position
        let degree = min(settings.shDegree ?? modelSHDegree, modelSHDegree)
        var f = RasterFrame()
        (f.fx, f.fy, f.cx, f.cy) = (camera.fx, camera.fy, camera.cx, camera.cy)
        (f.r00, f.r01, f.r02) = (r[0], r[1], r[2])
        (f.r10, f.r11, f.r12) = (r[3], r[4], r[5])
        (f.r20, f.r21, f.r22) = (r[6], r[7], r[8])
        (f.tx, f.ty, f.tz) = (t[0], t[1], t[2])
        (f.camX, f.camY, f.camZ) = (c.x, c.y, c.z)
        f.time = settings.time
        (f.width, f.height) = (UInt32(camera.width), UInt32(camera.height))
        (f.tilesX, f.tilesY) = (UInt32(camera.tilesX), UInt32(camera.tilesY))
        f.restPerChannel = UInt32((modelSHDegree + 1) * (modelSHDegree + 1) - 1)
        f.shDegree = UInt32(max(0, degree))
        f.pixelScale = 1
        f.channels = UInt32(channels)
        return f
    }

    /// Push constants of a per-Gaussian or per-tile dispatch.
    func dispatchValues(_ settings: RasterSettings, count: Int, payload: PayloadLayout, flags: UInt32 = 0) -> RasterDispatch {
        var d = RasterDispatch()
        d.count = UInt32(count)
        d.chunk = UInt32(chunkGaussians)
        d.flags = (settings.antialias ? RASTER_FLAG_ANTIALIAS : 0) | flags
        d.payloadStride = UInt32(payload.stride)
        return d
    }

    /// The payload a frame blends: the caller's, or the front end's RGB.
    func payloadLayout(_ payload: RasterPayload?) -> PayloadLayout { payload?.layout ?? .rgb }

    /// Renders one frame and downloads it.
    public func render(camera: RasterCamera, settings: RasterSettings, payload: RasterPayload? = nil) throws -> RasterImage {
        try renderOnDevice(camera: camera, settings: settings, payload: payload)
        return try download(camera: camera)
    }

    /// Renders one frame into the output buffers without downloading.
    /// `payload` replaces the front end's RGB payload by the caller's
    /// [N, stride] buffer (kinds whose payload is a parameter, and tests).
    public func renderOnDevice(camera: RasterCamera, settings: RasterSettings, payload external: RasterPayload? = nil) throws {
        guard camera.width > 0, camera.height > 0 else {
            throw ComputeError.invalidArgument("camera resolution \(camera.width)x\(camera.height) is empty")
        }
        let maxSide = 65535 * rasterTileSize
        guard camera.width <= maxSide, camera.height <= maxSide, camera.width * camera.height <= 1 << 28 else {
            throw ComputeError.limitExceeded(limit: "image size (pixels)", requested: camera.width * camera.height, maximum: 1 << 28)
        }
        guard [camera.fx, camera.fy, camera.cx, camera.cy].allSatisfy(\.isFinite), camera.fx > 0, camera.fy > 0,
              (camera.rotation + camera.translation).allSatisfy(\.isFinite) else {
            // Scene cameras are checked with their image's name when loaded (SceneImages); this names the values.
            throw ComputeError.invalidArgument("the camera has non-finite or non-positive intrinsics or pose (fx \(camera.fx), fy \(camera.fy), cx \(camera.cx), cy \(camera.cy), translation \(camera.translation))")
        }
        let n = gaussianCount
        let layout = payloadLayout(external)
        if let problem = layout.problem { throw ComputeError.invalidArgument("payload: \(problem)") }
        if let external, n > 0, external.buffer.length < n * layout.stride * 4 {
            throw ComputeError.invalidArgument("payload buffer holds \(external.buffer.length) bytes; \(n) Gaussians of \(layout.stride) floats need \(n * layout.stride * 4)")
        }
        if layout.stride * 4 > maxPayloadBytesPerGaussian {
            maxPayloadBytesPerGaussian = layout.stride * 4
            chunkGaussians = try chunkSize(count: n)
        }
        let background = settings.channelBackground(channels: layout.channels)
        guard background.count == layout.channels else {
            throw ComputeError.invalidArgument("background has \(background.count) values for \(layout.channels) channels")
        }
        let variant = try blendVariant(layout, settings.blendMode)
        let blend = try blendKernels(variant).forward
        let pixels = camera.width * camera.height
        let tiles = camera.tilesX * camera.tilesY
        let colorStride = (layout.channels + 1) * 4
        let colorB = try colorOut.atLeast(pixels * colorStride, device: device)
        let depthB = try depthOut.atLeast(pixels * 4, device: device)
        let tB = try transmittanceOut.atLeast(pixels * 4, device: device)
        let countB = try countOut.atLeast(pixels * 8, device: device)
        let rangesB = try ranges.atLeast(tiles * 8, device: device)
        let backgroundB = try backgroundIn.atLeast(layout.channels * 4, device: device)
        let frame = frameValues(camera, settings, channels: layout.channels)
        let p = dispatchValues(settings, count: n, payload: layout, flags: external == nil ? 0 : RASTER_FLAG_SKIP_PAYLOAD)
        let payloadBytes = layout.stride * 4

        // Phase 1: prepare and count intersections.
        prepareStream.reset()
        try prepareStream.mark("begin")
        prepareStream.update(frameUniform, with: frame)
        prepareStream.update(backgroundB, with: background)
        prepareStream.fill(counters, value: 0)
        var splatsB: GPUBuffer? = nil, touchedB: GPUBuffer? = nil, offsetsB: GPUBuffer? = nil
        var payloadB: GPUBuffer? = external?.buffer
        if n > 0 {
            splatsB = try splats.atLeast(n * splatBytes, device: device)
            touchedB = try touched.atLeast(n * 4, device: device)
            offsetsB = try offsets.atLeast(n * 4, device: device)
            let own = try payloadOut.atLeast(n * 12, device: device)
            payloadB = payloadB ?? own
            try prepareStream.dispatch(try frontEndKernels(for: schema).forward,
                                       frontEndBindings(parameters)
                                        + [frameUniform.slice(offset: 0, length: frameUniform.length)]
                                        + chunked(splatsB!, itemBytes: splatBytes, count: n)
                                        + chunked(own, itemBytes: 12, count: n)
                                        + [touchedB!.slice(offset: 0, length: n * 4), counters],
                                       push: p, groups: (n + workgroupSize - 1) / workgroupSize, label: "prepare")
            try prepareStream.mark("prepare")
            try scan.record(prepareStream, input: touchedB!.slice(offset: 0, length: n * 4),
                            output: offsetsB!.slice(offset: 0, length: n * 4), count: n,
                            total: counters.slice(offset: 0, length: 4))
            try prepareStream.mark("scan")
        }
        try prepareStream.run()
        let counts = try counters.read(UInt32.self, count: 2, device: device)
        let intersections = Int(counts[0])
        lastIntersections = intersections
        lastInvalidCount = Int(counts[1])
        var timings: [String: Double] = [:]
        for t in try prepareStream.timings() { timings[t.label, default: 0] += t.milliseconds }

        // Phase 2: keys, sort, ranges, blend.
        drawStream.reset()
        try drawStream.mark("begin")
        drawStream.fill(rangesB, value: 0, offset: 0, bytes: tiles * 8)
        let frameB = frameUniform.slice(offset: 0, length: frameUniform.length)
        var valuesSlice: BufferRange = rangesB  // placeholder when there is nothing to blend
        if intersections > 0, let splatsB, let touchedB, let offsetsB {
            let keysB = try keys.atLeast(intersections * 8, device: device)
            let valuesB = try values.atLeast(intersections * 4, device: device)
            try drawStream.dispatch(emitKernel, chunked(splatsB, itemBytes: splatBytes, count: n) + [touchedB.slice(offset: 0, length: n * 4),
                                                 offsetsB.slice(offset: 0, length: n * 4),
                                                 keysB.slice(offset: 0, length: intersections * 8),
                                                 valuesB.slice(offset: 0, length: intersections * 4), frameB],
                                    push: p, groups: (n + workgroupSize - 1) / workgroupSize, label: "emit")
            try drawStream.mark("bin")
            let tileBits = tiles <= 1 ? 0 : Int(ceil(log2(Double(tiles))))
            try sorter.record(drawStream, keys: keysB, values: valuesB, count: intersections, width: .bits64, keyBits: 32 + tileBits)
            try drawStream.mark("sort")
            var rp = p
            rp.count = UInt32(intersections)
            try drawStream.dispatch(rangesKernel, [keysB.slice(offset: 0, length: intersections * 8), rangesB.slice(offset: 0, length: tiles * 8)],
                                    push: rp, groups: (intersections + workgroupSize - 1) / workgroupSize, label: "ranges")
            valuesSlice = valuesB.slice(offset: 0, length: intersections * 4)
        } else {
            try drawStream.mark("bin")
            try drawStream.mark("sort")
        }
        let splatBindings: [BufferRange] = splatsB.map { chunked($0, itemBytes: splatBytes, count: n) }
            ?? [BufferRange](repeating: rangesB, count: Int(RASTER_CHUNKS))
        let payloadBindings: [BufferRange] = n > 0 ? chunked(payloadB!, itemBytes: payloadBytes, count: n)
            : [BufferRange](repeating: rangesB, count: Int(RASTER_CHUNKS))
        let channelChunks = (layout.channels + variant.chunk - 1) / variant.chunk
        try drawStream.dispatch(blend, splatBindings + payloadBindings + [
            valuesSlice, rangesB.slice(offset: 0, length: tiles * 8), frameB, backgroundB.slice(offset: 0, length: layout.channels * 4),
            colorB.slice(offset: 0, length: pixels * colorStride), depthB.slice(offset: 0, length: pixels * 4),
            tB.slice(offset: 0, length: pixels * 4), countB.slice(offset: 0, length: pixels * 8)],
            push: p, grid: (camera.tilesX, camera.tilesY, channelChunks), label: "blend")
        try drawStream.mark("blend")
        try drawStream.run()
        lastFrame = (camera, settings, intersections, external)
        for t in try drawStream.timings() { timings[t.label, default: 0] += t.milliseconds }
        let prepare = (timings["prepare"] ?? 0)
        let bin = (timings["scan"] ?? 0) + (timings["bin"] ?? 0)
        let sort = timings["sort"] ?? 0
        let blendTime = timings["blend"] ?? 0
        lastTimings = ["prepare": prepare, "bin": bin, "sort": sort, "blend": blendTime, "total": prepare + bin + sort + blendTime]
    }

    /// The backward pass of the last frame's blending: gradients of every
    /// Gaussian's projected quantities (2D mean, conic, effective opacity,
    /// depth) and of its payload ([N, stride], sparse: the weight slots)
    /// given dL/d(channels) [H, W, C], dL/d(alpha) and dL/d(depth) [H, W] of
    /// that frame (nil: zero, and the kernel skips the depth terms, as in
    /// training). Needs float atomics (the error says so).
    public func backwardBlend(gradColor: [Float], gradAlpha: [Float], gradDepth: [Float]?) throws -> (splats: [SplatGradient], payload: [Float]) {
        let zeros = gradDepth == nil ? [Float](repeating: 0, count: gradAlpha.count) : []
        let (gC, gA, gD) = try uploadUpstream(gradColor, gradAlpha, gradDepth ?? zeros)
        let stream = drawStream
        stream.reset()
        try recordBlendBackward(stream, gradColor: gC, gradAlpha: gA, gradDepth: gD, depthGradient: gradDepth != nil)
        try stream.run()
        let n = gaussianCount
        guard n > 0, let (_, _, _, payload) = lastFrame else { return ([], []) }
        let stride = payloadLayout(payload).stride
        return (try splatGradients.buffer!.read(SplatGradient.self, count: n, device: device),
                try payloadGradients.buffer!.read(Float.self, count: n * stride, device: device))
    }

    /// The whole backward pass of the last frame: blending, then projection,
    /// giving dL/d(raw parameters) in the model's own layout (a GaussianModel
    /// used as a container of gradients; SH up to the evaluated degree, zero
    /// above it and for culled Gaussians). `gradColor` is [H, W, C] for the
    /// frame's C payload channels.
    public func backward(gradColor: [Float], gradAlpha: [Float], gradDepth: [Float]) throws -> GaussianModel {
        let (gC, gA, gD) = try uploadUpstream(gradColor, gradAlpha, gradDepth)
        try backwardOnDevice(gradColor: gC, gradAlpha: gA, gradDepth: gD)
        let n = gaussianCount
        guard n > 0 else {
            return GaussianModel(shDegree: modelSHDegree, parameterGroups: schema.groups.map { _ in [] }, hasTime: hasTime, image2D: isImage2D)
        }
        return GaussianModel(shDegree: modelSHDegree, parameterGroups: try zip(schema.groups, gradientBuffers).map { group, buffer in
            try buffer.buffer!.read(Float.self, count: n * group.floatsPerGaussian, device: device)
        }, hasTime: hasTime, image2D: isImage2D)
    }

    /// dL/d(payload) of the last backward pass: [N, stride] f32 (sparse: the weight slots).
    public func payloadGradient() throws -> [Float] {
        guard gaussianCount > 0, let (_, _, _, payload) = lastFrame, let b = payloadGradients.buffer else { return [] }
        return try b.read(Float.self, count: gaussianCount * payloadLayout(payload).stride, device: device)
    }

    private func uploadUpstream(_ gradColor: [Float], _ gradAlpha: [Float], _ gradDepth: [Float]) throws -> (BufferRange, BufferRange, BufferRange) {
        guard let (camera, _, _, payload) = lastFrame else { throw ComputeError.invalidArgument("the backward pass needs a rendered frame") }
        let pixels = camera.width * camera.height
        let channels = payloadLayout(payload).channels
        guard gradColor.count == pixels * channels, gradAlpha.count == pixels, gradDepth.count == pixels else {
            throw ComputeError.invalidArgument("gradients must be [H, W, \(channels)], [H, W] and [H, W] for \(camera.width)x\(camera.height)")
        }
        let gC = try gradColorIn.atLeast(pixels * channels * 4, device: device)
        let gA = try gradAlphaIn.atLeast(pixels * 4, device: device)
        let gD = try gradDepthIn.atLeast(pixels * 4, device: device)
        try gC.write(gradColor, device: device)
        try gA.write(gradAlpha, device: device)
        try gD.write(gradDepth, device: device)
        return (gC.slice(offset: 0, length: pixels * channels * 4), gA.slice(offset: 0, length: pixels * 4), gD.slice(offset: 0, length: pixels * 4))
    }

    /// Records the blend backward into `splatGradients` ([N] SplatGradient)
    /// and `payloadGradients` ([N, stride] f32). Without `depthGradient` the
    /// kernel skips the depth terms (`gD` must then be zero).
    func recordBlendBackward(_ stream: CommandStream, gradColor gC: BufferRange, gradAlpha gA: BufferRange, gradDepth gD: BufferRange,
                             depthGradient: Bool) throws {
        guard let (camera, settings, intersections, external) = lastFrame else {
            throw ComputeError.invalidArgument("the backward pass needs a rendered frame")
        }
        let layout = payloadLayout(external)
        let variant = try blendVariant(layout, settings.blendMode)
        guard let kernel = try blendKernels(variant).backward else {
            throw ComputeError.invalidArgument("\(device.info.name) lacks float atomic add on buffers (VK_EXT_shader_atomic_float), which the backward pass uses")
        }
        let n = gaussianCount
        guard n > 0 else { return }
        let pixels = camera.width * camera.height
        let gradBytes = n * MemoryLayout<SplatGradient>.stride
        let grads = try splatGradients.atLeast(gradBytes, device: device)
        stream.fill(grads, value: 0, offset: 0, bytes: gradBytes)
        let payloadBytes = layout.stride * 4
        let gPayload = try payloadGradients.atLeast(n * payloadBytes, device: device)
        stream.fill(gPayload, value: 0, offset: 0, bytes: n * payloadBytes)
        guard intersections > 0 else { return }
        let tiles = camera.tilesX * camera.tilesY
        let payload = external?.buffer ?? payloadOut.buffer!
        try stream.dispatch(kernel, chunked(splats.buffer!, itemBytes: splatBytes, count: n) + chunked(payload, itemBytes: payloadBytes, count: n) + [
            values.buffer!.slice(offset: 0, length: intersections * 4), ranges.buffer!.slice(offset: 0, length: tiles * 8),
            frameUniform.slice(offset: 0, length: frameUniform.length), backgroundIn.buffer!.slice(offset: 0, length: layout.channels * 4),
            transmittanceOut.buffer!.slice(offset: 0, length: pixels * 4), countOut.buffer!.slice(offset: 0, length: pixels * 8),
            gC, gA, gD, grads.slice(offset: 0, length: gradBytes)] + chunked(gPayload, itemBytes: payloadBytes, count: n),
            push: dispatchValues(settings, count: n, payload: layout, flags: depthGradient ? RASTER_FLAG_DEPTH_GRADIENT : 0),
            grid: (camera.tilesX, camera.tilesY, (layout.channels + variant.chunk - 1) / variant.chunk), label: "blend backward")
    }

    /// The backward pass of the last frame on the GPU: the raw-parameter
    /// gradients stay in GPU buffers (`trainableGroups()`), for the optimiser.
    /// `gradAlpha` and `gradDepth` may be nil (zero).
    public func backwardOnDevice(gradColor: BufferRange, gradAlpha: BufferRange? = nil, gradDepth: BufferRange? = nil) throws {
        guard let (camera, settings, _, external) = lastFrame else { throw ComputeError.invalidArgument("the backward pass needs a rendered frame") }
        let n = gaussianCount
        guard n > 0 else { return }
        let pixels = camera.width * camera.height
        let stream = drawStream
        stream.reset()
        try stream.mark("begin")
        var gA = gradAlpha, gD = gradDepth
        if gA == nil || gD == nil {
            let zeros = try gradDepthIn.atLeast(pixels * 4, device: device)
            stream.fill(zeros, value: 0, offset: 0, bytes: pixels * 4)
            gA = gA ?? zeros.slice(offset: 0, length: pixels * 4)
            gD = gD ?? zeros.slice(offset: 0, length: pixels * 4)
        }
        try recordBlendBackward(stream, gradColor: gradColor, gradAlpha: gA!, gradDepth: gD!, depthGradient: gradDepth != nil)
        try stream.mark("blend")
        let layout = payloadLayout(external)
        let out = try zip(gradientBuffers, schema.groups).map { try $0.atLeast(max(4, n * $1.floatsPerGaussian * 4), device: device) }
        try stream.dispatch(try frontEndKernels(for: schema).backward,
                            frontEndBindings(parameters)
                            + [frameUniform.slice(offset: 0, length: frameUniform.length),
                               touched.buffer!.slice(offset: 0, length: n * 4),
                               splatGradients.buffer!.slice(offset: 0, length: n * MemoryLayout<SplatGradient>.stride)]
                            + chunked(payloadGradients.buffer!, itemBytes: layout.stride * 4, count: n)
                            + frontEndBindings(out),
                            push: dispatchValues(settings, count: n, payload: layout, flags: external == nil ? 0 : RASTER_FLAG_SKIP_PAYLOAD),
                            groups: (n + workgroupSize - 1) / workgroupSize, label: "prepare backward")
        try stream.mark("prepare")
        try stream.run()
        var timings: [String: Double] = [:]
        for t in try stream.timings() { timings[t.label, default: 0] += t.milliseconds }
        lastBackwardTimings = timings
    }

    /// The blend backward of the last frame alone, for kinds whose geometry
    /// is frozen and whose payload is the parameter (language features):
    /// records into `stream` and returns dL/d(payload) [N, stride] f32
    /// (sparse: the weight slots), which stays on the device. `gradColor`
    /// is [H, W, C]; alpha and depth carry no gradient.
    public func recordPayloadBackward(_ stream: CommandStream, gradColor: BufferRange) throws -> BufferRange {
        guard let (camera, _, _, external) = lastFrame else { throw ComputeError.invalidArgument("the backward pass needs a rendered frame") }
        let pixels = camera.width * camera.height
        let zeros = try gradDepthIn.atLeast(pixels * 4, device: device)
        stream.fill(zeros, value: 0, offset: 0, bytes: pixels * 4)
        let z = zeros.slice(offset: 0, length: pixels * 4)
        try recordBlendBackward(stream, gradColor: gradColor, gradAlpha: z, gradDepth: z, depthGradient: false)
        let bytes = max(4, gaussianCount * payloadLayout(external).stride * 4)
        return try payloadGradients.atLeast(bytes, device: device).slice(offset: 0, length: bytes)
    }

    /// The model's parameter groups with their gradient buffers (after
    /// `backwardOnDevice`), in schema order: (name, parameters, gradients,
    /// float count); empty groups (SH rest at degree 0) are left out.
    public func trainableGroups() -> [(name: String, parameters: GPUBuffer, gradients: BufferRange, count: Int)] {
        let n = gaussianCount
        return zip(zip(schema.groups, parameters), gradientBuffers).compactMap { pair, gradients in
            let (group, buffer) = pair
            let count = n * group.floatsPerGaussian
            guard count > 0, let g = gradients.buffer else { return nil }
            return (group.name, buffer, g.slice(offset: 0, length: count * 4), count)
        }
    }

    /// The model's buffers in schema order; each may be larger than the model.
    var modelBuffers: [GPUBuffer] { parameters }

    /// Floats per Gaussian of each group (SH rest: 0 at degree 0).
    var groupDimensions: [Int] { schema.groups.map(\.floatsPerGaussian) }

    /// Replaces the model's buffers (schema order; each holding `count`
    /// Gaussians) and returns the previous ones, for double-buffered updates
    /// on the GPU such as densification. The last frame is forgotten.
    func exchangeModelBuffers(_ buffers: [GPUBuffer], count: Int) throws -> [GPUBuffer] {
        precondition(buffers.count == schema.groups.count)
        let previous = parameters
        chunkGaussians = try chunkSize(count: count)
        parameters = buffers
        gaussianCount = count
        lastFrame = nil
        return previous
    }

    /// What densification statistics read after a backward pass: the last
    /// frame's projected splats (chunked), tiles touched [N] u32, splat
    /// gradients [N] and the frame size.
    func densificationInputs() -> (splats: [BufferRange], touched: BufferRange, gradients: BufferRange, width: Int, height: Int)? {
        let n = gaussianCount
        guard n > 0, let (camera, _, _, _) = lastFrame, let s = splats.buffer, let t = touched.buffer, let g = splatGradients.buffer else { return nil }
        return (chunked(s, itemBytes: splatBytes, count: n), t.slice(offset: 0, length: n * 4),
                g.slice(offset: 0, length: n * MemoryLayout<SplatGradient>.stride), camera.width, camera.height)
    }

    /// The current model, downloaded (after training steps).
    public func currentModel() throws -> GaussianModel {
        let n = gaussianCount
        return GaussianModel(shDegree: modelSHDegree, parameterGroups: try zip(schema.groups, parameters).map { group, buffer in
            try buffer.read(Float.self, count: n * group.floatsPerGaussian, device: device)
        }, hasTime: hasTime, image2D: isImage2D)
    }

    /// The colour output of the last frame: [H, W, C + 1] f32 (the C payload
    /// channels over the background, then alpha; RGBA for 3D Gaussians).
    public var colorBuffer: BufferRange? {
        guard let (camera, _, _, payload) = lastFrame, let b = colorOut.buffer else { return nil }
        return b.slice(offset: 0, length: camera.width * camera.height * (payloadLayout(payload).channels + 1) * 4)
    }

    /// The expected-depth output of the last frame: [H, W] f32 (sum T alpha z).
    public var depthBuffer: BufferRange? {
        guard let (camera, _, _, _) = lastFrame, let b = depthOut.buffer else { return nil }
        return b.slice(offset: 0, length: camera.width * camera.height * 4)
    }

    /// Downloads the last frame rendered with `camera`.
    public func download(camera: RasterCamera) throws -> RasterImage {
        let pixels = camera.width * camera.height
        let channels = lastFrame.map { payloadLayout($0.payload).channels } ?? 3
        let stride = channels + 1
        let rows = try colorOut.buffer!.read(Float.self, count: pixels * stride, device: device)
        let counts = try countOut.buffer!.read(UInt32.self, count: pixels * 2, device: device)
        var color = [Float](repeating: 0, count: pixels * channels)
        var alpha = [Float](repeating: 0, count: pixels)
        var contributors = [UInt32](repeating: 0, count: pixels)
        for i in 0..<pixels {
            for c in 0..<channels { color[channels * i + c] = rows[stride * i + c] }
            alpha[i] = rows[stride * i + channels]
            contributors[i] = counts[2 * i]
        }
        return RasterImage(width: camera.width, height: camera.height, channels: channels, color: color, alpha: alpha,
                           depth: try depthOut.buffer!.read(Float.self, count: pixels, device: device),
                           transmittance: try transmittanceOut.buffer!.read(Float.self, count: pixels, device: device),
                           contributors: contributors)
    }
}
