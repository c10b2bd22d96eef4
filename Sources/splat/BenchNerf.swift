import ArgumentParser
import Compute
import Datasets
import Fields
import Foundation
import Geometry
import Models

struct BenchNerf: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nerf",
        abstract: "Time the hash-grid NeRF network: encoding + MLPs, forward and backward, on a batch of samples.",
        discussion: """
        One training pass of instant-ngp's network over --batch random samples
        in the unit box: hash encoding (L16 F2 T19 unless set), density MLP
        (32 -> 64 -> 16), spherical-harmonics direction encoding into the colour
        MLP's input (16 SH values + 16 features -> 64 -> 64 -> 3), then the
        backward passes (colour and density MLP deltas, input and weight
        gradients, hash-table gradient with float atomics). Reports samples/s
        from GPU timestamps (median of --runs) and per-kernel ms. The baseline
        is the Swift twin of the same chain, run on --baseline-samples of the
        samples and scaled to the batch (`baseline_scaled_from`); the GPU's
        encodings and outputs for those samples are checked against it.

        With --render-model MODEL (a `splat train --method nerf` output folder
        or .nerf), also rendering: rays/s for a --width x --height frame
        (default 1280x720) from the model's orbit camera (as `splat render
        --orbit 1`), wall-clock median of --runs whole frames (rays marched in
        rounds through the occupancy grid, networks, compositing). Its
        baseline is the Swift twin (`NerfRenderReference`) on --baseline-rays
        random pixels of the frame, scaled to the frame (`baseline_scaled_from`);
        those pixels are checked against the GPU frame. `seconds` splits the
        last frame's wall clock into host work (ray set-up, compositing), the
        occupancy-grid march and the networks with the read-back, over
        `chunks` dispatches of at most `chunk_samples` samples.
        """)

    @Option(help: "Samples per batch.")
    var batch = 1 << 18
    @Option(help: "Hash grid levels.")
    var levels = 16
    @Option(help: "Features per level.")
    var features = 2
    @Option(help: "log2 of the hash table size.")
    var log2HashmapSize = 19
    @Option(help: "Samples the Swift baseline runs on (scaled to --batch).")
    var baselineSamples = 2048
    @Flag(help: "fp16 storage of the MLPs' activations and deltas.")
    var fp16 = false
    @Option(help: "Also time rendering this NeRF (output folder or .nerf).")
    var renderModel: String?
    @Option(help: "Rendered frame width.")
    var width = 1280
    @Option(help: "Rendered frame height.")
    var height = 720
    @Option(help: "Pixels the Swift rendering baseline runs on (scaled to the frame).")
    var baselineRays = 256
    @Option(help: "Samples one rendering dispatch holds (default: chosen for the device; the JSON gives it as chunk_samples).")
    var renderChunk: Int?
    @OptionGroup var options: BenchOptions

    func validate() throws {
        try OptionCheck.whole("--batch", batch, 1...(1 << 24))
        try OptionCheck.whole("--levels", levels, 1...32)
        try OptionCheck.choice("--features", String(features), ["1", "2", "4", "8"])
        try OptionCheck.whole("--log2-hashmap-size", log2HashmapSize, 1...24)
        try OptionCheck.whole("--baseline-samples", baselineSamples, 1...(1 << 20))
        try OptionCheck.whole("--baseline-rays", baselineRays, 1...(1 << 20))
        try OptionCheck.whole("--render-chunk", renderChunk, 1...(1 << 24))
        try OptionCheck.whole("--width", width, 1...8192)
        try OptionCheck.whole("--height", height, 1...8192)
    }

    func run() throws {
        try runReportingErrors {
            let device = try ComputeDevice.make()
            let gridConfig = HashGridConfig(levels: levels, featuresPerLevel: features, log2HashmapSize: log2HashmapSize)
            let grid = try HashGridEncoding(device: device, config: gridConfig)
            let density = try FullyFusedMLP(device: device, config: MLPConfig(neurons: 64, hiddenLayers: 1), inputs: grid.outputWidth, outputs: 16,
                                            fp16: fp16)
            let colourInputs = SphericalHarmonicsEncoding.outputWidth + 16
            let colour = try FullyFusedMLP(device: device, config: MLPConfig(neurons: 64, hiddenLayers: 2), inputs: colourInputs, outputs: 3, fp16: fp16)
            let sh = try SphericalHarmonicsEncoding(device: device)
            let n = batch
            log("bench nerf: \(n) samples, hash grid L\(levels) F\(features) T\(log2HashmapSize) (\(grid.parameterCount) parameters) on \(device.info.displayName)")

            var rng = SplitMix64(seed: options.seed)
            let points = (0..<(3 * n)).map { _ in rng.uniform(0, 1) }
            let dirs = (0..<(3 * n)).map { _ in rng.uniform(-1, 1) }
            // Random colour-network features stand in for the density outputs
            // (the same work; the chain's values are checked on the baseline's samples).
            var colourIn = [Float](repeating: 0, count: n * colourInputs)
            for i in 0..<n { for k in 16..<colourInputs { colourIn[i * colourInputs + k] = rng.uniform(-1, 1) } }
            let table = grid.initialTable(seed: 1).map { $0 * 1e4 }  // U(-1, 1): values worth comparing
            let densityW = density.initialWeights(seed: 2), colourW = colour.initialWeights(seed: 3)
            let dRGB = (0..<(3 * n)).map { _ in rng.uniform(-1, 1) }
            let dDensity = (0..<(16 * n)).map { _ in rng.uniform(-1, 1) }

            let b = { (values: [Float], label: String) in try GPUBuffer(device: device, values, label: label) }
            let pointsB = try b(points, "points"), dirsB = try b(dirs, "directions")
            let tableB = try b(table, "table"), densityWB = try b(densityW, "density weights"), colourWB = try b(colourW, "colour weights")
            let encodedB = try GPUBuffer(device: device, length: n * grid.outputWidth * 4, label: "encoded")
            let densityOutB = try GPUBuffer(device: device, length: n * 16 * 4, label: "density out")
            let densityHidB = try GPUBuffer(device: device, length: density.hiddenBytes(count: n), label: "density hidden")
            let colourInB = try b(colourIn, "colour in")
            let rgbB = try GPUBuffer(device: device, length: n * 3 * 4, label: "rgb")
            let colourHidB = try GPUBuffer(device: device, length: colour.hiddenBytes(count: n), label: "colour hidden")
            let dRGBB = try b(dRGB, "d rgb"), dDensityB = try b(dDensity, "d density")
            let colourDeltaB = try GPUBuffer(device: device, length: colour.deltaBytes(count: n), label: "colour deltas")
            let densityDeltaB = try GPUBuffer(device: device, length: density.deltaBytes(count: n), label: "density deltas")
            let dColourInB = try GPUBuffer(device: device, length: n * colourInputs * 4, label: "d colour in")
            let dEncodedB = try GPUBuffer(device: device, length: n * grid.outputWidth * 4, label: "d encoded")
            let dTableB = try GPUBuffer(device: device, length: grid.parameterCount * 4, label: "d table")
            let dDensityWB = try GPUBuffer(device: device, length: density.weightCount * 4, label: "d density weights")
            let dColourWB = try GPUBuffer(device: device, length: colour.weightCount * 4, label: "d colour weights")

            let record: (CommandStream) throws -> Void = { s in
                s.fill(dTableB, value: 0)
                s.fill(dDensityWB, value: 0)
                s.fill(dColourWB, value: 0)
                try grid.encode(s, points: pointsB, table: tableB, encoded: encodedB, count: n)
                try density.forward(s, input: encodedB, weights: densityWB, output: densityOutB, hidden: densityHidB, count: n)
                try sh.encode(s, directions: dirsB, encoded: colourInB, count: n, stride: colourInputs, column: 0)
                try colour.forward(s, input: colourInB, weights: colourWB, output: rgbB, hidden: colourHidB, count: n)
                try colour.backward(s, outputGradient: dRGBB, weights: colourWB, hidden: colourHidB, deltas: colourDeltaB,
                                    inputGradient: dColourInB, count: n)
                try colour.weightGradient(s, input: colourInB, hidden: colourHidB, deltas: colourDeltaB, weightGradient: dColourWB, count: n)
                try density.backward(s, outputGradient: dDensityB, weights: densityWB, hidden: densityHidB, deltas: densityDeltaB,
                                     inputGradient: dEncodedB, count: n)
                try density.weightGradient(s, input: encodedB, hidden: densityHidB, deltas: densityDeltaB, weightGradient: dDensityWB, count: n)
                try grid.backward(s, points: pointsB, encodedGradient: dEncodedB, tableGradient: dTableB, count: n)
            }
            let stream = try CommandStream(device: device)
            try stream.mark("begin")
            try record(stream)
            try stream.mark("pass")
            let (ms, _) = try timeStream(stream, label: "pass", options: options)
            let kernels = try kernelBreakdown(device: device, record)

            // Baseline: the Swift twins of the same chain on the first samples, scaled.
            let m = min(n, baselineSamples)
            var twinEncoded: [Float] = [], twinRGB: [Float] = [], twinDensity: [Float] = []
            let baselineMs = milliseconds {
                twinEncoded = HashGridEncoding.reference(levels: grid.levels, features: features, points: Array(points[0..<(3 * m)]), table: table)
                let d = FullyFusedMLP.reference(dims: density.dims, weights: densityW, input: twinEncoded)
                twinDensity = d.output
                var cin = Array(colourIn[0..<(m * colourInputs)])
                let shValues = SphericalHarmonicsEncoding.reference(directions: Array(dirs[0..<(3 * m)]))
                for i in 0..<m { for k in 0..<16 { cin[i * colourInputs + k] = shValues[i * 16 + k] } }
                twinRGB = FullyFusedMLP.reference(dims: colour.dims, weights: colourW, input: cin).output
                let cb = FullyFusedMLP.referenceBackward(dims: colour.dims, weights: colourW.map(Double.init), input: cin.map(Double.init),
                                                         outputGradient: dRGB[0..<(3 * m)].map(Double.init))
                let db = FullyFusedMLP.referenceBackward(dims: density.dims, weights: densityW.map(Double.init), input: twinEncoded.map(Double.init),
                                                         outputGradient: dDensity[0..<(16 * m)].map(Double.init))
                _ = HashGridEncoding.referenceBackward(levels: grid.levels, features: features, entries: grid.entries,
                                                       points: Array(points[0..<(3 * m)]), encodedGradient: db.input)
                _ = cb.weights
            }
            let scaledBaseline = baselineMs * Double(n) / Double(m)
            let gpuEncoded = try encodedB.read(Float.self, count: m * grid.outputWidth, device: device)
            let gpuDensity = try densityOutB.read(Float.self, count: m * 16, device: device)
            let gpuRGB = try rgbB.read(Float.self, count: m * 3, device: device)
            var maxError: Float = 0
            for (a, b) in zip(gpuEncoded + gpuDensity + gpuRGB, twinEncoded + twinDensity + twinRGB) {
                maxError = max(maxError, abs(a - b))
            }
            let tolerance: Float = 1e-3
            var result: [String: Any] = [
                "benchmark": "nerf",
                "device": device.info.displayName,
                "batch": n,
                "hash_grid": ["n_levels": levels, "n_features_per_level": features, "log2_hashmap_size": log2HashmapSize,
                              "parameters": grid.parameterCount],
                "networks": ["density": density.dims, "colour": colour.dims],
                "fp16_storage": fp16,
                "ms": round3(ms),
                "samples_per_s": round3(ms > 0 ? Double(n) / ms * 1000 : 0),
                "kernels_ms": kernels,
                "baseline": "swift-twin",
                "baseline_ms": round3(scaledBaseline),
                "baseline_scaled_from": m,
                "speedup": round3(ms > 0 ? scaledBaseline / ms : 0),
                "max_abs_error": Double(maxError),
                "tolerance": Double(tolerance),
                "verified": maxError <= tolerance,
            ]
            var text = "nerf network pass of \(n) samples: \(round3(ms)) ms (\(Int(Double(n) / max(ms, 1e-9) * 1000)) samples/s); swift twin \(round3(scaledBaseline)) ms (scaled from \(m)); speedup \(round3(ms > 0 ? scaledBaseline / ms : 0))x"
            if let renderModel {
                let r = try benchRender(device: device, model: renderModel)
                result["render"] = r
                text += "\nnerf render of \(width)x\(height): \(r["ms"]!) ms (\(r["rays_per_s"]!) rays/s, \(r["samples_per_ray"]!) samples/ray); swift twin \(r["baseline_ms"]!) ms (scaled from \(baselineRays) rays); speedup \(r["speedup"]!)x"
            } else {
                result["render"] = "not measured: give --render-model MODEL"
            }
            try report(result, json: options.json, text: text)
        }
    }

    /// Times whole frames of a trained NeRF and its Swift twin on a few pixels.
    func benchRender(device: ComputeDevice, model: String) throws -> [String: Any] {
        let input = try RenderModel.load(model)
        guard case .nerf(let contents) = input.content else { throw DatasetError(input.path, "--render-model needs a NeRF model") }
        let nerf = try NerfTrainer(device: device, model: contents)
        if let renderChunk { nerf.renderChunkSamples = renderChunk }
        let camera = RenderModel.orbit(count: 1, model: input, width: width, height: height)[0]
        let bg = input.settings.background
        var times: [Double] = []
        var image: NerfTrainer.Image?
        for run in 0..<(options.warmup + options.runs) {
            let t = try milliseconds { image = try nerf.render(intrinsics: camera.intrinsics, pose: camera.pose, background: bg) }
            if run >= options.warmup { times.append(t) }
        }
        let ms = times.sorted()[times.count / 2]
        let frame = image!
        let profile = nerf.lastRenderProfile  // the last run's
        let reference = try NerfRenderReference(trainer: nerf, intrinsics: camera.intrinsics, pose: camera.pose)
        var rng = SplitMix64(seed: options.seed)
        let pixels = (0..<baselineRays).map { _ in Int(rng.next() % UInt64(width * height)) }
        var twin: [(rgb: SIMD3<Float>, alpha: Float)] = []
        let baselineMs = milliseconds { twin = pixels.map { reference.pixel(x: $0 % width, y: $0 / width, background: bg) } }
        var maxError: Float = 0
        for (p, t) in zip(pixels, twin) {
            for c in 0..<3 { maxError = max(maxError, abs(frame.color[3 * p + c] - t.rgb[c])) }
            maxError = max(maxError, abs(frame.alpha[p] - t.alpha))
        }
        let rays = width * height
        let scaled = baselineMs * Double(rays) / Double(baselineRays)
        let tolerance: Float = 2e-3
        return ["width": width, "height": height, "model": input.path, "iteration": nerf.iteration,
                "ms": round3(ms), "rays_per_s": round3(Double(rays) / ms * 1000), "samples": frame.samples, "rounds": frame.rounds,
                "samples_per_ray": round3(Double(frame.samples) / Double(rays)), "chunk_samples": nerf.renderChunkSamples,
                "seconds": ["host": round3(profile.host), "march": round3(profile.march), "network": round3(profile.network),
                            "chunks": profile.chunks] as [String: Any],
                "baseline": "swift-twin", "baseline_ms": round3(scaled), "baseline_scaled_from": baselineRays,
                "speedup": round3(scaled / ms), "max_abs_error": Double(maxError), "tolerance": Double(tolerance),
                "verified": maxError <= tolerance]
    }
}
