/// Vectorised `e^x` for eight lanes at once.
///
/// Why our own: libm `expf` per element costs as much as the matrix products in a
/// 512-wide layer. Cody–Waite range reduction `x = n·ln2 + r` with |r| ≤ ln2/2, the
/// classic Cephes polynomial for `e^r` (relative error about 1 ulp), then `2^n` built in
/// the exponent bits. Inputs are clamped to [-87.3, 88.3], so results stay normal and finite.
///
/// Only plain lane-wise arithmetic, FMA, compares and bit casts are used: the generic SIMD
/// helpers (`clamped`, `rounded`, float→int conversion) compile to per-lane loops (~100 ns
/// per element measured); the rounding is done with the 1.5·2²³ "magic number" instead.
@_transparent
public func vexp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    var xc = x.replacing(with: -87.3, where: x .< -87.3)
    xc = xc.replacing(with: 88.3, where: xc .> 88.3)
    // t = xc·log2(e) + 1.5·2²³ rounds to nearest; its low mantissa bits hold the integer n.
    let magic = SIMD8<Float>(repeating: 12_582_912)
    let t = xc * 1.442_695_04 + magic
    let n = t - magic
    // Two-constant split of ln 2 keeps r accurate to float precision.
    var r = xc.addingProduct(n, SIMD8(repeating: -0.693_359_375))
    r = r.addingProduct(n, SIMD8(repeating: 2.121_944_4e-4))
    var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
    p = SIMD8(repeating: 1.398_199_95e-3).addingProduct(p, r)
    p = SIMD8(repeating: 8.333_451_9e-3).addingProduct(p, r)
    p = SIMD8(repeating: 4.166_579_6e-2).addingProduct(p, r)
    p = SIMD8(repeating: 1.666_666_5e-1).addingProduct(p, r)
    p = SIMD8(repeating: 5.000_000_1e-1).addingProduct(p, r)
    let er = (r + 1).addingProduct(p, r * r)
    let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000
    let scale = unsafeBitCast((ni &+ 127) &<< 23, to: SIMD8<Float>.self)
    return er * scale
}

/// `y[i] = e^x[i]` over a buffer (`y` may be `x`); every element through the vector formula.
@inline(__always)
public func vexp(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
    var i = 0
    while i + 8 <= n {
        store8(vexp(load8(x + i)), y + i)
        i += 8
    }
    while i < n { y[i] = vexp(SIMD8(repeating: x[i]))[0]; i += 1 }
}
