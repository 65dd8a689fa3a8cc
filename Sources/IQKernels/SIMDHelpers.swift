#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// Horizontal reductions and partial loads written so they compile to a few shuffles.
/// Why: the standard `SIMD.max()`/`sum()` and `pointwiseMax` are generic lane loops with
/// NaN handling that stay scalar even at -Ounchecked (measured ~6 ns per element in SimNorm).
@_transparent
public func hmax(_ v: SIMD8<Float>) -> Float {
    let a = v.lowHalf, b = v.highHalf
    let m4 = a.replacing(with: b, where: b .> a)
    let c = m4.lowHalf, d = m4.highHalf
    let m2 = c.replacing(with: d, where: d .> c)
    return m2[1] > m2[0] ? m2[1] : m2[0]
}

/// 1/d for positive, normal d: `vrcpps` estimate (12 bits) plus one Newton–Raphson step.
/// Note the estimate differs between CPU vendors, so results are bit-reproducible per machine
/// (as OpenBLAS's per-CPU kernels already are), not across machines.
@_transparent
public func reciprocal8(_ d: SIMD8<Float>) -> SIMD8<Float> {
    #if arch(x86_64)
    let r = _mm256_rcp_ps(d)
    return r * (2 - d * r)
    #else
    return 1 / d
    #endif
}

@_transparent
public func hsum(_ v: SIMD8<Float>) -> Float {
    let s4 = v.lowHalf + v.highHalf
    let s2 = s4.lowHalf + s4.highHalf
    return s2[0] + s2[1]
}

/// Unaligned loads and stores of eight floats (shared by the runtime's and the trainer's kernels).
@_transparent
public func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@_transparent
public func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Loads `count` < 8 values, zero-filling the other lanes (row tails).
@inline(__always)
func loadPartial(_ p: UnsafePointer<Float>, _ count: Int) -> SIMD8<Float> {
    var v = SIMD8<Float>(repeating: 0)
    for j in 0..<count { v[j] = p[j] }
    return v
}

@inline(__always)
func storePartial(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
    for j in 0..<count { p[j] = v[j] }
}
