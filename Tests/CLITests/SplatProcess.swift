import Datasets
import Foundation
import XCTest

/// Runs the built `splat` as a user does, for the CLI tests.
enum SplatProcess {
    /// The executable beside the test bundle (SwiftPM puts products together).
    static var binary: URL {
        var dir = Bundle(for: CLITests.self).bundleURL
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("splat").path), dir.path != "/" {
            dir.deleteLastPathComponent()
        }
        return dir.appendingPathComponent("splat")
    }

    /// Runs `splat ARGUMENTS`, or with `launcher` (e.g. xvfb-run and its
    /// options) `LAUNCHER... splat ARGUMENTS`.
    static func run(_ arguments: [String], environment: [String: String] = [:],
                    launcher: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = launcher.first.map { URL(fileURLWithPath: $0) } ?? binary
        process.arguments = launcher.isEmpty ? arguments : Array(launcher.dropFirst()) + [binary.path] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// `count` small opaque Gaussians (SH degree 0) in the unit cube around
    /// the origin, where the demo scene's cameras look; `seed` varies them.
    static func tinyModel(count: Int = 50, seed: UInt64 = 7) -> GaussianModel {
        var model = GaussianModel(count: count, shDegree: 0)
        var state = seed
        func uniform() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24)
        }
        for i in 0..<count {
            for k in 0..<3 {
                model.positions[i * 3 + k] = uniform() - 0.5
                model.scales[i * 3 + k] = log(0.08)
                model.shDC[i * 3 + k] = (uniform() - 0.5) * 3
            }
            model.opacities[i] = 2  // sigmoid(2) = 0.88
        }
        return model
    }

    /// stdout as the one JSON object it must be.
    static func json(_ text: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return try XCTUnwrap(object as? [String: Any], "stdout is not one JSON object: \(text)")
    }
}
