/// One-row layer epilogues: bias add, LayerNorm (eps 1e-5, biased variance) and the
/// activation in three passes over a row that stays in L1, instead of five separate passes.
extension Activations {
    public enum FusedActivation: Sendable { case mish, simNorm8 }

    /// `row = φ(LN(row + bias))`. `.simNorm8` needs `count` divisible by 8 (the caller falls
    /// back to the separate kernels otherwise).
    @inline(__always)
    public static func biasLayerNorm(
        _ row: UnsafeMutablePointer<Float>, count n: Int, bias: UnsafePointer<Float>,
        gain: UnsafePointer<Float>, lnBias: UnsafePointer<Float>, then act: FusedActivation, eps: Float = 1e-5
    ) {
        biasLayerNorm(row, count: n, bias: bias, gain: gain, lnBias: lnBias, then: act, eps: eps,
                      term: .none)
    }

    /// What the first pass adds to `bias` besides (or instead of) the GEMM result in the row.
    public enum RowTerm {
        /// The row holds the GEMM result.
        case none
        /// The row already holds the GEMM result plus `bias` (the packed kernels start their
        /// accumulators from it); `bias` is not read.
        case biasIncluded
        /// The row holds the GEMM result over the latent columns only; add `Σ_d a[d]·columns[d]`
        /// (`columns` is `[count, n]`: the action columns of a first layer, transposed).
        case actions(UnsafePointer<Float>, columns: UnsafePointer<Float>, count: Int)
        /// The row's content is ignored: every output is `bias + Σ_d a[d]·columns[d]`, where
        /// `bias` already holds the latent part shared by all rows.
        case actionsOnly(UnsafePointer<Float>, columns: UnsafePointer<Float>, count: Int)
        /// As `.actions`, but the latent product is read from `source` (shared by two calls
        /// with different actions) instead of the row; same operation order, same bits.
        case actionsFrom(source: UnsafePointer<Float>, UnsafePointer<Float>, columns: UnsafePointer<Float>, count: Int)
    }

    /// `row = φ(LN(row + bias + term))`: the first-layer form over concat(z, a) folds a small
    /// action into this pass rather than widening the GEMM by a few ragged columns.
    @inline(__always)
    public static func biasLayerNorm(
        _ row: UnsafeMutablePointer<Float>, count n: Int, bias: UnsafePointer<Float>,
        gain: UnsafePointer<Float>, lnBias: UnsafePointer<Float>, then act: FusedActivation, eps: Float = 1e-5,
        term: RowTerm
    ) {
        let full = n & ~7, tail = n - full
        var i = 0
        var a: UnsafePointer<Float>? = nil, cols = bias, ad = 0, keep: Float = 1
        var rowOnly = false
        var src = UnsafePointer(row)
        switch term {
        case .none: break
        case .biasIncluded: rowOnly = true
        case .actions(let p, let c, let k): a = p; cols = c; ad = k
        case .actionsOnly(let p, let c, let k): a = p; cols = c; ad = k; keep = 0
        case .actionsFrom(let s, let p, let c, let k): src = s; a = p; cols = c; ad = k
        }
        let keepRow = keep != 0
        // The pre-activation at vector offset j (full vector, or the `tail` lanes when j == full).
        @inline(__always) func value(_ j: Int) -> SIMD8<Float> {
            let count = j < full ? 8 : tail
            func ld(_ p: UnsafePointer<Float>) -> SIMD8<Float> { count == 8 ? load8(p) : loadPartial(p, count) }
            if let a {
                var x = ld(bias + j)
                if keepRow { x += ld(src + j) }
                for d in 0..<ad { x = x.addingProduct(SIMD8(repeating: a[d]), ld(cols + d * n + j)) }
                return x
            }
            if rowOnly { return ld(row + j) }
            return ld(row + j) + ld(bias + j)
        }
        // Mean and variance in this one pass, of values shifted by the first vector's mean: the
        // shift keeps Σd² − (Σd)²/n free of cancellation (the textbook one-pass form loses digits
        // when |mean| ≫ std), and saves the separate variance pass over the row.
        let first = value(0)
        let shift = SIMD8<Float>(repeating: hsum(first) / Float(Swift.min(n, 8)))
        var s1 = SIMD8<Float>(repeating: 0), s2 = SIMD8<Float>(repeating: 0)
        while i < full {
            let x = i == 0 ? first : value(i)
            if !rowOnly { store8(x, row + i) }
            let d = x - shift
            s1 += d
            s2 = s2.addingProduct(d, d)
            i += 8
        }
        if tail > 0 {
            let x = full == 0 ? first : value(full)
            if !rowOnly { storePartial(x, row + full, tail) }
            var d = x - shift
            for j in tail..<8 { d[j] = 0 }
            s1 += d
            s2 = s2.addingProduct(d, d)
        }
        let m1 = hsum(s1) / Float(n)
        let variance = Swift.max(0, hsum(s2) / Float(n) - m1 * m1)
        let mv = SIMD8<Float>(repeating: shift[0] + m1)
        let iv = SIMD8<Float>(repeating: 1 / (variance + eps).squareRoot())
        i = 0
        switch act {
        case .mish:
            while i < full {
                let y = load8(lnBias + i).addingProduct((load8(row + i) - mv) * iv, load8(gain + i))
                store8(mish8(y), row + i)
                i += 8
            }
            if tail > 0 {
                let y = loadPartial(lnBias + full, tail)
                    .addingProduct((loadPartial(row + full, tail) - mv) * iv, loadPartial(gain + full, tail))
                storePartial(mish8(y), row + full, tail)
            }
        case .simNorm8:
            while i < full {
                let y = load8(lnBias + i).addingProduct((load8(row + i) - mv) * iv, load8(gain + i))
                store8(softmax8(y), row + i)
                i += 8
            }
        }
    }

    /// `row += bias`.
    @inline(__always)
    public static func addBias(_ row: UnsafeMutablePointer<Float>, count n: Int, bias: UnsafePointer<Float>) {
        var i = 0
        while i + 8 <= n { store8(load8(row + i) + load8(bias + i), row + i); i += 8 }
        while i < n { row[i] += bias[i]; i += 1 }
    }
}
