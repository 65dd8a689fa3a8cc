/// Vectorised `e^x` for eight lanes at once.
///
/// Why our own: libm `expf` per element costs as much as the matrix products in a
/// 512-wide layer. Cody–Waite range reduction `x = n·ln2 + r` with |r| ≤ ln2/2, the
/// classic Cephes polynomial for `e^r` (relative error about 1 ulp), then `2^n` built in
/// the exponent bits. Inputs are clamped to [-87.3, 88.3], so results stay normal and finite.
@inline(__always)
public func vexp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let xc = x.clamped(lowerBound: SIMD8(repeating: -87.3), upperBound: SIMD8(repeating: 88.3))
    let n = (xc * 1.442_695_04).rounded(.toNearestOrEven)
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
    let bits = (SIMD8<Int32>(n, rounding: .towardZero) &+ 127) &<< 23
    return er * unsafeBitCast(bits, to: SIMD8<Float>.self)
}
