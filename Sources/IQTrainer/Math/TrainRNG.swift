/// xoshiro256** with Box-Muller normals. Its whole state is four words plus a cached normal,
/// so a checkpoint can store it and a resumed run draws exactly the same numbers.
public struct TrainRNG: Sendable, Equatable, Codable {
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

    /// Uniform integer in [0, n).
    @inline(__always)
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0)
        return Int(next().multipliedFullWidth(by: UInt64(n)).high)
    }

    @inline(__always)
    public mutating func normal() -> Double {
        if hasSpare { hasSpare = false; return spare }
        var u1 = uniform()
        while u1 <= 1e-300 { u1 = uniform() }
        let u2 = uniform()
        let r = (-2.0 * _log(u1)).squareRoot()
        let th = 2.0 * Double.pi * u2
        spare = r * _sin(th)
        hasSpare = true
        return r * _cos(th)
    }

    public mutating func fillNormal<T: TrainScalar>(_ p: UnsafeMutablePointer<T>, _ n: Int) {
        for i in 0..<n { p[i] = T(normal()) }
    }

    /// Two distinct indices in [0, k), drawn once per Q call as in docs/algorithm.md §1.6.
    public mutating func pair(_ k: Int) -> (Int, Int) {
        let a = below(k)
        var b = below(k - 1)
        if b >= a { b += 1 }
        return (a, b)
    }
}

import Foundation
@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _sin(_ x: Double) -> Double { Foundation.sin(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
