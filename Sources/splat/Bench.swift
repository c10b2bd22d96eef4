import ArgumentParser
import Compute
import ComputePrimitives
import Foundation
import Geometry

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure splat's GPU kernels against a CPU baseline in the same process.",
        discussion: """
        Times are GPU timestamps (median of --runs after --warmup runs), without
        uploads or downloads. The baseline runs on the CPU in the same process;
        speedup = baseline_ms / ms. Results are checked against the Swift twin.
        """,
        subcommands: [BenchSort.self, BenchScan.self, BenchLoad.self, BenchRender.self, BenchTrain.self, BenchNerf.self, BenchImage.self])
}

struct BenchOptions: ParsableArguments {
    @Option(help: "Timed runs; the median is reported.")
    var runs = 10
    @Option(help: "Untimed runs first.")
    var warmup = 2
    @Flag(help: "Print one JSON object on stdout.")
    var json = false
    @Option(help: "Seed of the random input.")
    var seed: UInt64 = 1

    func validate() throws {
        try OptionCheck.whole("--runs", runs, 1...100_000)
        try OptionCheck.whole("--warmup", warmup, 0...100_000)
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func milliseconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
}

/// Runs a recorded stream `warmup + runs` times; returns the median of the
/// interval ending at `label` and the per-label medians of every interval.
func timeStream(_ stream: CommandStream, label: String, options: BenchOptions) throws -> (ms: Double, intervals: [String: Double]) {
    for _ in 0..<options.warmup { try stream.run() }
    var samples: [Double] = []
    var perLabel: [String: [Double]] = [:]
    for _ in 0..<max(1, options.runs) {
        var wall = 0.0
        wall = try milliseconds { try stream.run() }
        let timings = try stream.timings()
        if timings.isEmpty {
            samples.append(wall)  // no timestamps on this queue: wall clock
        } else {
            var totals: [String: Double] = [:]
            for t in timings { totals[t.label, default: 0] += t.milliseconds }
            for (k, v) in totals { perLabel[k, default: []].append(v) }
            samples.append(totals[label] ?? wall)
        }
    }
    return (median(samples), perLabel.mapValues(median))
}

/// Per-kernel GPU times of one run of `record` (a timestamp after every dispatch).
func kernelBreakdown(device: ComputeDevice, _ record: (CommandStream) throws -> Void) throws -> [String: Double] {
    let stream = try CommandStream(device: device, profileDispatches: true)
    try stream.mark("begin")
    try record(stream)
    try stream.run()
    var totals: [String: Double] = [:]
    for t in try stream.timings() { totals[t.label, default: 0] += t.milliseconds }
    return totals.mapValues { ($0 * 1000).rounded() / 1000 }
}

/// A buffer of `bytes` must fit one storage-buffer binding of the device.
func checkBinding(_ option: String, bytes: Int, device: ComputeDevice) throws {
    let limit = min(device.info.maxStorageBufferRange, device.info.maxMemoryAllocationSize)
    guard bytes <= limit else {
        throw ValidationError("\(option): a buffer of \(bytes >> 20) MiB does not fit one storage buffer of \(device.info.displayName) (\(limit >> 20) MiB)")
    }
}

func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }

/// The fields every kernel benchmark reports (docs/conventions.md, "Benchmarks"):
/// the median ms, the baseline's name and ms, the speedup, per-kernel ms, the runs and whether the result was verified.
func timing(ms: Double, baseline: String, baselineMs: Double, kernels: [String: Double], options: BenchOptions,
            verified: Bool) -> [String: Any] {
    ["ms": round3(ms), "baseline": baseline, "baseline_ms": round3(baselineMs), "speedup": round3(baselineMs / ms),
     "kernels_ms": kernels, "runs": options.runs, "verified": verified]
}

/// Prints a benchmark's result (JSON or one line) and fails when the GPU
/// result differed from the Swift twin's.
func report(_ result: [String: Any], json: Bool, text: String) throws {
    let verified = result["verified"] as? Bool ?? false
    if json { try printJSON(result) } else { print("\(text); verified \(verified)") }
    if !verified {
        printError("the GPU result of \(result["benchmark"] ?? "the benchmark") differs from the Swift reference")
        throw ExitCode(2)
    }
}

struct BenchSort: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sort",
        abstract: "Stable key-value radix sort vs Swift's sort of the same (key, value) pairs.")

    @Option(help: "Number of key-value pairs.")
    var count = 1 << 20
    @Option(help: "Significant key bits (1-64); keys wider than 32 bits use 64-bit keys.")
    var bits = 32
    @Option(help: "Tile ranking: auto (the device's preferred), multisplit (GPUs) or serial (CPU drivers).")
    var ranking = "auto"
    @OptionGroup var options: BenchOptions

    func validate() throws {
        // Values are 32-bit indices; keys, values, their originals and the Swift baseline's copies take ~48 bytes a pair.
        try OptionCheck.whole("--count", count, 1...Int(UInt32.max))
        try HostMemory.check("--count", count: count, bytesPerItem: 48)
        try OptionCheck.whole("--bits", bits, 1...64)
        try OptionCheck.choice("--ranking", ranking, ["auto", "multisplit", "serial"])
    }

    func run() throws {
        try runReportingErrors {
            let device = try ComputeDevice.make()
            let choice: RadixSort.Ranking? = ranking == "multisplit" ? .subgroupMultisplit : ranking == "serial" ? .threadSerial : nil
            let sorter = try RadixSort(device: device, ranking: choice)
            var rng = SplitMix64(seed: options.seed)
            let mask: UInt64 = bits == 64 ? ~0 : (1 << UInt64(bits)) - 1
            let keys = (0..<count).map { _ in rng.next() & mask }
            let values = (0..<count).map { UInt32(truncatingIfNeeded: $0) }
            let width: RadixSort.KeyWidth = bits > 32 ? .bits64 : .bits32
            let keyBytes = count * (width == .bits64 ? 8 : 4)
            try checkBinding("--count", bytes: keyBytes, device: device)
            log("bench sort: \(count) pairs, \(bits) bits, \(width == .bits64 ? 64 : 32)-bit keys on \(device.info.displayName)")

            let original = width == .bits64
                ? try GPUBuffer(device: device, keys, label: "keys (original)")
                : try GPUBuffer(device: device, keys.map { UInt32(truncatingIfNeeded: $0) }, label: "keys (original)")
            let originalValues = try GPUBuffer(device: device, values, label: "values (original)")
            let workKeys = try GPUBuffer(device: device, length: keyBytes, label: "keys")
            let workValues = try GPUBuffer(device: device, length: count * 4, label: "values")

            // Each run restores the input (untimed), then sorts between two marks.
            let record: (CommandStream) throws -> Void = { stream in
                try sorter.record(stream, keys: workKeys, values: workValues, count: count, width: width, keyBits: bits)
            }
            let stream = try CommandStream(device: device)
            stream.copy(from: original, to: workKeys, bytes: keyBytes)
            stream.copy(from: originalValues, to: workValues, bytes: count * 4)
            try stream.mark("restore")
            try record(stream)
            try stream.mark("sort")
            let (ms, _) = try timeStream(stream, label: "sort", options: options)
            let kernels = try kernelBreakdown(device: device) { s in
                s.copy(from: original, to: workKeys, bytes: keyBytes)
                s.copy(from: originalValues, to: workValues, bytes: count * 4)
                try s.barrier()
                try s.mark("restore")
                try record(s)
            }

            // Check the result against the Swift twin.
            let sortedValues = try workValues.read(UInt32.self, count: count, device: device)
            let sortedKeys: [UInt64] = width == .bits64
                ? try workKeys.read(UInt64.self, count: count, device: device)
                : try workKeys.read(UInt32.self, count: count, device: device).map(UInt64.init)
            let reference = RadixSort.reference(keys: keys, values: values, keyBits: bits)
            let verified = sortedKeys == reference.keys && sortedValues == reference.values

            // Baseline: Swift's standard sort of the same pairs, in this process.
            struct Pair { var key: UInt64; var value: UInt32 }
            let pairs = zip(keys, values).map { Pair(key: $0, value: $1) }
            var baselineSamples: [Double] = []
            let baselineRuns = max(1, min(options.runs, 3))
            for _ in 0..<baselineRuns {
                var copy = pairs
                baselineSamples.append(milliseconds { copy.sort { $0.key < $1.key } })
                if baselineSamples.last! > 10_000 { break }
            }
            let baselineMs = median(baselineSamples)

            let result: [String: Any] = [
                "benchmark": "sort",
                "device": device.info.displayName,
                "count": count,
                "bits": bits,
                "key_bytes": width == .bits64 ? 8 : 4,
                "passes": RadixSort.passes(keyBits: bits),
                "ranking": "\(sorter.ranking)",
                "tile_keys": sorter.tileSize,
                "mkeys_per_s": round3(Double(count) / (ms / 1000) / 1e6),
            ].merging(timing(ms: ms, baseline: "swift-sort", baselineMs: baselineMs, kernels: kernels, options: options, verified: verified)) { $1 }
            try report(result, json: options.json,
                       text: "sort \(count) x \(bits) bits: \(round3(ms)) ms (\(round3(Double(count) / (ms / 1000) / 1e6)) Mkeys/s); swift sort \(round3(baselineMs)) ms; speedup \(round3(baselineMs / ms))x")
        }
    }
}

struct BenchScan: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Exclusive prefix sum of uint32 vs a Swift loop in the same process.")

    @Option(help: "Number of elements.")
    var count = 1 << 22
    @OptionGroup var options: BenchOptions

    func validate() throws {
        // Input, output and the Swift baseline's copy: 12 bytes an element.
        try OptionCheck.whole("--count", count, 1...Int(UInt32.max))
        try HostMemory.check("--count", count: count, bytesPerItem: 12)
    }

    func run() throws {
        try runReportingErrors {
            let device = try ComputeDevice.make()
            let scan = try PrefixSum(device: device)
            var rng = SplitMix64(seed: options.seed)
            try checkBinding("--count", bytes: count * 4, device: device)
            let values = (0..<count).map { _ in UInt32(truncatingIfNeeded: rng.next() & 0xff) }
            log("bench scan: \(count) uint32 on \(device.info.displayName)")
            let input = try GPUBuffer(device: device, values, label: "scan input")
            let output = try GPUBuffer(device: device, length: count * 4, label: "scan output")
            let total = try GPUBuffer(device: device, length: 4, label: "scan total")
            let stream = try CommandStream(device: device)
            try stream.mark("begin")
            try scan.record(stream, input: input, output: output, count: count, total: total)
            try stream.mark("scan")
            let (ms, _) = try timeStream(stream, label: "scan", options: options)
            let kernels = try kernelBreakdown(device: device) { s in
                try scan.record(s, input: input, output: output, count: count, total: total)
            }
            let gpu = try output.read(UInt32.self, count: count, device: device)
            let gpuTotal = try total.read(UInt32.self, count: 1, device: device)[0]

            var baselineSamples: [Double] = []
            var reference: (scanned: [UInt32], total: UInt32) = ([], 0)
            for _ in 0..<max(1, min(options.runs, 5)) {
                baselineSamples.append(milliseconds { reference = PrefixSum.reference(values) })
            }
            let baselineMs = median(baselineSamples)
            let verified = gpu == reference.scanned && gpuTotal == reference.total
            let result: [String: Any] = [
                "benchmark": "scan",
                "device": device.info.displayName,
                "count": count,
                "gelems_per_s": round3(Double(count) / (ms / 1000) / 1e9),
            ].merging(timing(ms: ms, baseline: "swift-loop", baselineMs: baselineMs, kernels: kernels, options: options, verified: verified)) { $1 }
            try report(result, json: options.json,
                       text: "scan \(count): \(round3(ms)) ms; swift loop \(round3(baselineMs)) ms; speedup \(round3(baselineMs / ms))x")
        }
    }
}
