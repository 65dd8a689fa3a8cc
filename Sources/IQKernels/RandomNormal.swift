/// Uniform and standard-normal draws from Philox streams, eight blocks (32 numbers) at a time.
///
/// Element `e` of a stream is a fixed function of (key, stream, e): the vector path and a
/// ragged tail compute it with the same arithmetic, so filling [a, b) in one call or in
/// pieces (as different threads do) gives the same bits. Normals use Box-Muller on the
/// word pairs (0,1) and (2,3) of each block, with polynomial log/sin/cos (float precision,
/// one pass, no libm calls): the planner draws ~10^5 normals per plan and libm would cost
/// as much as the network.
extension Philox {
    /// Writes normals `counter ..< counter + count` of `stream` to `out`.
    public func fillNormal(stream: UInt64, counter: UInt64, into out: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        var element = counter
        let end = counter &+ UInt64(count)
        var written = 0
        while element < end {
            let firstBlock = element / 4
            // Groups are aligned to 8 blocks so that every element always comes from the same lane.
            let groupStart = firstBlock & ~7
            let (n0, n1, n2, n3) = normal8(stream: stream, first: groupStart)
            let groupFirstElement = groupStart &* 4
            let from = Int(element &- groupFirstElement)
            let to = Int(min(end &- groupFirstElement, 32))
            if from == 0 && to == 32 {
                let o = out + written
                for j in 0..<8 {
                    o[4 * j] = n0[j]; o[4 * j + 1] = n1[j]; o[4 * j + 2] = n2[j]; o[4 * j + 3] = n3[j]
                }
            } else {
                for e in from..<to {
                    let j = e >> 2
                    let v: Float
                    switch e & 3 {
                    case 0: v = n0[j]
                    case 1: v = n1[j]
                    case 2: v = n2[j]
                    default: v = n3[j]
                    }
                    out[written + e - from] = v
                }
            }
            written += to - from
            element = groupFirstElement &+ UInt64(to)
        }
    }

    /// Writes uniforms in (0, 1) (24-bit resolution) for elements `counter ..< counter + count`.
    public func fillUniform(stream: UInt64, counter: UInt64, into out: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            out[i] = uniform(stream: stream, element: counter &+ UInt64(i))
        }
    }

    /// One uniform in (0, 1): element `element` of `stream` (word `element % 4` of its block).
    public func uniform(stream: UInt64, element: UInt64) -> Float {
        (Float(word(stream: stream, element: element) >> 8) + 0.5) * (1.0 / 16_777_216.0)
    }

    /// Raw 32-bit element `element` of `stream`: word `element % 4` of block `element / 4`.
    /// Every scalar draw (uniforms here, the planner's small integers) reads its bits here.
    @inline(__always)
    public func word(stream: UInt64, element: UInt64) -> UInt32 {
        let b = block(stream: stream, index: element / 4)
        switch element & 3 {
        case 0: return b.0
        case 1: return b.1
        case 2: return b.2
        default: return b.3
        }
    }

    /// Normals for blocks first ..< first+8: lane j of n_w is element 4*(first+j) + w.
    func normal8(stream: UInt64, first: UInt64)
        -> (SIMD8<Float>, SIMD8<Float>, SIMD8<Float>, SIMD8<Float>)
    {
        let (w0, w1, w2, w3) = block8(stream: stream, first: first)
        let (a0, a1) = Philox.boxMuller(w0, w1)
        let (b0, b1) = Philox.boxMuller(w2, w3)
        return (a0, a1, b0, b1)
    }

    /// (r cos θ, r sin θ) with r = sqrt(-2 ln u1), u1 in (0, 1]; θ = 2π u2, u2 in [0, 1),
    /// both from the top 24 bits of a word. Integer-only quadrant reduction and a Newton
    /// square root keep this in vector registers (SIMD `squareRoot`/`rounded` and float→int
    /// conversions lower to per-lane library calls on this toolchain).
    @inline(__always)
    static func boxMuller(_ x: SIMD8<UInt32>, _ y: SIMD8<UInt32>) -> (SIMD8<Float>, SIMD8<Float>) {
        let scale = SIMD8<Float>(repeating: 1.0 / 16_777_216.0)
        let u1 = (SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: x &>> 8)) + 1) * scale
        let r = sqrtNewton(-2 * fastLog(u1))
        // θ/(2π) = Y·2^-24; nearest quarter turn q = (Y + 2^21) >> 22 in 0...4.
        let yi = SIMD8<Int32>(truncatingIfNeeded: y &>> 8)
        let q = (yi &+ (1 << 21)) &>> 22
        let frac = SIMD8<Float>(yi &- (q &<< 22)) * scale  // in [-1/8, 1/8) turns
        let (s, c) = sinCosQuarter(frac * 6.283185307179586, quadrant: q & 3)
        return (r * c, r * s)
    }

    /// sqrt(v) for v >= 0 as v·rsqrt(v): bit-trick seed plus three Newton steps.
    /// (Blends use integer bit operations throughout this file: SIMD `replacing(with:where:)`
    /// compiles to a per-lane loop through the stack here and cost 20x the arithmetic.)
    @inline(__always)
    static func sqrtNewton(_ value: SIMD8<Float>) -> SIMD8<Float> {
        let bits = unsafeBitCast(value, to: SIMD8<Int32>.self) & 0x7FFF_FFFF  // |v|: -0 → +0
        let v = unsafeBitCast(bits, to: SIMD8<Float>.self)
        var g = unsafeBitCast(SIMD8<Int32>(repeating: 0x5F37_5A86) &- (bits &>> 1), to: SIMD8<Float>.self)
        let half = v * 0.5
        for _ in 0..<3 { g = g * (1.5 - half * g * g) }
        return v * g  // v = 0 gives 0 · (finite seed) = 0
    }

    /// Natural log for x in (0, 1], ~1 ulp (cephes-style: mantissa in [sqrt(1/2), sqrt 2), degree-9 polynomial).
    @inline(__always)
    static func fastLog(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let bits = unsafeBitCast(x, to: SIMD8<Int32>.self)
        var mbits = (bits & 0x007F_FFFF) | 0x3F00_0000  // mantissa as a float in [0.5, 1)
        let small = (mbits &- 0x3F35_04F3) &>> 31  // -1 where mantissa < sqrt(1/2), else 0
        let e = SIMD8<Float>((bits &>> 23) &- 126 &+ small)
        mbits = mbits &+ (small & 0x0080_0000)  // doubles the mantissa where small
        let m = unsafeBitCast(mbits, to: SIMD8<Float>.self) - 1
        let z = m * m
        var y = SIMD8<Float>(repeating: 7.0376836292e-2)
        y = y * m + -1.1514610310e-1
        y = y * m + 1.1676998740e-1
        y = y * m + -1.2420140846e-1
        y = y * m + 1.4249322787e-1
        y = y * m + -1.6668057665e-1
        y = y * m + 2.0000714765e-1
        y = y * m + -2.4999993993e-1
        y = y * m + 3.3333331174e-1
        y = y * m * z
        y = y + e * -2.12194440e-4
        y = y - 0.5 * z
        return m + y + e * 0.693359375
    }

    /// sin and cos of x + quadrant·π/2 for x in [-π/4, π/4] (minimax polynomials).
    @inline(__always)
    static func sinCosQuarter(_ x: SIMD8<Float>, quadrant: SIMD8<Int32>) -> (SIMD8<Float>, SIMD8<Float>) {
        let z = x * x
        var s = SIMD8<Float>(repeating: -1.9515295891e-4)
        s = s * z + 8.3321608736e-3
        s = s * z + -1.6666654611e-1
        s = s * z * x + x
        var c = SIMD8<Float>(repeating: 2.443315711809948e-5)
        c = c * z + -1.388731625493765e-3
        c = c * z + 4.166664568298827e-2
        c = c * z * z - 0.5 * z + 1
        let sb = unsafeBitCast(s, to: SIMD8<Int32>.self)
        let cb = unsafeBitCast(c, to: SIMD8<Int32>.self)
        let swap = 0 &- (quadrant & 1)  // all ones in odd quadrants
        let sinBits = (sb & ~swap) | (cb & swap)
        let cosBits = (cb & ~swap) | (sb & swap)
        let sinSign = (quadrant &>> 1) &<< 31  // quadrants 2, 3
        let cosSign = (((quadrant &+ 1) &>> 1) & 1) &<< 31  // quadrants 1, 2
        return (unsafeBitCast(sinBits ^ sinSign, to: SIMD8<Float>.self),
                unsafeBitCast(cosBits ^ cosSign, to: SIMD8<Float>.self))
    }
}
