import Compute
import ComputeTestSupport
import Geometry
import XCTest
@testable import Language

/// Each language kernel against its twin (LanguageReference) on random and
/// edge-case inputs, and the twins' gradients against central differences
/// in Double. Sizes are small (L = 8, D = 16) so the twins stay fast; the
/// kernels read every size from push constants, so nothing here is special.
final class LanguageKernelTests: GPUTestCase {
    let shape = LanguageShape(levels: 3, codebookSize: 8, topK: 3, dimension: 16)
    var rng = SplitMix64(seed: 7)

    func random(_ count: Int, scale: Float = 1) -> [Float] { (0..<count).map { _ in scale * rng.normal() } }

    func unitRows(_ rows: Int, _ d: Int) -> [Float] {
        var out = random(rows * d)
        for r in 0..<rows {
            let n = (0..<d).reduce(Float(0)) { $0 + out[r * d + $1] * out[r * d + $1] }.squareRoot()
            for i in 0..<d { out[r * d + i] /= n }
        }
        return out
    }

    func buffer(_ values: [Float]) throws -> GPUBuffer { try GPUBuffer(device: device, values.isEmpty ? [0] : values, label: "test") }
    func buffer(_ values: [Int32]) throws -> GPUBuffer { try GPUBuffer(device: device, values.isEmpty ? [0] : values, label: "test") }
    func buffer(_ values: [UInt32]) throws -> GPUBuffer { try GPUBuffer(device: device, values.isEmpty ? [0] : values, label: "test") }
    func empty(_ floats: Int) throws -> GPUBuffer { try GPUBuffer(device: device, length: max(4, floats * 4), label: "out") }
    func all(_ b: GPUBuffer) -> BufferRange { b.slice(offset: 0, length: b.length) }
    func read(_ b: GPUBuffer, _ n: Int) throws -> [Float] { try b.read(Float.self, count: n, device: device) }

    func run(_ body: (CommandStream) throws -> Void) throws {
        let stream = try CommandStream(device: device)
        try body(stream)
        try stream.run()
    }

    func assertClose(_ a: [Float], _ b: [Double], tolerance: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, what, file: file, line: line)
        var worst = 0.0, at = 0
        for i in 0..<min(a.count, b.count) {
            XCTAssertTrue(a[i].isFinite, "\(what)[\(i)] is \(a[i])", file: file, line: line)
            let e = abs(Double(a[i]) - b[i]) / max(1, abs(b[i]))
            if e > worst { worst = e; at = i }
        }
        XCTAssertLessThan(worst, tolerance, "\(what): worst at \(at): GPU \(a[at]) twin \(b[at])", file: file, line: line)
    }

    // MARK: weights

    func testWeightsMatchTheTwinIncludingTies() throws {
        let kernels = try LanguageKernels(device: device, shape: shape)
        let n = 37
        var logits = random(n * shape.channels, scale: 2)
        // Edge cases: a row of equal logits (ties go to the lower entry), huge values, one dominant entry.
        for e in 0..<shape.codebookSize { logits[e] = 0.5 }
        for e in 0..<shape.codebookSize { logits[shape.codebookSize + e] = Float(e) * 1e4 }
        logits[2 * shape.codebookSize + 5] = 80
        let payload = try empty(n * shape.payloadPairs * 2)
        try run { try kernels.recordWeights($0, logits: all(try buffer(logits)), payload: all(payload), count: n) }
        let gpu = try read(payload, n * shape.payloadPairs * 2)
        let twin = LanguageReference.languageWeights(logits: logits.map(Double.init), count: n, levels: shape.levels,
                                                     codebookSize: shape.codebookSize, topK: shape.topK)
        for (i, pair) in twin.enumerated() {
            XCTAssertEqual(gpu[2 * i].bitPattern, UInt32(pair.channel), "channel of pair \(i)")
            XCTAssertEqual(Double(gpu[2 * i + 1]), pair.weight, accuracy: 1e-6, "weight of pair \(i)")
        }
        XCTAssertEqual(twin[0].channel, 0, "a tie goes to the lowest entry")
        XCTAssertEqual(twin[1].channel, 1)
    }

    func testWeightsBackwardMatchesTheTwinAndFiniteDifferences() throws {
        let kernels = try LanguageKernels(device: device, shape: shape)
        let n = 23, K = shape.topK
        let logits = random(n * shape.channels, scale: 1.5)
        let upstream = random(n * shape.payloadPairs)
        let payload = try empty(n * shape.payloadPairs * 2)
        var gPayload = [Float](repeating: 0, count: n * shape.payloadPairs * 2)
        for i in 0..<(n * shape.payloadPairs) { gPayload[2 * i + 1] = upstream[i]; gPayload[2 * i] = 123 }  // channel slots ignored
        let gLogits = try empty(n * shape.channels)
        try run {
            try kernels.recordWeights($0, logits: all(try buffer(logits)), payload: all(payload), count: n)
            try kernels.recordWeightsBackward($0, payload: all(payload), payloadGradient: all(try buffer(gPayload)),
                                              logitGradient: all(gLogits), count: n)
        }
        let pairs = LanguageReference.languageWeights(logits: logits.map(Double.init), count: n, levels: shape.levels,
                                                      codebookSize: shape.codebookSize, topK: K)
        let twin = LanguageReference.languageWeightsBackward(pairs: pairs, weightGradients: upstream.map(Double.init), count: n,
                                                             levels: shape.levels, codebookSize: shape.codebookSize, topK: K)
        assertClose(try read(gLogits, n * shape.channels), twin, tolerance: 1e-5, "logit gradient")
        // Central differences of sum_k g_k w_k in Double. The logits are far
        // from ties (random normal values), so a small step never changes
        // which K entries are chosen: the function is smooth there.
        func value(_ l: [Double]) -> Double {
            let p = LanguageReference.languageWeights(logits: l, count: n, levels: shape.levels, codebookSize: shape.codebookSize, topK: K)
            return zip(p, upstream).reduce(0) { $0 + $1.0.weight * Double($1.1) }
        }
        let base = logits.map(Double.init), h = 1e-6
        for i in stride(from: 0, to: base.count, by: 7) {
            var up = base, down = base
            up[i] += h; down[i] -= h
            XCTAssertEqual((value(up) - value(down)) / (2 * h), twin[i], accuracy: 1e-6, "dL/dlogit \(i)")
        }
    }

    // MARK: products, loss and codebook gradient

    struct LossCase {
        var map: [Float]       // [P, stride]
        var segments: [Int32]  // [levels, P]
        var rows: [Float]      // [M, D]
        var codebook: [Float]  // [levels, L, D]
        var pixels: Int
        var rowCount: Int
    }

    func lossCase() -> LossCase {
        let P = 29, M = 5, L = shape.codebookSize
        var map = [Float](repeating: 0, count: P * (shape.channels + 1))
        for i in map.indices { map[i] = abs(rng.normal()) * 0.3 }
        // Maps are sparse (the kernels visit nonzero entries only): about half
        // the entries of odd pixels are 0, even pixels stay dense.
        for p in stride(from: 1, to: P, by: 2) {
            for c in 0..<shape.channels where rng.next() % 2 == 0 { map[p * (shape.channels + 1) + c] = 0 }
        }
        // Pixel 0 is uncovered (all weights 0): the norm floor keeps it finite.
        for c in 0..<shape.channels { map[c] = 0 }
        var segments = [Int32](repeating: -1, count: shape.levels * P)
        for level in 0..<shape.levels {
            for p in 0..<P where p % 4 != 3 { segments[level * P + p] = Int32((p + level) % M) }
        }
        _ = L
        return LossCase(map: map, segments: segments, rows: unitRows(M, shape.dimension),
                        codebook: random(shape.levels * shape.codebookSize * shape.dimension, scale: 0.5), pixels: P, rowCount: M)
    }

    func invValid(_ c: LossCase) -> [Double] {
        (0..<shape.levels).map { level in
            let n = (0..<c.pixels).filter { c.segments[level * c.pixels + $0] >= 0 }.count
            return n > 0 ? 1 / Double(n) : 0
        }
    }

    func testLossAndCodebookGradientMatchTheTwins() throws {
        let kernels = try LanguageKernels(device: device, shape: shape)
        let c = lossCase()
        let L = shape.codebookSize, D = shape.dimension, levels = shape.levels, P = c.pixels, M = c.rowCount
        let cb = try buffer(c.codebook), rowsB = try buffer(c.rows), mapB = try buffer(c.map), segB = try buffer(c.segments)
        let gram = try empty(levels * L * L), targets = try empty(levels * M * L)
        let gW = try empty(P * shape.channels), coef = try empty(levels * P * 2), loss = try empty(levels * P)
        // Pixels grouped by segment, as the trainer builds them: level l's part
        // of `order` starts at l * P, and `offsets` index the whole buffer.
        var order: [UInt32] = [], offsets: [UInt32] = []
        for level in 0..<levels {
            var at = level * P
            for m in 0..<M {
                offsets.append(UInt32(at))
                at += (0..<P).filter { c.segments[level * P + $0] == Int32(m) }.count
            }
            offsets.append(UInt32(at))
        }
        for level in 0..<levels {
            var part: [UInt32] = []
            for m in 0..<M { for p in 0..<P where c.segments[level * P + p] == Int32(m) { part.append(UInt32(p)) } }
            order += part + [UInt32](repeating: 0, count: P - part.count)
        }
        let A = try empty(levels * M * L), B = try empty(levels * L * L), gC = try empty(levels * L * D)
        let inv = invValid(c)
        try run {
            try kernels.recordProducts($0, rows: all(cb), rowCount: L, rowLevelStride: L, codebook: all(cb), output: all(gram))
            try kernels.recordProducts($0, rows: all(rowsB), rowCount: M, rowLevelStride: 0, codebook: all(cb), output: all(targets))
            try kernels.recordLoss($0, weightMap: all(mapB), segments: all(segB), gram: all(gram), targets: all(targets), rowCount: M,
                                   pixels: P, invValid: inv.map(Float.init), weightGradient: all(gW), coefficients: all(coef), loss: all(loss))
            try kernels.recordCodebookGradient($0, weightMap: all(mapB), coefficients: all(coef), order: all(try buffer(order)),
                                               offsets: all(try buffer(offsets)), rows: all(rowsB), rowCount: M, pixels: P,
                                               codebook: all(cb), segmentSums: all(A), outerSums: all(B), gradient: all(gC))
        }
        let cbD = c.codebook.map(Double.init), rowsD = c.rows.map(Double.init), mapD = c.map.map(Double.init)
        let gramT = LanguageReference.languageProducts(rows: cbD, rowCount: L, rowLevelStride: L, codebook: cbD, levels: levels, codebookSize: L, dimension: D)
        let targetsT = LanguageReference.languageProducts(rows: rowsD, rowCount: M, rowLevelStride: 0, codebook: cbD, levels: levels, codebookSize: L, dimension: D)
        assertClose(try read(gram, levels * L * L), gramT, tolerance: 1e-5, "Gram")
        assertClose(try read(targets, levels * M * L), targetsT, tolerance: 1e-5, "targets")
        let lossT = LanguageReference.languageLoss(weightMap: mapD, mapStride: shape.channels + 1, pixels: P, segments: c.segments, gram: gramT,
                                                   targets: targetsT, rowCount: M, levels: levels, codebookSize: L, invValid: inv)
        assertClose(try read(gW, P * shape.channels), lossT.weightGradient, tolerance: 1e-4, "weight gradient")
        assertClose(try read(coef, levels * P * 2), lossT.coefficients, tolerance: 1e-4, "coefficients")
        assertClose(try read(loss, levels * P), lossT.loss, tolerance: 1e-5, "loss")
        let sums = LanguageReference.languageCodebookSums(weightMap: mapD, mapStride: shape.channels + 1, pixels: P, segments: c.segments,
                                                          coefficients: lossT.coefficients, rowCount: M, levels: levels, codebookSize: L)
        assertClose(try read(A, levels * M * L), sums.segmentSums, tolerance: 1e-4, "segment sums")
        assertClose(try read(B, levels * L * L), sums.outerSums, tolerance: 1e-4, "outer sums")
        let gradT = LanguageReference.languageCodebookGradient(segmentSums: sums.segmentSums, outerSums: sums.outerSums, rows: rowsD, rowCount: M,
                                                               codebook: cbD, levels: levels, codebookSize: L, dimension: D)
        assertClose(try read(gC, levels * L * D), gradT, tolerance: 1e-4, "codebook gradient")
    }

    /// The twins' weight-map and codebook gradients against central
    /// differences of the loss computed by explicit decoding (a different
    /// route from the Gram-matrix formulas). The loss is smooth everywhere:
    /// |f|^2 is floored, and the test's weights keep covered pixels far from 0.
    func testLossGradientsMatchFiniteDifferences() throws {
        let c = lossCase()
        let L = shape.codebookSize, D = shape.dimension, levels = shape.levels, P = c.pixels, M = c.rowCount, stride = shape.channels + 1
        let cbD = c.codebook.map(Double.init), rowsD = c.rows.map(Double.init), mapD = c.map.map(Double.init)
        let inv = invValid(c)
        let gramT = LanguageReference.languageProducts(rows: cbD, rowCount: L, rowLevelStride: L, codebook: cbD, levels: levels, codebookSize: L, dimension: D)
        let targetsT = LanguageReference.languageProducts(rows: rowsD, rowCount: M, rowLevelStride: 0, codebook: cbD, levels: levels, codebookSize: L, dimension: D)
        let out = LanguageReference.languageLoss(weightMap: mapD, mapStride: stride, pixels: P, segments: c.segments, gram: gramT,
                                                 targets: targetsT, rowCount: M, levels: levels, codebookSize: L, invValid: inv)
        XCTAssertEqual(out.loss.enumerated().reduce(0.0) { $0 + $1.element * inv[$1.offset / P] },
                       LanguageReference.languageLossValue(weightMap: mapD, mapStride: stride, pixels: P, segments: c.segments, rows: rowsD,
                                                           rowCount: M, codebook: cbD, levels: levels, codebookSize: L, dimension: D),
                       accuracy: 1e-9, "the per-pixel losses add up to the loss")
        func value(map: [Double], codebook: [Double]) -> Double {
            LanguageReference.languageLossValue(weightMap: map, mapStride: stride, pixels: P, segments: c.segments, rows: rowsD, rowCount: M,
                                                codebook: codebook, levels: levels, codebookSize: L, dimension: D)
        }
        let h = 1e-6
        for p in [1, 2, 5, 17] {
            for level in 0..<levels {
                for e in [0, 3, L - 1] {
                    var up = mapD, down = mapD
                    up[p * stride + level * L + e] += h
                    down[p * stride + level * L + e] -= h
                    let fd = (value(map: up, codebook: cbD) - value(map: down, codebook: cbD)) / (2 * h)
                    XCTAssertEqual(out.weightGradient[p * shape.channels + level * L + e], fd, accuracy: 1e-6, "dL/dw pixel \(p) level \(level) entry \(e)")
                }
            }
        }
        let sums = LanguageReference.languageCodebookSums(weightMap: mapD, mapStride: stride, pixels: P, segments: c.segments,
                                                          coefficients: out.coefficients, rowCount: M, levels: levels, codebookSize: L)
        let gradC = LanguageReference.languageCodebookGradient(segmentSums: sums.segmentSums, outerSums: sums.outerSums, rows: rowsD,
                                                               rowCount: M, codebook: cbD, levels: levels, codebookSize: L, dimension: D)
        for i in Swift.stride(from: 0, to: cbD.count, by: 13) {
            var up = cbD, down = cbD
            up[i] += h; down[i] -= h
            let fd = (value(map: mapD, codebook: up) - value(map: mapD, codebook: down)) / (2 * h)
            XCTAssertEqual(gradC[i], fd, accuracy: 1e-6, "dL/dC \(i)")
        }
    }

    // MARK: decode and queries

    func testDecodeAndRelevancyMatchTheTwins() throws {
        let kernels = try LanguageKernels(device: device, shape: shape)
        let c = lossCase()
        let L = shape.codebookSize, D = shape.dimension, levels = shape.levels, P = c.pixels, stride = shape.channels + 1
        let Q = 3, canonical = 4
        let queries = unitRows(Q + canonical, D)
        let cb = try buffer(c.codebook), mapB = try buffer(c.map), qB = try buffer(queries)
        let features = try empty(levels * P * D), gram = try empty(levels * L * L), products = try empty(levels * (Q + canonical) * L)
        let relevancy = try empty(levels * Q * P), cosines = try empty(levels * Q * P)
        try run {
            try kernels.recordDecode($0, weightMap: all(mapB), codebook: all(cb), features: all(features), pixels: P)
            try kernels.recordProducts($0, rows: all(cb), rowCount: L, rowLevelStride: L, codebook: all(cb), output: all(gram))
            try kernels.recordProducts($0, rows: all(qB), rowCount: Q + canonical, rowLevelStride: 0, codebook: all(cb), output: all(products))
            try kernels.recordSimilarity($0, weightMap: all(mapB), gram: all(gram), products: all(products), queries: Q, canonical: canonical,
                                         pixels: P, relevancy: true, output: all(relevancy))
            try kernels.recordSimilarity($0, weightMap: all(mapB), gram: all(gram), products: all(products), queries: Q, canonical: canonical,
                                         pixels: P, relevancy: false, output: all(cosines))
        }
        let decoded = LanguageReference.languageDecode(weightMap: c.map.map(Double.init), mapStride: stride, pixels: P,
                                                       codebook: c.codebook.map(Double.init), levels: levels, codebookSize: L, dimension: D)
        // Pixel 0 is uncovered: its feature is 0 (floored norm), in both.
        assertClose(try read(features, levels * P * D), decoded, tolerance: 1e-4, "decoded features")
        let qD = queries.map(Double.init)
        let relT = LanguageReference.languageSimilarity(features: decoded, pixels: P, levels: levels, dimension: D, queries: qD, queryCount: Q,
                                                        canonicalCount: canonical, temperature: 10, relevancy: true)
        let cosT = LanguageReference.languageSimilarity(features: decoded, pixels: P, levels: levels, dimension: D, queries: qD, queryCount: Q,
                                                        canonicalCount: canonical, temperature: 10, relevancy: false)
        assertClose(try read(relevancy, levels * Q * P), relT, tolerance: 1e-4, "relevancy (Gram route vs decoded twin)")
        assertClose(try read(cosines, levels * Q * P), cosT, tolerance: 1e-4, "cosines (Gram route vs decoded twin)")
        XCTAssertTrue(relT.allSatisfy { $0 > 0 && $0 < 1 })
    }
}
