import IQKernels

/// Forward and hand-derived backward kernels for the primitives of docs/algorithm.md §1.1, on raw row-major
/// buffers ([rows, features]). Backward functions *accumulate* parameter gradients (+=) and
/// either overwrite or accumulate the input gradient as asked, so a layer used several times
/// in one loss sums its contributions without extra buffers.
public enum Ops {
    /// Reinterpret a generic pointer as Float inside a `T.self == Float.self` branch.
    @inline(__always) static func F<T>(_ p: UnsafePointer<T>) -> UnsafePointer<Float> { UnsafeRawPointer(p).assumingMemoryBound(to: Float.self) }
    @inline(__always) static func F<T>(_ p: UnsafeMutablePointer<T>) -> UnsafePointer<Float> { UnsafeRawPointer(p).assumingMemoryBound(to: Float.self) }
    @inline(__always) static func FM<T>(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> { UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self) }

    public static let layerNormEps = 1e-5
    /// Above this Mish is the identity in Float; it also keeps n^2 finite.
    static let mishCut = 20.0

    // MARK: Linear  y = x W^T + b   (W is [out, in], PyTorch layout)

    @inline(__always)
    public static func linearForward<T: TrainScalar>(_ x: UnsafePointer<T>, rows: Int, inDim: Int,
                                                     w: UnsafePointer<T>, b: UnsafePointer<T>, outDim: Int,
                                                     y: UnsafeMutablePointer<T>) {
        // A plain loop, not a memmove per row: the Q heads' last layer has rows of one value.
        for r in 0..<rows {
            let yr = y + r * outDim
            for j in 0..<outDim { yr[j] = b[j] }
        }
        T.gemm(transA: false, transB: true, m: rows, n: outDim, k: inDim, alpha: 1, a: x, lda: inDim,
               b: w, ldb: inDim, beta: 1, c: y, ldc: outDim)
    }

    /// dW += dy^T x, db += colsum(dy), dx (=|+=) dy W.
    @inline(__always)
    public static func linearBackward<T: TrainScalar>(dy: UnsafePointer<T>, x: UnsafePointer<T>, rows: Int,
                                                      inDim: Int, outDim: Int, w: UnsafePointer<T>,
                                                      dw: UnsafeMutablePointer<T>?, db: UnsafeMutablePointer<T>?,
                                                      dx: UnsafeMutablePointer<T>?, accumulateDx: Bool) {
        if let dw {
            T.gemm(transA: true, transB: false, m: outDim, n: inDim, k: rows, alpha: 1, a: dy, lda: outDim,
                   b: x, ldb: inDim, beta: 1, c: dw, ldc: inDim)
        }
        if let db {
            for r in 0..<rows {
                let row = dy + r * outDim
                for j in 0..<outDim { db[j] += row[j] }
            }
        }
        if let dx {
            T.gemm(transA: false, transB: false, m: rows, n: inDim, k: outDim, alpha: 1, a: dy, lda: outDim,
                   b: w, ldb: inDim, beta: accumulateDx ? 1 : 0, c: dx, ldc: inDim)
        }
    }

    // MARK: LayerNorm (eps 1e-5, affine)

    /// Stores xhat and 1/std per row for the backward pass; y = xhat * g + beta.
    @inline(__always)
    public static func layerNormForward<T: TrainScalar>(_ x: UnsafePointer<T>, rows: Int, n: Int,
                                                        gain: UnsafePointer<T>, bias: UnsafePointer<T>,
                                                        xhat: UnsafeMutablePointer<T>, rstd: UnsafeMutablePointer<T>,
                                                        y: UnsafeMutablePointer<T>) {
        if T.self == Float.self {
            return FloatKernels.layerNormForward(F(x), rows: rows, n: n, gain: F(gain), bias: F(bias), xhat: FM(xhat),
                                                 rstd: FM(rstd), y: FM(y))
        }
        let inv = 1 / T(n)
        let eps = T(layerNormEps)
        for r in 0..<rows {
            let xr = x + r * n, hr = xhat + r * n, yr = y + r * n
            var mean: T = 0
            for j in 0..<n { mean += xr[j] }
            mean *= inv
            var v: T = 0
            for j in 0..<n { let d = xr[j] - mean; v += d * d }
            v *= inv
            let rs = 1 / (v + eps).squareRoot()
            rstd[r] = rs
            for j in 0..<n {
                let h = (xr[j] - mean) * rs
                hr[j] = h
                yr[j] = h * gain[j] + bias[j]
            }
        }
    }

    /// dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = dy * g.
    /// dx may alias dy (each row is read fully before it is written).
    @inline(__always)
    public static func layerNormBackward<T: TrainScalar>(dy: UnsafePointer<T>, rows: Int, n: Int,
                                                         xhat: UnsafePointer<T>, rstd: UnsafePointer<T>,
                                                         gain: UnsafePointer<T>,
                                                         dgain: UnsafeMutablePointer<T>?, dbias: UnsafeMutablePointer<T>?,
                                                         dx: UnsafeMutablePointer<T>) {
        if T.self == Float.self {
            return FloatKernels.layerNormBackward(dy: F(dy), rows: rows, n: n, xhat: F(xhat), rstd: F(rstd), gain: F(gain),
                                                  dgain: dgain.map(FM), dbias: dbias.map(FM), dx: FM(dx))
        }
        let inv = 1 / T(n)
        for r in 0..<rows {
            let dyr = dy + r * n, hr = xhat + r * n, dxr = dx + r * n
            var s1: T = 0, s2: T = 0
            for j in 0..<n {
                let g = dyr[j] * gain[j]
                s1 += g
                s2 += g * hr[j]
            }
            if let dgain, let dbias {
                for j in 0..<n {
                    dgain[j] += dyr[j] * hr[j]
                    dbias[j] += dyr[j]
                }
            }
            s1 *= inv; s2 *= inv
            let rs = rstd[r]
            for j in 0..<n {
                dxr[j] = rs * (dyr[j] * gain[j] - s1 - hr[j] * s2)
            }
        }
    }

    // MARK: Mish  x * tanh(softplus(x)) = x * w / (w + 2),  w = e^x (e^x + 2)

    /// One exp per element; y may not alias x.
    @inline(__always)
    public static func mishForward<T: TrainScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ count: Int) {
        if T.self == Float.self { return Activations.mish(F(x), into: FM(y), count: count) }
        let cut = T(mishCut)
        for i in 0..<count { y[i] = min(x[i], cut) }
        T.vexp(y, y, count)
        for i in 0..<count {
            let xi = x[i]
            let e = y[i]
            let w = e * (e + 2)
            y[i] = xi > cut ? xi : xi * w / (w + 2)
        }
    }

    /// dx = dy * mish'(x), mish' = t + x * 4 e (e + 1) / (w + 2)^2 with t = w / (w + 2).
    /// dx may alias dy.
    @inline(__always)
    public static func mishBackward<T: TrainScalar>(x: UnsafePointer<T>, dy: UnsafePointer<T>,
                                                    dx: UnsafeMutablePointer<T>, scratch: UnsafeMutablePointer<T>,
                                                    _ count: Int) {
        if T.self == Float.self { return FloatKernels.mishBackward(x: F(x), dy: F(dy), dx: FM(dx), count) }
        let cut = T(mishCut)
        for i in 0..<count { scratch[i] = min(x[i], cut) }
        T.vexp(scratch, scratch, count)
        for i in 0..<count {
            let xi = x[i]
            let e = scratch[i]
            let w = e * (e + 2)
            let d = w + 2
            let g = xi > cut ? T(1) : w / d + xi * 4 * e * (e + 1) / (d * d)
            dx[i] = dy[i] * g
        }
    }

    /// Mish second derivative, needed only by the gradient penalty's double backprop.
    @inline(__always)
    public static func mishSecond<T: TrainScalar>(_ x: T) -> T {
        if x > T(mishCut) { return 0 }
        // t = tanh(sp(x)), sig = sigmoid(x): mish' = t + x sig (1 - t^2)
        // mish'' = 2 sig (1 - t^2) + x sig (1 - sig)(1 - t^2) - 2 x sig^2 t (1 - t^2)
        let e = T.expo(x)
        let w = e * (e + 2)
        let t = w / (w + 2)
        let sig = e / (1 + e)
        let q = 1 - t * t
        return 2 * sig * q + x * sig * (1 - sig) * q - 2 * x * sig * sig * t * q
    }

    // MARK: SimNorm (softmax within contiguous groups of g)

    /// IQKernels' SimNorm (the runtime's), with this scalar type's buffer exponential.
    @inline(__always)
    public static func simNormForward<T: TrainScalar>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
                                                      count: Int, group g: Int) {
        Activations.simNorm(x, into: y, count: count, group: g, exp: T.vexp)
    }

    /// dx = y * (dy - sum_g(dy * y)); dx may alias dy.
    @inline(__always)
    public static func simNormBackward<T: TrainScalar>(y: UnsafePointer<T>, dy: UnsafePointer<T>,
                                                       dx: UnsafeMutablePointer<T>, count: Int, group g: Int) {
        var base = 0
        while base < count {
            var s: T = 0
            for j in 0..<g { s += dy[base + j] * y[base + j] }
            for j in 0..<g { dx[base + j] = y[base + j] * (dy[base + j] - s) }
            base += g
        }
    }
}
