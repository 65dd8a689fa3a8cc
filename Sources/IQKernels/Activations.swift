import Foundation

/// Element-wise activations on caller buffers. One definition of the math, shared by
/// the runtime's forward passes and the trainer.
public enum Activations {
    /// Mish on eight lanes with a single exponential:
    /// `tanh(softplus(x)) = n(n+2) / (n(n+2) + 2)` with `n = e^x`.
    /// Guard: for x > 15 the ratio is 1 to float precision (1 − 2e⁻³⁰), so the result is x itself and n is
    /// computed at min(x, 15), never overflowing; for very negative x, n underflows towards 0 and
    /// Mish → x·n → 0 as it should.
    /// The division is a hardware reciprocal estimate refined by one Newton step (relative
    /// error ≈ 2⁻²²), cheaper than `vdivps` (perf: epilogue share of a tiny-preset pass 14% → 12.5%).
    @_transparent
    public static func mish8(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let big = x .> 15
        let n = vexp(x.replacing(with: 15, where: big))
        let t = n * (n + 2)
        return (x * (t * reciprocal8(t + 2))).replacing(with: x, where: big)
    }

    /// Mish of one value, same formula as the vector form.
    @inline(__always)
    public static func mish(_ x: Float) -> Float {
        mish8(SIMD8(repeating: x))[0]
    }

    /// In-place Mish over `count` contiguous values. Tail lanes go through the same
    /// vector formula, so a value's result does not depend on its position.
    @inline(__always)
    public static func mish(_ p: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let v = UnsafeMutableRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(p + i).storeBytes(of: mish8(v), as: SIMD8<Float>.self)
            i += 8
        }
        if i < count {
            var v = SIMD8<Float>(repeating: 0)
            for j in 0..<(count - i) { v[j] = p[i + j] }
            let m = mish8(v)
            for j in 0..<(count - i) { p[i + j] = m[j] }
        }
    }

    /// Numerically stable softplus `log(1 + e^x) = max(x, 0) + log1p(e^{-|x|})`.
    @inline(__always)
    public static func softplus(_ x: Float) -> Float {
        max(x, 0) + log1p(exp(-abs(x)))
    }

    /// In-place softplus over `count` values.
    public static func softplus(_ p: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { p[i] = softplus(p[i]) }
    }

    /// Softmax of one group of eight.
    @_transparent
    public static func softmax8(_ v: SIMD8<Float>) -> SIMD8<Float> {
        let e = vexp(v - SIMD8(repeating: hmax(v)))
        return e * SIMD8(repeating: 1 / hsum(e))
    }

    /// In-place SimNorm: softmax within each contiguous group of `group` values.
    /// Groups of 8 (the default) are one vector each.
    @inline(__always)
    public static func simNorm(_ p: UnsafeMutablePointer<Float>, count: Int, group: Int) {
        if group == 8 {
            var i = 0
            while i + 8 <= count {
                store8(softmax8(load8(p + i)), p + i)
                i += 8
            }
            return
        }
        var g = 0
        while g < count {
            var m = -Float.infinity
            for j in g..<(g + group) { m = max(m, p[j]) }
            var s: Float = 0
            for j in g..<(g + group) { let e = Foundation.exp(p[j] - m); p[j] = e; s += e }
            let inv = 1 / s
            for j in g..<(g + group) { p[j] *= inv }
            g += group
        }
    }

    /// LayerNorm (biased variance, eps inside the square root, PyTorch semantics) of one
    /// row in place, then the affine `gain`, `bias`.
    @inline(__always)
    public static func layerNorm(
        _ p: UnsafeMutablePointer<Float>, count: Int,
        gain: UnsafePointer<Float>, bias: UnsafePointer<Float>, eps: Float = 1e-5
    ) {
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= count {
            acc += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var sum = hsum(acc)
        while i < count { sum += p[i]; i += 1 }
        let mean = sum / Float(count)
        let mv = SIMD8<Float>(repeating: mean)
        var accv = SIMD8<Float>(repeating: 0)
        i = 0
        while i + 8 <= count {
            let d = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self) - mv
            accv = accv.addingProduct(d, d)
            i += 8
        }
        var sq = hsum(accv)
        while i < count { let d = p[i] - mean; sq += d * d; i += 1 }
        let inv = 1 / (sq / Float(count) + eps).squareRoot()
        let iv = SIMD8<Float>(repeating: inv)
        i = 0
        while i + 8 <= count {
            let raw = UnsafeMutableRawPointer(p + i)
            let x = raw.loadUnaligned(as: SIMD8<Float>.self)
            let g = UnsafeRawPointer(gain + i).loadUnaligned(as: SIMD8<Float>.self)
            let b = UnsafeRawPointer(bias + i).loadUnaligned(as: SIMD8<Float>.self)
            raw.storeBytes(of: b.addingProduct((x - mv) * iv, g), as: SIMD8<Float>.self)
            i += 8
        }
        while i < count { p[i] = bias[i].addingProduct((p[i] - mean) * inv, gain[i]); i += 1 }
    }
}
