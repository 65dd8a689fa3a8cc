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

    /// Mish over `count` contiguous values of `x` into `y` (which may be `x`). Tail lanes go
    /// through the same vector formula, so a value's result does not depend on its position.
    /// The trainer's Float forward runs this same function.
    @inline(__always)
    public static func mish(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            store8(mish8(load8(x + i)), y + i)
            i += 8
        }
        if i < count {
            let m = mish8(loadPartial(x + i, count - i))
            storePartial(m, y + i, count - i)
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

    /// SimNorm of `x` into `y` (which may be `x`): softmax within each contiguous group of
    /// `group` values, each group's maximum subtracted first. The runtime's unfused layers run
    /// it in Float (the planner's fused epilogue handles groups of 8 one vector at a time,
    /// `softmax8`); the trainer runs it in Float and, as its finite-difference oracle, in Double.
    /// `exp` writes e^x over a buffer.
    @inlinable @inline(__always)
    public static func simNorm<T: BinaryFloatingPoint>(_ x: UnsafePointer<T>, into y: UnsafeMutablePointer<T>, count: Int,
                                                      group g: Int, exp: (UnsafePointer<T>, UnsafeMutablePointer<T>, Int) -> Void) {
        var base = 0
        while base < count {
            var m = x[base]
            for j in 1..<g { m = Swift.max(m, x[base + j]) }
            for j in 0..<g { y[base + j] = x[base + j] - m }
            base += g
        }
        exp(y, y, count)
        base = 0
        while base < count {
            var s: T = 0
            for j in 0..<g { s += y[base + j] }
            let inv = 1 / s
            for j in 0..<g { y[base + j] *= inv }
            base += g
        }
    }

    /// SimNorm in Float with the vector exponential.
    @inline(__always)
    public static func simNorm(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, group: Int) {
        simNorm(x, into: y, count: count, group: group) { vexp($0, into: $1, count: $2) }
    }

    /// LayerNorm's ε (inside the square root, as PyTorch's default).
    public static let layerNormEps: Float = 1e-5

    /// A row's mean and 1/sqrt(biased variance + ε), in two passes (as PyTorch's LayerNorm).
    @inline(__always)
    public static func layerNormMoments(_ x: UnsafePointer<Float>, count n: Int) -> (mean: Float, rstd: Float) {
        let n8 = n & ~7
        let inv = 1 / Float(n)
        var acc = SIMD8<Float>()
        var j = 0
        while j < n8 { acc += load8(x + j); j += 8 }
        var mean = acc.sum()
        while j < n { mean += x[j]; j += 1 }
        mean *= inv
        let m8 = SIMD8<Float>(repeating: mean)
        acc = SIMD8<Float>()
        j = 0
        while j < n8 { let d = load8(x + j) - m8; acc = acc.addingProduct(d, d); j += 8 }
        var v = acc.sum()
        while j < n { let d = x[j] - mean; v += d * d; j += 1 }
        v *= inv
        return (mean, 1 / (v + layerNormEps).squareRoot())
    }

    /// LayerNorm of one row of `x` into `y` (which may be `x`) with the affine `gain`, `bias`;
    /// `xhat` (optional) receives the normalised row. Returns 1/std. The runtime's unfused
    /// layers and the trainer's Float forward both run this; the planner's fused epilogue
    /// (`biasLayerNorm`) computes the moments in one pass instead.
    @inline(__always) @discardableResult
    public static func layerNorm(_ x: UnsafePointer<Float>, count n: Int, gain: UnsafePointer<Float>,
                                 bias: UnsafePointer<Float>, xhat: UnsafeMutablePointer<Float>? = nil,
                                 into y: UnsafeMutablePointer<Float>) -> Float {
        let n8 = n & ~7
        let (mean, rs) = layerNormMoments(x, count: n)
        let m8 = SIMD8<Float>(repeating: mean), rs8 = SIMD8<Float>(repeating: rs)
        var j = 0
        while j < n8 {
            let h = (load8(x + j) - m8) * rs8
            if let xhat { store8(h, xhat + j) }
            store8(load8(bias + j).addingProduct(h, load8(gain + j)), y + j)
            j += 8
        }
        while j < n { let h = (x[j] - mean) * rs; xhat?[j] = h; y[j] = h * gain[j] + bias[j]; j += 1 }
        return rs
    }
}
