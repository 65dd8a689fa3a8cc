import IQKernels
import IQModel
/// The optional Wasserstein-1 gradient penalty of docs/algorithm.md §4.2 step 7 with exact double
/// backpropagation. For one (k, t) term: x̃ = λ x_E + (1 − λ) x_B (λ ~ U(0,1) per row, the
/// inputs detached as in the reference), a fresh random head pair, and
///   GP = mean_i (‖∇_x̃ ½(Q_p1 + Q_p2)(x̃_i)‖ − 1)².
/// Its parameter gradient needs ∂/∂θ ⟨ū, ∇_x Q_h⟩ with ū = ∂GP/∂(∇_x Q_h) held fixed; that
/// is the derivative of the directional derivative D_ū Q_h, computed by pushing the tangent
/// ū forward through the cached layers and then back-propagating through both the primal
/// and the tangent computations (every term, LayerNorm's statistics and Mish'' included).
public final class GradientPenalty<T: TrainScalar>: @unchecked Sendable {
    // Safety: used by one training thread.
    let spec: NetworkSpec
    let rows: Int
    let caches: [MLPCache<T>]
    let g: Tensor<T>
    let u: [Tensor<T>]
    // Per layer tangents (ṗ, ẋhat, ṅ, ḣ) and adjoint scratch.
    var pDot: [Tensor<T>] = [], xhDot: [Tensor<T>] = [], nDot: [Tensor<T>] = [], hDot: [Tensor<T>] = []
    let aPrim: Tensor<T>, aTan: Tensor<T>, bPrim: Tensor<T>, bTan: Tensor<T>

    public init(spec: NetworkSpec, rows: Int) {
        self.spec = spec
        self.rows = rows
        caches = [MLPCache(spec: spec, maxRows: rows, keepsPreActivation: true),
                  MLPCache(spec: spec, maxRows: rows, keepsPreActivation: true)]
        g = Tensor(rows * spec.inDim)
        u = [Tensor(rows * spec.inDim), Tensor(rows * spec.inDim)]
        for l in spec.layers {
            pDot.append(Tensor(rows * l.outDim)); xhDot.append(Tensor(rows * l.outDim))
            nDot.append(Tensor(rows * l.outDim)); hDot.append(Tensor(rows * l.outDim))
        }
        let w = rows * spec.maxWidth
        aPrim = Tensor(w); aTan = Tensor(w); bPrim = Tensor(w); bTan = Tensor(w)
    }

    /// Input rows for the penalty (rows x inDim) are written here by the caller.
    public var input: UnsafeMutablePointer<T> { caches[0].input.p }

    /// GP for the two heads at `params1`, `params2` on the rows in `input`; adds
    /// `scale` · ∂GP/∂θ into `grads1`/`grads2` when non-nil. Dropout masks come from `rng`.
    public func penalty(params1: UnsafePointer<T>, params2: UnsafePointer<T>,
                        grads1: UnsafeMutablePointer<T>?, grads2: UnsafeMutablePointer<T>?,
                        dropout: Double, scale: T, rng: inout SeededRandom) -> T {
        let D = spec.inDim
        caches[1].input.p.update(from: caches[0].input.p, count: rows * D)
        let ones = Tensor<T>(rows)
        for r in 0..<rows { ones.p[r] = 1 }
        let params = [params1, params2]
        for h in 0..<2 {
            caches[h].forward(params: params[h], rows: rows, dropout: dropout, rng: &rng)
            caches[h].backward(params: params[h], grads: nil, dOut: ones.p, rows: rows, wantInputGrad: true)
        }
        let half: T = 0.5
        var total: T = 0
        for r in 0..<rows {
            var s: T = 0
            for j in 0..<D {
                let v = half * (caches[0].dInput.p[r * D + j] + caches[1].dInput.p[r * D + j])
                g.p[r * D + j] = v
                s += v * v
            }
            let norm = s.squareRoot()
            total += (norm - 1) * (norm - 1)
            // ∂GP/∂g_h = ½ · (2/rows)(‖g‖ − 1) g / ‖g‖, times the caller's weight.
            let c = norm > 0 ? scale * half * 2 * (norm - 1) / (T(rows) * norm) : 0
            for j in 0..<D {
                u[0].p[r * D + j] = c * g.p[r * D + j]
                u[1].p[r * D + j] = c * g.p[r * D + j]
            }
        }
        let grads = [grads1, grads2]
        for h in 0..<2 { if let gr = grads[h] { secondOrder(cache: caches[h], params: params[h], grads: gr, dir: u[h].p) } }
        return total / T(rows)
    }

    /// Adds ∂/∂θ Σ_i ⟨dir_i, ∇_x Q(x_i)⟩ into `grads`, using the activations in `cache`.
    func secondOrder(cache c: MLPCache<T>, params: UnsafePointer<T>, grads: UnsafeMutablePointer<T>, dir: UnsafePointer<T>) {
        let R = rows
        let nl = spec.layers.count
        // Tangent forward.
        var xinDot = dir
        for (i, l) in spec.layers.enumerated() {
            let w = params + spec.offsets[i]
            let pd = pDot[i].p
            T.gemm(transA: false, transB: true, m: R, n: l.outDim, k: l.inDim, alpha: 1, a: xinDot, lda: l.inDim,
                   b: w, ldb: l.inDim, beta: 0, c: pd, ldc: l.outDim)
            if let m = c.activeMask(i) { for j in 0..<(R * l.outDim) { pd[j] *= m.p[j] } }
            if l.hasNorm {
                precondition(l.activation == .mish, "gradient penalty supports Mish hidden layers (the Q network)")
                let gain = w + l.outDim * l.inDim + l.outDim
                let n = l.outDim, inv = 1 / T(n)
                for r in 0..<R {
                    let p = pd + r * n, xh = c.xhat[i].p + r * n, xd = xhDot[i].p + r * n
                    var m1: T = 0, m2: T = 0
                    for j in 0..<n { m1 += p[j]; m2 += p[j] * xh[j] }
                    m1 *= inv; m2 *= inv
                    let rs = c.rstd[i].p[r]
                    for j in 0..<n {
                        xd[j] = rs * (p[j] - m1 - xh[j] * m2)
                        nDot[i].p[r * n + j] = gain[j] * xd[j]
                    }
                }
                for j in 0..<(R * n) { hDot[i].p[j] = Self.mish1(c.actIn[i].p[j]) * nDot[i].p[j] }
            } else {
                hDot[i].p.update(from: pd, count: R * l.outDim)
            }
            xinDot = UnsafePointer(hDot[i].p)
        }
        // Reverse. Output adjoints: primal 0, tangent 1 per row.
        var hBar = aPrim.p, hdBar = aTan.p, nextH = bPrim.p, nextHd = bTan.p
        let outDim = spec.outDim
        for j in 0..<(R * outDim) { hBar[j] = 0; hdBar[j] = 1 }
        for i in stride(from: nl - 1, through: 0, by: -1) {
            let l = spec.layers[i]
            let n = l.outDim
            let w = params + spec.offsets[i]
            let gw = grads + spec.offsets[i]
            let gb = gw + n * l.inDim
            // hBar/hdBar become p̄ / ṗ̄ in place.
            if l.hasNorm {
                let gain = w + n * l.inDim + n
                let gGain = gb + n, gBeta = gGain + n
                let inv = 1 / T(n)
                for r in 0..<R {
                    let o = r * n
                    let xh = c.xhat[i].p + o, xd = xhDot[i].p + o, nd = nDot[i].p + o, pd = pDot[i].p + o
                    let rs = c.rstd[i].p[r]
                    // Through Mish: ṅ̄ and n̄.
                    for j in 0..<n {
                        let x = c.actIn[i].p[o + j]
                        let d1 = Self.mish1(x), d2 = Ops.mishSecond(x)
                        let hb = hBar[o + j], hdb = hdBar[o + j]
                        hdBar[o + j] = hdb * d1                     // ṅ̄
                        hBar[o + j] = hb * d1 + hdb * nd[j] * d2    // n̄
                    }
                    // LayerNorm affine, primal and tangent.
                    var sA: T = 0   // Σ ẋhat̄ · xhat
                    for j in 0..<n {
                        let nb = hBar[o + j], ndb = hdBar[o + j]
                        gGain[j] += nb * xh[j] + ndb * xd[j]
                        gBeta[j] += nb
                        hBar[o + j] = nb * gain[j]      // x̂̄ (primal part)
                        hdBar[o + j] = ndb * gain[j]    // ẋhat̄
                        sA += hdBar[o + j] * xh[j]
                    }
                    var m2: T = 0, sD: T = 0, sE: T = 0
                    for j in 0..<n { m2 += pd[j] * xh[j]; sD += hdBar[o + j] }
                    m2 *= inv
                    var rsBar: T = 0
                    for j in 0..<n { rsBar += hdBar[o + j] * xd[j] }
                    rsBar /= rs
                    // Tangent's dependence on xhat.
                    for j in 0..<n { hBar[o + j] += -rs * m2 * hdBar[o + j] - rs * pd[j] * inv * sA }
                    // ṗ̄ = LN-backward operator on ẋhat̄.
                    let mD = sD * inv, mA = sA * inv
                    for j in 0..<n { hdBar[o + j] = rs * (hdBar[o + j] - mD - xh[j] * mA) }
                    // p̄ from x̂̄ (through mean and rs), plus rs's own use in the tangent.
                    var sB: T = 0
                    for j in 0..<n { sB += hBar[o + j]; sE += hBar[o + j] * xh[j] }
                    let mB = sB * inv, mE = sE * inv
                    for j in 0..<n { hBar[o + j] = rs * (hBar[o + j] - mB - xh[j] * mE) - rsBar * rs * rs * xh[j] * inv }
                }
            }
            if let m = c.activeMask(i) {
                for j in 0..<(R * n) { hBar[j] *= m.p[j]; hdBar[j] *= m.p[j] }
            }
            let xin = i == 0 ? c.inputPointer : UnsafePointer(c.out[i - 1].p)
            let xinD: UnsafePointer<T> = i == 0 ? dir : UnsafePointer(hDot[i - 1].p)
            // W̄ += p̄ᵀ x + ṗ̄ᵀ ẋ ; b̄ += Σ p̄.
            T.gemm(transA: true, transB: false, m: n, n: l.inDim, k: R, alpha: 1, a: hBar, lda: n, b: xin, ldb: l.inDim,
                   beta: 1, c: gw, ldc: l.inDim)
            T.gemm(transA: true, transB: false, m: n, n: l.inDim, k: R, alpha: 1, a: hdBar, lda: n, b: xinD, ldb: l.inDim,
                   beta: 1, c: gw, ldc: l.inDim)
            for r in 0..<R { for j in 0..<n { gb[j] += hBar[r * n + j] } }
            if i > 0 {
                T.gemm(transA: false, transB: false, m: R, n: l.inDim, k: n, alpha: 1, a: hBar, lda: n, b: w, ldb: l.inDim,
                       beta: 0, c: nextH, ldc: l.inDim)
                T.gemm(transA: false, transB: false, m: R, n: l.inDim, k: n, alpha: 1, a: hdBar, lda: n, b: w, ldb: l.inDim,
                       beta: 0, c: nextHd, ldc: l.inDim)
                swap(&hBar, &nextH)
                swap(&hdBar, &nextHd)
            }
        }
    }

    @inline(__always)
    static func mish1(_ x: T) -> T {
        if x > T(Ops.mishCut) { return 1 }
        let e = T.expo(x)
        let w = e * (e + 2), d = w + 2
        return w / d + x * 4 * e * (e + 1) / (d * d)
    }
}
