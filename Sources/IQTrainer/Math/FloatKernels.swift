import IQKernels
/// 8-wide Float versions of the elementwise kernels in `Ops`. Swift does not vectorise
/// floating-point reductions (it keeps the sequential order), and these loops are about half
/// of an update's non-GEMM time, so the Float path is spelled out in SIMD8. The generic
/// versions remain the reference the Double gradient checks run.
enum FloatKernels {
    /// LayerNorm rows through the runtime's kernel (`Activations.layerNorm`), keeping x̂ and 1/std.
    static func layerNormForward(_ x: UnsafePointer<Float>, rows: Int, n: Int, gain: UnsafePointer<Float>,
                                 bias: UnsafePointer<Float>, xhat: UnsafeMutablePointer<Float>,
                                 rstd: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            rstd[r] = Activations.layerNorm(x + r * n, count: n, gain: gain, bias: bias, xhat: xhat + r * n, into: y + r * n)
        }
    }

    /// The two row means LayerNorm's backward pass needs, mean(dy·γ) and mean(dy·γ·x̂), and the
    /// row's contribution to dγ and dβ (when given). Shared by `layerNormBackward` below and
    /// `FusedKernels.normedBackward`, so both do these operations in the same order.
    @inline(__always) static func layerNormBackwardRow(dy dyr: UnsafePointer<Float>, xhat hr: UnsafePointer<Float>,
                                                       gain: UnsafePointer<Float>, n: Int,
                                                       dgain: UnsafeMutablePointer<Float>?,
                                                       dbias: UnsafeMutablePointer<Float>?) -> (Float, Float) {
        let n8 = n & ~7
        var a1 = SIMD8<Float>(), a2 = SIMD8<Float>()
        var j = 0
        while j < n8 {
            let g = load8(dyr + j) * load8(gain + j)
            a1 += g
            a2 = a2.addingProduct(g, load8(hr + j))
            j += 8
        }
        var s1 = a1.sum(), s2 = a2.sum()
        while j < n { let g = dyr[j] * gain[j]; s1 += g; s2 += g * hr[j]; j += 1 }
        if let dgain, let dbias {
            j = 0
            while j < n8 {
                let d = load8(dyr + j)
                store8(load8(dgain + j).addingProduct(d, load8(hr + j)), dgain + j)
                store8(load8(dbias + j) + d, dbias + j)
                j += 8
            }
            while j < n { dgain[j] += dyr[j] * hr[j]; dbias[j] += dyr[j]; j += 1 }
        }
        let inv = 1 / Float(n)
        return (s1 * inv, s2 * inv)
    }

    static func layerNormBackward(dy: UnsafePointer<Float>, rows: Int, n: Int, xhat: UnsafePointer<Float>,
                                  rstd: UnsafePointer<Float>, gain: UnsafePointer<Float>,
                                  dgain: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
                                  dx: UnsafeMutablePointer<Float>) {
        let n8 = n & ~7
        for r in 0..<rows {
            let dyr = dy + r * n, hr = xhat + r * n, dxr = dx + r * n
            let (s1, s2) = layerNormBackwardRow(dy: dyr, xhat: hr, gain: gain, n: n, dgain: dgain, dbias: dbias)
            let rs = rstd[r]
            let rs8 = SIMD8<Float>(repeating: rs), s18 = SIMD8<Float>(repeating: s1), s28 = SIMD8<Float>(repeating: s2)
            var j = 0
            while j < n8 {
                let v = load8(dyr + j) * load8(gain + j) - s18 - load8(hr + j) * s28
                store8(rs8 * v, dxr + j)
                j += 8
            }
            while j < n { dxr[j] = rs * (dyr[j] * gain[j] - s1 - hr[j] * s2); j += 1 }
        }
    }

    static func mishBackward(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, _ count: Int) {
        let cut = SIMD8<Float>(repeating: Float(Ops.mishCut))
        let one = SIMD8<Float>(repeating: 1), two = SIMD8<Float>(repeating: 2), four = SIMD8<Float>(repeating: 4)
        var i = 0
        while i + 8 <= count {
            let xv = load8(x + i)
            let e = vexp(xv.replacing(with: cut, where: xv .> cut))
            let w = e * (e + two)
            let d = w + two
            var g = w / d + xv * four * e * (e + one) / (d * d)
            g.replace(with: one, where: xv .> cut)
            store8(load8(dy + i) * g, dx + i)
            i += 8
        }
        while i < count {
            let xi = x[i]
            let e = vexp(SIMD8(repeating: min(xi, Float(Ops.mishCut))))[0]
            let w = e * (e + 2)
            let d = w + 2
            let g: Float = xi > Float(Ops.mishCut) ? 1 : w / d + xi * 4 * e * (e + 1) / (d * d)
            dx[i] = dy[i] * g
            i += 1
        }
    }

    static func multiply(_ a: UnsafeMutablePointer<Float>, by m: UnsafePointer<Float>, _ count: Int) {
        var i = 0
        while i + 8 <= count { store8(load8(a + i) * load8(m + i), a + i); i += 8 }
        while i < count { a[i] *= m[i]; i += 1 }
    }
}
