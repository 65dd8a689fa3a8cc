import Foundation

/// The project's one seeded generator for everything that is not the planner's hot path:
/// weight initialisation, the trainer (slices, dropout masks, noise, head pairs, random
/// actions), the simulated plants (initial states, targets, injected faults, the experts'
/// exploration and sampling) and synthetic inputs such as check-budget's observations. xoshiro256** seeded by
/// SplitMix64, Box–Muller normals with the second value kept for the next call.
///
/// Why not Philox for these too: Philox is counter-based so the planner's draws do not depend
/// on how rows are split across threads; these cold paths draw sequentially, and a checkpoint
/// can store this whole state (four words and the kept normal) so a resumed run draws exactly
/// what the uninterrupted one would have. Conforms to `RandomNumberGenerator`, so the
/// standard library's `shuffled(using:)`, `random(in:using:)` work with it.
public struct SeededRandom: RandomNumberGenerator, Sendable, Equatable, Codable {
    public var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64
    public var spare: Double
    public var hasSpare: Bool

    public init(seed: UInt64) {
        var x = seed &+ 0x9E37_79B9_7F4A_7C15
        func splitmix(_ x: inout UInt64) -> UInt64 {
            x = x &+ 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(&x); s1 = splitmix(&x); s2 = splitmix(&x); s3 = splitmix(&x)
        spare = 0
        hasSpare = false
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3; s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// Uniform in [0, 1) with 53 bits.
    @inline(__always)
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in [lo, hi).
    @inline(__always)
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * uniform() }

    /// Uniform integer in [0, n).
    @inline(__always)
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0)
        return Int(next().multipliedFullWidth(by: UInt64(n)).high)
    }

    /// Standard normal.
    @inline(__always)
    public mutating func normal() -> Double {
        if hasSpare { hasSpare = false; return spare }
        var u1 = uniform()
        while u1 <= 1e-300 { u1 = uniform() }
        let u2 = uniform()
        let r = (-2.0 * Foundation.log(u1)).squareRoot()
        let th = 2.0 * Double.pi * u2
        spare = r * Foundation.sin(th)
        hasSpare = true
        return r * Foundation.cos(th)
    }

    /// PyTorch `trunc_normal_(std:)` with its default absolute bounds ±2, by rejection.
    @inline(__always)
    public mutating func truncatedNormal(std: Double, bound: Double = 2) -> Double {
        while true {
            let v = normal() * std
            if abs(v) <= bound { return v }
        }
    }

    /// Two distinct indices in [0, k), uniform over ordered pairs (one Q call's head pair).
    public mutating func pair(_ k: Int) -> (Int, Int) {
        let a = below(k)
        var b = below(k - 1)
        if b >= a { b += 1 }
        return (a, b)
    }
}
