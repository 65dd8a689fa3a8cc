import Foundation

/// Deterministic normal draws for weight initialisation (docs/algorithm.md §1.8). Not the planner's
/// Philox: initialisation is not a hot path, so SplitMix64 + Box–Muller keeps this module
/// independent and the output reproducible across platforms (only exact IEEE operations
/// on Double, then rounding to Float).
struct InitGenerator {
    private var state: UInt64
    private var spare: Double?

    init(seed: UInt64) { state = seed }

    mutating func nextUInt64() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    mutating func uniform() -> Double { (Double(nextUInt64() >> 11) + 1) * 0x1p-53 }

    mutating func normal() -> Double {
        if let s = spare { spare = nil; return s }
        let r = (-2 * Foundation.log(uniform())).squareRoot()
        let t = 2 * Double.pi * uniform()
        spare = r * Foundation.sin(t)
        return r * Foundation.cos(t)
    }

    /// PyTorch `trunc_normal_(std:)` with its default absolute bounds ±2 (effectively a
    /// plain normal for std 0.02, but honoured exactly by rejection).
    mutating func truncatedNormal(std: Double, bound: Double = 2) -> Float {
        while true {
            let v = normal() * std
            if abs(v) <= bound { return Float(v) }
        }
    }
}
