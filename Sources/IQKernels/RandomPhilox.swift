/// Counter-based random numbers (Philox4x32-10, Salmon et al., "Parallel random numbers:
/// as easy as 1, 2, 3", SC'11).
///
/// Why counter-based: every random number the planner uses is a pure function of
/// (seed, stream, position). A stream is named by what the numbers are for (plan index,
/// iteration, purpose), and the position by which sample row / element needs them. So
/// the value a row sees does not depend on which thread computes it, how rows are
/// partitioned, or how many numbers were drawn before: 1 and N worker threads give
/// bit-identical plans, and there is no generator state to share or lock.
///
/// Layout of the 128-bit counter: words 0-1 = block index inside the stream
/// (little-endian UInt64), words 2-3 = stream id (UInt64). The 64-bit key is the seed.
/// Each block yields four 32-bit words; element `e` of a stream is word `e % 4` of block `e / 4`.
public struct Philox: Sendable, Equatable {
    public let key0: UInt32
    public let key1: UInt32

    public init(seed: UInt64) {
        key0 = UInt32(truncatingIfNeeded: seed)
        key1 = UInt32(truncatingIfNeeded: seed >> 32)
    }

    public init(key0: UInt32, key1: UInt32) {
        self.key0 = key0
        self.key1 = key1
    }

    @usableFromInline static let m0: UInt32 = 0xD251_1F53
    @usableFromInline static let m1: UInt32 = 0xCD9E_8D57
    @usableFromInline static let w0: UInt32 = 0x9E37_79B9
    @usableFromInline static let w1: UInt32 = 0xBB67_AE85

    /// The raw 10-round block function on one counter (scalar; used for known-answer tests
    /// and the odd single draw, e.g. the elite choice).
    @inlinable
    public func block(_ c: (UInt32, UInt32, UInt32, UInt32)) -> (UInt32, UInt32, UInt32, UInt32) {
        var (c0, c1, c2, c3) = c
        var k0 = key0, k1 = key1
        for round in 0..<10 {
            if round > 0 { k0 &+= Philox.w0; k1 &+= Philox.w1 }
            let p0 = UInt64(Philox.m0) &* UInt64(c0)
            let p1 = UInt64(Philox.m1) &* UInt64(c2)
            let hi0 = UInt32(truncatingIfNeeded: p0 >> 32), lo0 = UInt32(truncatingIfNeeded: p0)
            let hi1 = UInt32(truncatingIfNeeded: p1 >> 32), lo1 = UInt32(truncatingIfNeeded: p1)
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
        }
        return (c0, c1, c2, c3)
    }

    /// Block `index` of `stream`.
    @inlinable
    public func block(stream: UInt64, index: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
        block((UInt32(truncatingIfNeeded: index), UInt32(truncatingIfNeeded: index >> 32),
               UInt32(truncatingIfNeeded: stream), UInt32(truncatingIfNeeded: stream >> 32)))
    }

    /// Eight consecutive blocks `first ..< first + 8` of `stream` at once (AVX2 lanes); lane j
    /// holds exactly what `block(stream:index: first + j)` returns.
    @inlinable
    func block8(stream: UInt64, first: UInt64)
        -> (SIMD8<UInt32>, SIMD8<UInt32>, SIMD8<UInt32>, SIMD8<UInt32>)
    {
        let lanes = SIMD8<UInt64>(0, 1, 2, 3, 4, 5, 6, 7) &+ SIMD8<UInt64>(repeating: first)
        var c0 = SIMD8<UInt32>(truncatingIfNeeded: lanes)
        var c1 = SIMD8<UInt32>(truncatingIfNeeded: lanes &>> 32)
        var c2 = SIMD8<UInt32>(repeating: UInt32(truncatingIfNeeded: stream))
        var c3 = SIMD8<UInt32>(repeating: UInt32(truncatingIfNeeded: stream >> 32))
        var k0 = key0, k1 = key1
        let m0 = SIMD8<UInt64>(repeating: UInt64(Philox.m0))
        let m1 = SIMD8<UInt64>(repeating: UInt64(Philox.m1))
        for round in 0..<10 {
            if round > 0 { k0 &+= Philox.w0; k1 &+= Philox.w1 }
            let p0 = m0 &* SIMD8<UInt64>(truncatingIfNeeded: c0)
            let p1 = m1 &* SIMD8<UInt64>(truncatingIfNeeded: c2)
            let hi0 = SIMD8<UInt32>(truncatingIfNeeded: p0 &>> 32)
            let lo0 = SIMD8<UInt32>(truncatingIfNeeded: p0)
            let hi1 = SIMD8<UInt32>(truncatingIfNeeded: p1 &>> 32)
            let lo1 = SIMD8<UInt32>(truncatingIfNeeded: p1)
            let n0 = hi1 ^ c1 ^ SIMD8<UInt32>(repeating: k0)
            let n2 = hi0 ^ c3 ^ SIMD8<UInt32>(repeating: k1)
            c0 = n0; c1 = lo1; c2 = n2; c3 = lo0
        }
        return (c0, c1, c2, c3)
    }
}
