import Foundation

/// Plain-Swift twins of the language kernels (Shaders/language), in Double,
/// with the kernels' names and buffer layouts: the tests compare each GPU
/// kernel with its twin and the twins' backward passes with central finite
/// differences. Shapes as in the kernels: logits [N, levels, L], payload
/// [N, levels * K, 2], codebook [levels, L, D], weight map [P, stride].
public enum LanguageReference {
    /// Floor on |f|^2 (the kernels' LANGUAGE_NORM_FLOOR).
    public static let normFloor = 1e-10

    /// language_weights: per Gaussian and level the top-K entries (ties to
    /// the lower entry) and their softmax, as (channel, weight) pairs with
    /// channel = level * L + entry. Returns [N, levels * K] pairs.
    public static func languageWeights(logits: [Double], count: Int, levels: Int, codebookSize L: Int, topK K: Int)
        -> [(channel: Int, weight: Double)] {
        var out: [(channel: Int, weight: Double)] = []
        out.reserveCapacity(count * levels * K)
        for item in 0..<(count * levels) {
            let level = item % levels
            let row = Array(logits[(item * L)..<((item + 1) * L)])
            let order = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
            let chosen = Array(order.prefix(K))
            let top = row[chosen[0]]
            let e = chosen.map { exp(row[$0] - top) }
            let total = e.reduce(0, +)
            for (k, entry) in chosen.enumerated() { out.append((level * L + entry, e[k] / total)) }
        }
        return out
    }

    /// language_weights_backward: dL/d(logits) [N, levels, L] from dL/d(weight)
    /// of each pair ([N, levels * K]); zero for entries outside the top K.
    public static func languageWeightsBackward(pairs: [(channel: Int, weight: Double)], weightGradients: [Double],
                                               count: Int, levels: Int, codebookSize L: Int, topK K: Int) -> [Double] {
        var out = [Double](repeating: 0, count: count * levels * L)
        for item in 0..<(count * levels) {
            let level = item % levels
            var mean = 0.0
            for k in 0..<K { mean += pairs[item * K + k].weight * weightGradients[item * K + k] }
            for k in 0..<K {
                let (channel, w) = pairs[item * K + k]
                out[item * L + channel - level * L] = w * (weightGradients[item * K + k] - mean)
            }
        }
        return out
    }

    /// language_products: out[level, r, e] = rows[level * rowLevelStride + r] . codebook[level, e].
    public static func languageProducts(rows: [Double], rowCount R: Int, rowLevelStride: Int, codebook: [Double],
                                        levels: Int, codebookSize L: Int, dimension D: Int) -> [Double] {
        var out = [Double](repeating: 0, count: levels * R * L)
        for level in 0..<levels {
            for r in 0..<R {
                let a = (level * rowLevelStride + r) * D
                for e in 0..<L {
                    let b = (level * L + e) * D
                    var sum = 0.0
                    for d in 0..<D { sum += rows[a + d] * codebook[b + d] }
                    out[(level * R + r) * L + e] = sum
                }
            }
        }
        return out
    }

    /// What language_loss writes.
    public struct LossOutput {
        public var weightGradient: [Double]  // [P, levels * L]
        public var coefficients: [Double]    // [levels, P, 2] (a, b)
        public var loss: [Double]            // [levels, P]
    }

    /// language_loss: per level the mean over pixels with a feature of
    /// 1 - cos(C^T w, g); `gram` [levels, L, L], `targets` h = C g [levels, M, L],
    /// `segments` [levels, P], `invValid` [levels].
    public static func languageLoss(weightMap: [Double], mapStride: Int, pixels P: Int, segments: [Int32], gram: [Double],
                                    targets: [Double], rowCount M: Int, levels: Int, codebookSize L: Int,
                                    invValid: [Double]) -> LossOutput {
        var out = LossOutput(weightGradient: [Double](repeating: 0, count: P * levels * L),
                             coefficients: [Double](repeating: 0, count: levels * P * 2),
                             loss: [Double](repeating: 0, count: levels * P))
        for p in 0..<P {
            for level in 0..<levels {
                let segment = Int(segments[level * P + p])
                guard segment >= 0 else { continue }
                let w = (0..<L).map { weightMap[p * mapStride + level * L + $0] }
                var gw = [Double](repeating: 0, count: L)
                var nn = 0.0, dotH = 0.0
                for i in 0..<L {
                    for j in 0..<L { gw[i] += gram[level * L * L + i * L + j] * w[j] }
                    nn += w[i] * gw[i]
                    dotH += w[i] * targets[(level * M + segment) * L + i]
                }
                nn = max(nn, 0) + normFloor
                let n = nn.squareRoot(), cosine = dotH / n, s = invValid[level]
                for i in 0..<L {
                    out.weightGradient[p * levels * L + level * L + i] = -s * (targets[(level * M + segment) * L + i] / n - cosine * gw[i] / nn)
                }
                out.coefficients[2 * (level * P + p)] = s / n
                out.coefficients[2 * (level * P + p) + 1] = s * cosine / nn
                out.loss[level * P + p] = 1 - cosine
            }
        }
        return out
    }

    /// The loss language_loss's per-pixel terms add up to: sum over levels
    /// of the mean of 1 - cos over pixels with a feature (for finite differences).
    public static func languageLossValue(weightMap: [Double], mapStride: Int, pixels P: Int, segments: [Int32],
                                         rows: [Double], rowCount M: Int, codebook: [Double], levels: Int,
                                         codebookSize L: Int, dimension D: Int) -> Double {
        var total = 0.0
        for level in 0..<levels {
            var sum = 0.0, valid = 0
            for p in 0..<P {
                let segment = Int(segments[level * P + p])
                guard segment >= 0 else { continue }
                valid += 1
                var f = [Double](repeating: 0, count: D)
                for e in 0..<L {
                    let w = weightMap[p * mapStride + level * L + e]
                    for d in 0..<D { f[d] += w * codebook[(level * L + e) * D + d] }
                }
                let nn = f.reduce(0) { $0 + $1 * $1 } + normFloor
                var dot = 0.0
                for d in 0..<D { dot += f[d] * rows[segment * D + d] }
                sum += 1 - dot / nn.squareRoot()
            }
            if valid > 0 { total += sum / Double(valid) }
        }
        return total
    }

    /// language_codebook_sums: A [levels, M, L] (segment sums of a w) and
    /// B [levels, L, L] (sums of b w w^T over pixels with a feature).
    public static func languageCodebookSums(weightMap: [Double], mapStride: Int, pixels P: Int, segments: [Int32],
                                            coefficients: [Double], rowCount M: Int, levels: Int, codebookSize L: Int)
        -> (segmentSums: [Double], outerSums: [Double]) {
        var a = [Double](repeating: 0, count: levels * M * L)
        var b = [Double](repeating: 0, count: levels * L * L)
        for level in 0..<levels {
            for p in 0..<P {
                let segment = Int(segments[level * P + p])
                guard segment >= 0 else { continue }
                let ca = coefficients[2 * (level * P + p)], cb = coefficients[2 * (level * P + p) + 1]
                let m0 = p * mapStride + level * L
                for e in 0..<L {
                    a[(level * M + segment) * L + e] += ca * weightMap[m0 + e]
                    for j in 0..<L { b[(level * L + e) * L + j] += cb * weightMap[m0 + e] * weightMap[m0 + j] }
                }
            }
        }
        return (a, b)
    }

    /// language_codebook_gradient: dC [levels, L, D] = -(A^T g - B C) per level.
    public static func languageCodebookGradient(segmentSums a: [Double], outerSums b: [Double], rows: [Double], rowCount M: Int,
                                                codebook: [Double], levels: Int, codebookSize L: Int, dimension D: Int) -> [Double] {
        var out = [Double](repeating: 0, count: levels * L * D)
        for level in 0..<levels {
            for e in 0..<L {
                for d in 0..<D {
                    var sum = 0.0
                    for m in 0..<M { sum += a[(level * M + m) * L + e] * rows[m * D + d] }
                    for j in 0..<L { sum -= b[(level * L + e) * L + j] * codebook[(level * L + j) * D + d] }
                    out[(level * L + e) * D + d] = -sum
                }
            }
        }
        return out
    }

    /// language_decode: unit features [levels, P, D] of a weight map.
    public static func languageDecode(weightMap: [Double], mapStride: Int, pixels P: Int, codebook: [Double],
                                      levels: Int, codebookSize L: Int, dimension D: Int) -> [Double] {
        var out = [Double](repeating: 0, count: levels * P * D)
        for level in 0..<levels {
            for p in 0..<P {
                var f = [Double](repeating: 0, count: D)
                for e in 0..<L {
                    let w = weightMap[p * mapStride + level * L + e]
                    for d in 0..<D { f[d] += w * codebook[(level * L + e) * D + d] }
                }
                let inv = 1 / (f.reduce(0) { $0 + $1 * $1 } + normFloor).squareRoot()
                for d in 0..<D { out[(level * P + p) * D + d] = f[d] * inv }
            }
        }
        return out
    }

    /// language_similarity on decoded unit features [levels, P, D] and unit
    /// query rows [Q + canonical, D]: LERF relevancy (min over canonical c of
    /// 1 / (1 + exp(T (s_c - s_q)))) or, with `relevancy` false, the cosines.
    /// Returns [levels, Q, P].
    public static func languageSimilarity(features: [Double], pixels P: Int, levels: Int, dimension D: Int, queries: [Double],
                                          queryCount Q: Int, canonicalCount: Int, temperature: Double, relevancy: Bool) -> [Double] {
        var out = [Double](repeating: 0, count: levels * Q * P)
        func cosine(_ level: Int, _ p: Int, _ r: Int) -> Double {
            var s = 0.0
            for d in 0..<D { s += features[(level * P + p) * D + d] * queries[r * D + d] }
            return s
        }
        for level in 0..<levels {
            for p in 0..<P {
                let canonical = (0..<canonicalCount).map { cosine(level, p, Q + $0) }
                for q in 0..<Q {
                    let s = cosine(level, p, q)
                    out[(level * Q + q) * P + p] = relevancy ? canonical.reduce(1.0) { min($0, 1 / (1 + exp(temperature * ($1 - s)))) } : s
                }
            }
        }
        return out
    }
}
