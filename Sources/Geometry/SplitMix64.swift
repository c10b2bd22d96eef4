import Foundation

/// SplitMix64 (Steele, Lea & Flood 2014): a small, fast, seedable generator,
/// so synthetic scenes, benchmark inputs and test fixtures are the same on
/// every run and machine.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [lo, hi) from 24 random bits (exactly representable steps).
    public mutating func uniform(_ lo: Float = 0, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * (Float(next() >> 40) * (1.0 / 16_777_216.0))
    }

    /// Standard normal (Box-Muller in Double, rounded to Float).
    public mutating func normal() -> Float {
        let u1 = (Double(next() >> 11) + 0.5) * (1.0 / 9_007_199_254_740_992.0)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2))
    }
}
