/// Eight-lane `tanh` and `log` for the policy head's squashed Gaussian, built on `vexp`.
///
/// Why our own: the planner draws four policy samples per trajectory and step, each needing
/// two tanh, an exp and a log per action dimension; as scalar libm calls they were 4% of a
/// small-preset plan (perf). Cephes-style approximations, about 1–2 ulp on the ranges used.

/// tanh: an odd polynomial below |x| = 0.625 (where 1 − 2/(e^{2x}+1) would cancel), the
/// exponential form above it. Saturates cleanly to ±1 (vexp clamps its input).
@inline(__always)
public func vtanh(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let ax = x.replacing(with: -x, where: x .< 0)
    let e = vexp(ax + ax)
    var big = 1 - 2 * reciprocalExact(e + 1)
    big = big.replacing(with: -big, where: x .< 0)
    let z = x * x
    var p = SIMD8<Float>(repeating: -5.704_988_727_45e-3)
    p = SIMD8(repeating: 2.063_908_879_54e-2).addingProduct(p, z)
    p = SIMD8(repeating: -5.373_971_555_31e-2).addingProduct(p, z)
    p = SIMD8(repeating: 1.333_144_220_36e-1).addingProduct(p, z)
    p = SIMD8(repeating: -3.333_328_194_22e-1).addingProduct(p, z)
    let small = x.addingProduct(p * z, x)
    return small.replacing(with: big, where: ax .> 0.625)
}

/// Natural log for positive, finite, normal inputs (the caller guarantees it: the policy's
/// argument is max(0, 1 − a²) + 1e-6). Mantissa in [√½, √2) and a degree-9 polynomial.
@inline(__always)
public func vlog(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let bits = unsafeBitCast(x, to: SIMD8<Int32>.self)
    var e = (bits &>> 23) &- 126
    var m = unsafeBitCast((bits & 0x007F_FFFF) | 0x3F00_0000, to: SIMD8<Float>.self)  // [0.5, 1)
    let low = m .< 0.707_106_781_186_547_524
    e = e.replacing(with: e &- 1, where: low)
    m = (m + m - 1).replacing(with: m - 1, where: .!low)
    // Int → Float through the 1.5·2²³ magic number (the generic conversion is a lane loop).
    let ef = unsafeBitCast(e &+ 0x4B40_0000, to: SIMD8<Float>.self) - 12_582_912
    let z = m * m
    var y = SIMD8<Float>(repeating: 7.037_683_629_2e-2)
    y = SIMD8(repeating: -1.151_461_031_0e-1).addingProduct(y, m)
    y = SIMD8(repeating: 1.167_699_874_0e-1).addingProduct(y, m)
    y = SIMD8(repeating: -1.242_014_084_6e-1).addingProduct(y, m)
    y = SIMD8(repeating: 1.424_932_278_7e-1).addingProduct(y, m)
    y = SIMD8(repeating: -1.666_805_766_5e-1).addingProduct(y, m)
    y = SIMD8(repeating: 2.000_071_476_5e-1).addingProduct(y, m)
    y = SIMD8(repeating: -2.499_999_399_3e-1).addingProduct(y, m)
    y = SIMD8(repeating: 3.333_333_117_4e-1).addingProduct(y, m)
    y = y * m * z
    y = y.addingProduct(ef, SIMD8(repeating: -2.121_944_40e-4))
    y = y.addingProduct(z, SIMD8(repeating: -0.5))
    return (m + y).addingProduct(ef, SIMD8(repeating: 0.693_359_375))
}

/// 1/d by division (exact rounding): tanh's saturation must reach exactly ±1.
@_transparent
func reciprocalExact(_ d: SIMD8<Float>) -> SIMD8<Float> { 1 / d }
