import ArgumentParser
import Compute
import Datasets
import Foundation

/// Peak resident memory of this process, in bytes (Linux ru_maxrss is KiB).
func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    return Int(usage.ru_maxrss) * 1024
}

struct BenchLoad: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Time reading a scene and its images (undistortion, downscaling, cache).",
        discussion: """
        The first run fills the image cache; later runs read it. Prints the time,
        cache hits and misses, the bytes of image data held, and the process's
        peak resident memory.
        """)

    @Argument(help: "The scene folder (COLMAP or transforms.json).")
    var scene: String
    @OptionGroup var imageScale: ImageScaleOptions
    var downscale: Int { imageScale.factor() }
    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    func run() throws {
        try runReportingErrors {
            let baseline = peakResidentBytes()
            let start = Date()
            let loaded = try SceneLoader.load(scene)
            var lastReport = Date.distantPast
            let (frames, stats) = try SceneImages.load(loaded.frames, root: loaded.root, downscale: downscale) { done, total in
                if Date().timeIntervalSince(lastReport) > 2 || done == total {
                    lastReport = Date()
                    log("loading images: \(done)/\(total)")
                }
            }
            let seconds = Date().timeIntervalSince(start)
            let peak = peakResidentBytes()
            let pixels = stats.pixels
            let result: [String: Any] = [
                "benchmark": "load",
                "scene": loaded.root,
                "images": frames.count,
                "downscale": downscale,
                "seconds": (seconds * 1000).rounded() / 1000,
                "cache_hits": stats.cacheHits,
                "cache_misses": stats.cacheMisses,
                "pixels": pixels,
                "image_bytes": stats.bytes,
                "peak_rss_bytes": peak,
                "peak_rss_before_bytes": baseline,
                "peak_bytes_per_pixel_over_300MB": pixels > 0 ? Double(max(0, peak - 300 << 20)) / Double(pixels) : 0,
            ]
            if json { try printJSON(result) } else {
                print("loaded \(frames.count) images (\(stats.cacheHits) from cache) in \(String(format: "%.2f", seconds)) s; \(formatBytes(stats.bytes)) of pixels; peak RSS \(formatBytes(peak))")
            }
        }
    }
}
