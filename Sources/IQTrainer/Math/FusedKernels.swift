import IQKernels

/// Row-fused Float versions of the NormedLinear epilogue and its backward pass. The separate
/// kernels in `FloatKernels` make one pass over a whole [rows, n] activation each (LayerNorm,
/// Mish, dropout mask, bias sum); at training batch sizes those arrays live in L3, so the
/// update's elementwise time is mostly memory traffic. These kernels do all steps on one row
/// while it sits in L1, and the forward pass keeps Mish's derivative so the backward pass needs
/// no exponential. Every value is computed with exactly the operations, in exactly the order,
/// of the separate kernels: results are bit-identical to them (tested), only the memory
/// passes differ.
enum FusedKernels {
    /// Mish (as `Activations.mish8`) and Mish' (as `FloatKernels.mishBackward`) of eight lanes
    /// from one exponential: the forward's e^min(x, 15) equals the derivative's e^min(x, 20)
    /// wherever x <= 15, and is the constant `e15` = e^15 elsewhere. Results go through
    /// pointers: returning a pair of SIMD8 values made the compiler split every vector op in
    /// two 128-bit halves.
    @_transparent
    static func mishAndDerivative(_ x: SIMD8<Float>, e15: SIMD8<Float>, y: UnsafeMutablePointer<Float>,
                                  g: UnsafeMutablePointer<Float>) {
        let cut = SIMD8<Float>(repeating: Float(Ops.mishCut))
        let one = SIMD8<Float>(repeating: 1), two = SIMD8<Float>(repeating: 2), four = SIMD8<Float>(repeating: 4)
        let over = x .> cut
        let e = vexp(x.replacing(with: cut, where: over))
        let big = x .> 15
        let n = e.replacing(with: e15, where: big)
        let t = n * (n + 2)
        store8((x * (t * reciprocal8(t + 2))).replacing(with: x, where: big), y)
        let w = e * (e + two)
        let d = w + two
        var gv = w / d + x * four * e * (e + one) / (d * d)
        gv.replace(with: one, where: over)
        store8(gv, g)
    }

    /// Per row: LayerNorm (as `Activations.layerNorm`) then Mish into `y`. Optional
    /// stores: `xhat` (LayerNorm backward), `preAct` (the LayerNorm output, for the gradient
    /// penalty's second-order pass), `deriv` = Mish'(LayerNorm output) (Mish backward).
    /// A forward pass that is never back-propagated passes nil for all three.
    static func layerNormMishForward(_ x: UnsafePointer<Float>, rows: Int, n: Int, gain: UnsafePointer<Float>,
                                     bias: UnsafePointer<Float>, xhat: UnsafeMutablePointer<Float>?,
                                     rstd: UnsafeMutablePointer<Float>, preAct: UnsafeMutablePointer<Float>?,
                                     deriv: UnsafeMutablePointer<Float>?, y: UnsafeMutablePointer<Float>) {
        let n8 = n & ~7
        let e15 = vexp(SIMD8<Float>(repeating: 15))
        var tailY = SIMD8<Float>(), tailG = SIMD8<Float>()
        for r in 0..<rows {
            let xr = x + r * n, yr = y + r * n
            let (mean, rs) = Activations.layerNormMoments(xr, count: n)
            rstd[r] = rs
            let m8 = SIMD8<Float>(repeating: mean), rs8 = SIMD8<Float>(repeating: rs)
            var j = 0
            while j < n8 {
                let h = (load8(xr + j) - m8) * rs8
                if let xhat { store8(h, xhat + r * n + j) }
                let a = load8(bias + j).addingProduct(h, load8(gain + j))
                if let preAct { store8(a, preAct + r * n + j) }
                if let deriv {
                    mishAndDerivative(a, e15: e15, y: yr + j, g: deriv + r * n + j)
                } else {
                    store8(Activations.mish8(a), yr + j)
                }
                j += 8
            }
            if j < n {
                // Tail: the scalar LayerNorm arithmetic of the separate kernel, Mish lane-wise.
                var a = SIMD8<Float>(repeating: 0)
                for k in 0..<(n - j) {
                    let h = (xr[j + k] - mean) * rs
                    xhat?[r * n + j + k] = h
                    a[k] = h * gain[j + k] + bias[j + k]
                    preAct?[r * n + j + k] = a[k]
                }
                withUnsafeMutableBytes(of: &tailY) { yb in
                    withUnsafeMutableBytes(of: &tailG) { gb in
                        let yp = yb.baseAddress!.assumingMemoryBound(to: Float.self)
                        let gp = gb.baseAddress!.assumingMemoryBound(to: Float.self)
                        mishAndDerivative(a, e15: e15, y: yp, g: gp)
                        for k in 0..<(n - j) {
                            yr[j + k] = yp[k]
                            deriv?[r * n + j + k] = gp[k]
                        }
                    }
                }
            }
        }
    }

    /// Per row, in place on `dy` (rows x n, becomes the gradient at the Linear's output):
    /// with `outer` = (s, w), first dy[r, j] = s[r] · w[j] (the input gradient of a following
    /// 1-output Linear, which sgemm would compute as a k = 1 product: s·w + 0, hence the
    /// "+ 0" that turns −0 into +0 as its zeroed accumulator does); dy *= `deriv` (Mish
    /// backward, if given), LayerNorm backward (as
    /// `FloatKernels.layerNormBackward`, accumulating dgain/dbias), dy *= `mask` (dropout, if
    /// given), then `db` += the row (the Linear's bias gradient, if given).
    static func normedBackward(dy: UnsafeMutablePointer<Float>, rows: Int, n: Int, deriv: UnsafePointer<Float>?,
                               xhat: UnsafePointer<Float>, rstd: UnsafePointer<Float>, gain: UnsafePointer<Float>,
                               dgain: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                               mask: UnsafePointer<Float>?, db: UnsafeMutablePointer<Float>?,
                               outer: (s: UnsafePointer<Float>, w: UnsafePointer<Float>)? = nil) {
        let n8 = n & ~7
        let zero = SIMD8<Float>(repeating: 0)
        for r in 0..<rows {
            let dyr = dy + r * n, hr = xhat + r * n
            if let (s, w) = outer {
                let sr = s[r], s8 = SIMD8<Float>(repeating: sr)
                var j = 0
                while j < n8 { store8(s8 * load8(w + j) + zero, dyr + j); j += 8 }
                while j < n { dyr[j] = sr * w[j] + 0; j += 1 }
            }
            if let deriv {
                let gr = deriv + r * n
                var j = 0
                while j < n8 { store8(load8(dyr + j) * load8(gr + j), dyr + j); j += 8 }
                while j < n { dyr[j] *= gr[j]; j += 1 }
            }
            let (s1, s2) = FloatKernels.layerNormBackwardRow(dy: dyr, xhat: hr, gain: gain, n: n,
                                                             dgain: dgain, dbias: dbias)
            let rs = rstd[r]
            let rs8 = SIMD8<Float>(repeating: rs), s18 = SIMD8<Float>(repeating: s1), s28 = SIMD8<Float>(repeating: s2)
            var j = 0
            while j < n8 {
                let v = load8(dyr + j) * load8(gain + j) - s18 - load8(hr + j) * s28
                var o = rs8 * v
                if let mask { o *= load8(mask + r * n + j) }
                store8(o, dyr + j)
                if let db { store8(load8(db + j) + o, db + j) }
                j += 8
            }
            while j < n {
                var o = rs * (dyr[j] * gain[j] - s1 - hr[j] * s2)
                if let mask { o *= mask[r * n + j] }
                dyr[j] = o
                if let db { db[j] += o }
                j += 1
            }
        }
    }
}
