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
        let full = n & ~7, tail = n - full
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        while i < full {
            let x = load8(row + i) + load8(bias + i)
            store8(x, row + i)
            acc += x
            i += 8
        }
        if tail > 0 {
            let x = loadPartial(row + full, tail) + loadPartial(bias + full, tail)
            storePartial(x, row + full, tail)
            acc += x
        }
        let mean = hsum(acc) / Float(n)
        let mv = SIMD8<Float>(repeating: mean)
        var sq = SIMD8<Float>(repeating: 0)
        i = 0
        while i < full {
            let d = load8(row + i) - mv
            sq = sq.addingProduct(d, d)
            i += 8
        }
        if tail > 0 {
            var d = loadPartial(row + full, tail) - mv
            for j in tail..<8 { d[j] = 0 }
            sq = sq.addingProduct(d, d)
        }
        let iv = SIMD8<Float>(repeating: 1 / (hsum(sq) / Float(n) + eps).squareRoot())
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
