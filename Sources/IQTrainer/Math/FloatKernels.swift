import IQKernels
/// 8-wide Float versions of the elementwise kernels in `Ops`. Swift does not vectorise
/// floating-point reductions (it keeps the sequential order), and these loops are about half
/// of an update's non-GEMM time, so the Float path is spelled out in SIMD8. The generic
/// versions remain the reference the Double gradient checks run.
enum FloatKernels {
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
    @inline(__always) static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// A row's mean and 1/sqrt(variance + eps) (two passes, as PyTorch's LayerNorm). Shared by
    /// the separate kernel below and `FusedKernels.layerNormMishForward`, so both give the same bits.
    @inline(__always) static func layerNormMoments(_ xr: UnsafePointer<Float>, n: Int) -> (mean: Float, rstd: Float) {
        let n8 = n & ~7
        let inv = 1 / Float(n)
        var acc = SIMD8<Float>()
        var j = 0
        while j < n8 { acc += load(xr + j); j += 8 }
        var mean = acc.sum()
        while j < n { mean += xr[j]; j += 1 }
        mean *= inv
        let m8 = SIMD8<Float>(repeating: mean)
        acc = SIMD8<Float>()
        j = 0
        while j < n8 { let d = load(xr + j) - m8; acc = acc.addingProduct(d, d); j += 8 }
        var v = acc.sum()
        while j < n { let d = xr[j] - mean; v += d * d; j += 1 }
        v *= inv
        return (mean, 1 / (v + Float(Ops.layerNormEps)).squareRoot())
    }

    static func layerNormForward(_ x: UnsafePointer<Float>, rows: Int, n: Int, gain: UnsafePointer<Float>,
                                 bias: UnsafePointer<Float>, xhat: UnsafeMutablePointer<Float>,
                                 rstd: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>) {
        let n8 = n & ~7
        for r in 0..<rows {
            let xr = x + r * n, hr = xhat + r * n, yr = y + r * n
            let (mean, rs) = layerNormMoments(xr, n: n)
            rstd[r] = rs
            let m8 = SIMD8<Float>(repeating: mean), rs8 = SIMD8<Float>(repeating: rs)
            var j = 0
            while j < n8 {
                let h = (load(xr + j) - m8) * rs8
                store(h, hr + j)
                store(load(bias + j).addingProduct(h, load(gain + j)), yr + j)
                j += 8
            }
            while j < n { let h = (xr[j] - mean) * rs; hr[j] = h; yr[j] = h * gain[j] + bias[j]; j += 1 }
        }
    }

    /// The two row means LayerNorm's backward pass needs, mean(dy·γ) and mean(dy·γ·x̂), and the
    /// row's contribution to dγ and dβ (when given). Shared by the separate kernel above and
    /// `FusedKernels.normedBackward`, so both do these operations in the same order.
    @inline(__always) static func layerNormBackwardRow(dy dyr: UnsafePointer<Float>, xhat hr: UnsafePointer<Float>,
                                                       gain: UnsafePointer<Float>, n: Int,
                                                       dgain: UnsafeMutablePointer<Float>?,
                                                       dbias: UnsafeMutablePointer<Float>?) -> (Float, Float) {
        let n8 = n & ~7
        var a1 = SIMD8<Float>(), a2 = SIMD8<Float>()
        var j = 0
        while j < n8 {
            let g = load(dyr + j) * load(gain + j)
            a1 += g
            a2 = a2.addingProduct(g, load(hr + j))
            j += 8
        }
        var s1 = a1.sum(), s2 = a2.sum()
        while j < n { let g = dyr[j] * gain[j]; s1 += g; s2 += g * hr[j]; j += 1 }
        if let dgain, let dbias {
            j = 0
            while j < n8 {
                let d = load(dyr + j)
                store(load(dgain + j).addingProduct(d, load(hr + j)), dgain + j)
                store(load(dbias + j) + d, dbias + j)
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
                let v = load(dyr + j) * load(gain + j) - s18 - load(hr + j) * s28
                store(rs8 * v, dxr + j)
                j += 8
            }
            while j < n { dxr[j] = rs * (dyr[j] * gain[j] - s1 - hr[j] * s2); j += 1 }
        }
    }

    /// The runtime's Mish (IQKernels), so training and deployment share one definition.
    static func mishForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
        var i = 0
        while i + 8 <= count { store(Activations.mish8(load(x + i)), y + i); i += 8 }
        if i < count {
            // The tail through the same vector formula, so a value's result does not depend on its position.
            var v = SIMD8<Float>(repeating: 0)
            for j in 0..<(count - i) { v[j] = x[i + j] }
            let m = Activations.mish8(v)
            for j in 0..<(count - i) { y[i + j] = m[j] }
        }
    }

    static func mishBackward(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, _ count: Int) {
        let cut = SIMD8<Float>(repeating: Float(Ops.mishCut))
        let one = SIMD8<Float>(repeating: 1), two = SIMD8<Float>(repeating: 2), four = SIMD8<Float>(repeating: 4)
        var i = 0
        while i + 8 <= count {
            let xv = load(x + i)
            let e = vexp(xv.replacing(with: cut, where: xv .> cut))
            let w = e * (e + two)
            let d = w + two
            var g = w / d + xv * four * e * (e + one) / (d * d)
            g.replace(with: one, where: xv .> cut)
            store(load(dy + i) * g, dx + i)
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
        while i + 8 <= count { store(load(a + i) * load(m + i), a + i); i += 8 }
        while i < count { a[i] *= m[i]; i += 1 }
    }
}
