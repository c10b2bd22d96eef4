import Compute
import ComputeTestSupport
import Geometry
import XCTest
@testable import Viewer

/// The viewer's pack kernel vs its Swift twin: every mode, both byte orders,
/// full and reduced source resolution (nearest-neighbour upscaling), and
/// values outside [0, 1] (clamped) and on the rounding edges.
final class DisplayPackTests: GPUTestCase {
    func testGPUMatchesTheTwin() throws {
        var rng = SplitMix64(seed: 11)
        let pack = try DisplayPack(device: device)
        for (sw, sh, w, h) in [(37, 23, 37, 23), (19, 12, 37, 23), (8, 5, 50, 31), (1, 1, 3, 2)] {
            var color = (0..<(sw * sh * 4)).map { _ in Float(rng.uniform(-0.2, 1.2)) }
            // Exact rounding edges: k/255 and (k + 0.5)/255.
            for k in 0..<min(sw * sh, 64) { color[4 * k] = Float(k) / 255; color[4 * k + 1] = (Float(k) + 0.5) / 255 }
            for k in 0..<(sw * sh) where k % 7 == 0 { color[4 * k + 3] = 0 }  // nothing blended: depth shows black
            let depth = (0..<(sw * sh)).map { _ in Float(rng.uniform(0, 5)) }
            let colorB = try GPUBuffer(device: device, color), depthB = try GPUBuffer(device: device, depth)
            let pixels = try GPUBuffer(device: device, length: w * h * 4)
            for mode in DisplayMode.allCases {
                for bgra in [false, true] {
                    let layout = DisplayPack.Layout(width: w, height: h, sourceWidth: sw, sourceHeight: sh, mode: mode, bgra: bgra, depthFar: 4)
                    let stream = try CommandStream(device: device)
                    try pack.record(stream, color: colorB, depth: depthB, pixels: pixels, layout: layout)
                    try stream.run()
                    let gpu = try pixels.read(UInt32.self, count: w * h, device: device)
                    let twin = DisplayPack.reference(color: color, depth: depth, layout: layout)
                    XCTAssertEqual(gpu, twin, "\(sw)x\(sh) -> \(w)x\(h) \(mode) bgra \(bgra)")
                }
            }
        }
    }

    func testRoundingMatchesThePNGWriter() {
        // splat render writes round(clamp(v) * 255); the viewer must show the same bytes.
        let values: [Float] = [0, 0.5 / 255, 1.5 / 255, 0.2, 0.5, 127.5 / 255, 1, 1.3, -0.1]
        let color: [Float] = values.flatMap { v -> [Float] in [v, v, v, 1] }
        let layout = DisplayPack.Layout(width: values.count, height: 1, sourceWidth: values.count, sourceHeight: 1)
        let packed = DisplayPack.reference(color: color, depth: [Float](repeating: 0, count: values.count), layout: layout)
        for (v, p) in zip(values, packed) {
            XCTAssertEqual(UInt8(p & 0xff), UInt8((min(max(v, 0), 1) * 255).rounded()), "value \(v)")
            XCTAssertEqual(p >> 24, 255)
        }
    }
}

final class ViewerInputTests: XCTestCase {
    func testScriptParses() throws {
        let events = try ViewerInput.parseScript("""
            # orbit, then zoom in
            orbit 40 -5
            wait 2
            zoom 1.5   # steps
            pan 3 4
            look 1 2
            fly 0 0 0.5
            key r
            """, path: "s.txt")
        XCTAssertEqual(events, [.orbit(dx: 40, dy: -5), .wait(frames: 2), .zoom(steps: 1.5), .pan(dx: 3, dy: 4),
                                .look(dx: 1, dy: 2), .fly(right: 0, up: 0, forward: 0.5), .key("R")])
    }

    func testBadScriptLinesAreNamed() {
        for (text, fragment) in [("orbit 1", "s.txt:1: orbit takes 2 numbers"), ("\nspin 3", "s.txt:2: unknown event spin"),
                                 ("zoom nan", "zoom takes 1 number"), ("wait 1.5", "whole number"), ("key", "key takes one key name")] {
            XCTAssertThrowsError(try ViewerInput.parseScript(text, path: "s.txt")) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error)")
            }
        }
    }
}
