import IQKernels

/// The losses of one IQ-MPC update (docs/algorithm.md §4.2) and their exact gradients, in three phases
/// so each can be finite-difference checked on its own:
///  1. `prepareTargets`: everything under stop-gradient (z*_{t+1}, y_t = γ V̄_{t+1}).
///  2. `modelLoss`: 20·L_cons + 0.1·L_iq and its gradient w.r.t. encoder, dynamics, Q and
///     (through v0) π, as implemented by the reference (π's share only counts in clipping).
///  3. `policyLoss`: L_π on the detached latents of phase 2, gradient w.r.t. π only.
/// All scratch is allocated here once; the phases only move numbers.
public final class IQLoss<T: TrainScalar>: @unchecked Sendable {
    // Safety: used by one training thread at a time.
    public let layout: ParamLayout
    public let hyper: Hyper
    let H: Int, B: Int, N2: Int, L: Int, A: Int, K: Int, Do: Int

    let enc: MLPCache<T>
    let dyn: [MLPCache<T>]
    let q: [MLPCache<T>]
    let pi: MLPCache<T>
    let piHead: PolicyHead<T>
    let piV: MLPCache<T>
    let headV: PolicyHead<T>

    public let zStar: Tensor<T>
    public let y: Tensor<T>
    public let zs: Tensor<T>
    let dzs: Tensor<T>
    let dq: Tensor<T>
    let dA0: Tensor<T>, dL0: Tensor<T>
    let dPiA: Tensor<T>, dPiL: Tensor<T>
    /// [z | a] rows shared by every Q head of one phase (the heads read the same input).
    let qIn: Tensor<T>
    let gp: GradientPenalty<T>?
    /// Off-data action rows (docs/algorithm.md §4.2 step 6b), H·2B of them when
    /// `hyper.offDataWeight` > 0, else 0: detached latents h(o_t), uniform actions, and their
    /// detached targets γ V̄(d(h(o_t), u)).
    let uRows: Int
    let uZ: Tensor<T>, uA: Tensor<T>, uNext: Tensor<T>, yU: Tensor<T>

    public var stats = UpdateStats()
    /// Heads used by the v0 term in the last `modelLoss` (for the gradient-penalty checks).
    var v0Pair = (0, 1)

    public init(layout: ParamLayout, hyper: Hyper) {
        self.layout = layout
        self.hyper = hyper
        H = hyper.horizon; B = hyper.batch; N2 = 2 * hyper.batch
        L = layout.shape.latentDim; A = layout.shape.actDim; K = layout.shape.numQ; Do = layout.shape.obsDim
        enc = MLPCache(spec: layout.encoder, maxRows: H * N2)
        let n2 = N2, h = H, b = B
        dyn = (0..<h).map { _ in MLPCache(spec: layout.dynamics, maxRows: n2) }
        uRows = hyper.offDataWeight > 0 ? h * n2 : 0
        let qRows = max(h * n2 + uRows + b, (h + 1) * n2)
        q = (0..<K).map { _ in MLPCache(spec: layout.q, maxRows: qRows) }
        pi = MLPCache(spec: layout.policy, maxRows: (H + 1) * N2)
        piHead = PolicyHead(actDim: A, maxRows: (H + 1) * N2, logStdMin: layout.shape.logStdMin,
                            logStdMax: layout.shape.logStdMax)
        piV = MLPCache(spec: layout.policy, maxRows: B)
        headV = PolicyHead(actDim: A, maxRows: B, logStdMin: layout.shape.logStdMin, logStdMax: layout.shape.logStdMax)
        zStar = Tensor(H * N2 * L)
        y = Tensor(H * N2)
        zs = Tensor((H + 1) * N2 * L)
        dzs = Tensor((H + 1) * N2 * L)
        dq = Tensor(qRows)
        dA0 = Tensor(B * A); dL0 = Tensor(B)
        dPiA = Tensor((H + 1) * N2 * A); dPiL = Tensor((H + 1) * N2)
        qIn = Tensor(qRows * (L + A))
        gp = hyper.useGradientPenalty ? GradientPenalty(spec: layout.q, rows: B) : nil
        uZ = Tensor(uRows * L); uA = Tensor(uRows * A); uNext = Tensor(uRows * L); yU = Tensor(uRows)
    }

    /// Splits every network pass of the update over `pool` (see `MLPCache`); nil: one thread.
    /// The gradient penalty's second-order pass stays on the calling thread.
    public func useThreads(_ pool: WorkerPool?) {
        for c in [enc, pi, piV] + dyn + q { c.useThreads(pool) }
    }

    /// Writes [z | a] rows into a network input.
    @inline(__always)
    func concat(into dst: UnsafeMutablePointer<T>, z: UnsafePointer<T>, a: UnsafePointer<T>, rows: Int) {
        let w = L + A
        for r in 0..<rows {
            (dst + r * w).update(from: z + r * L, count: L)
            (dst + r * w + L).update(from: a + r * A, count: A)
        }
    }

    // MARK: Phase 1

    /// z*_{t+1} = h(obs[t+1]) and y_t = γ (Q̄min2(z*, ã) − α ℓ(ã)), ã ~ π(z*), one target pair.
    public func prepareTargets(theta: UnsafePointer<T>, target: UnsafePointer<T>, batch: Batch<T>, rng: inout SeededRandom) {
        let rows = H * N2
        zStar.p.update(from: enc.forward(params: theta + layout.encoderOffset, rows: rows, dropout: 0, rng: &rng,
                                         input: batch.obs.p + N2 * Do, needsBackward: false),
                       count: rows * L)
        discountedTargetValue(theta: theta, target: target, next: zStar.p, rows: rows, into: y.p, rng: &rng)
        if uRows > 0 { prepareOffDataTargets(theta: theta, target: target, batch: batch, rng: &rng) }
    }

    /// docs/algorithm.md §4.2 step 6b: for every data row (t, i) an action u drawn uniformly from
    /// the action box at the encoded latent h(o_t), and its target γ (Q̄min2(z'_u, ã) − α ℓ(ã))
    /// with z'_u = d(h(o_t), u), the dynamics' prediction (no observation of u's outcome
    /// exists), ã ~ π(z'_u). All detached: the term shapes Q over actions, not the latents.
    func prepareOffDataTargets(theta: UnsafePointer<T>, target: UnsafePointer<T>, batch: Batch<T>,
                               rng: inout SeededRandom) {
        // h(o_0) for t = 0; h(o_t) = z*_{t-1} for t ≥ 1.
        uZ.p.update(from: enc.forward(params: theta + layout.encoderOffset, rows: N2, dropout: 0, rng: &rng,
                                      input: batch.obs.p, needsBackward: false),
                    count: N2 * L)
        if H > 1 { (uZ.p + N2 * L).update(from: zStar.p, count: (H - 1) * N2 * L) }
        for j in 0..<(uRows * A) { uA.p[j] = T(2 * rng.uniform() - 1) }
        for t in 0..<H {
            concat(into: dyn[t].input.p, z: uZ.p + t * N2 * L, a: uA.p + t * N2 * A, rows: N2)
            let out = dyn[t].forward(params: theta + layout.dynamicsOffset, rows: N2, dropout: 0, rng: &rng,
                                     needsBackward: false)
            (uNext.p + t * N2 * L).update(from: out, count: N2 * L)
        }
        discountedTargetValue(theta: theta, target: target, next: uNext.p, rows: uRows, into: yU.p, rng: &rng)
    }

    /// γ (Q̄min2(z', ã) − α ℓ(ã)) per row, ã ~ π(z'), one pair of target members for all rows:
    /// the stop-gradient value both kinds of target use (docs/algorithm.md §4.2 steps 1 and 6b).
    func discountedTargetValue(theta: UnsafePointer<T>, target: UnsafePointer<T>, next: UnsafePointer<T>, rows: Int,
                               into out: UnsafeMutablePointer<T>, rng: inout SeededRandom) {
        let raw = pi.forward(params: theta + layout.policyOffset, rows: rows, dropout: 0, rng: &rng,
                             input: next, needsBackward: false)
        rng.fillNormal(piHead.eps.p, rows * A)
        piHead.forward(raw: raw, rows: rows)
        let (p1, p2) = rng.pair(K)
        concat(into: qIn.p, z: next, a: piHead.action.p, rows: rows)
        for (slot, head) in [(0, p1), (1, p2)] {
            q[slot].forward(params: target + head * layout.q.paramCount, rows: rows, dropout: 0, rng: &rng,
                            input: qIn.p, needsBackward: false)
        }
        let g = T(hyper.discount), alpha = T(hyper.entropyCoef)
        let o1 = q[0].output, o2 = q[1].output
        for i in 0..<rows { out[i] = g * (min(o1[i], o2[i]) - alpha * piHead.logProb.p[i]) }
    }

    // MARK: Phase 2

    /// Returns 20·L_cons + 0.1·L_iq (+ GP); adds its gradient into `grad` when non-nil.
    @discardableResult
    public func modelLoss(theta: UnsafePointer<T>, grad: UnsafeMutablePointer<T>?, batch: Batch<T>,
                          rng: inout SeededRandom) -> T {
        let LA = L + A
        // Latent rollout ẑ_0..ẑ_H.
        zs.p.update(from: enc.forward(params: theta + layout.encoderOffset, rows: N2, dropout: 0, rng: &rng,
                                      input: batch.obs.p),
                    count: N2 * L)
        for t in 0..<H {
            concat(into: dyn[t].input.p, z: zs.p + t * N2 * L, a: batch.act.p + t * N2 * A, rows: N2)
            let out = dyn[t].forward(params: theta + layout.dynamicsOffset, rows: N2, dropout: 0, rng: &rng)
            (zs.p + (t + 1) * N2 * L).update(from: out, count: N2 * L)
        }
        // Consistency.
        var lcons: T = 0
        var rhoT: T = 1
        let rho = T(hyper.rho)
        let hT = T(H)
        for t in 0..<H {
            let zh = zs.p + (t + 1) * N2 * L, zt = zStar.p + t * N2 * L
            var s: T = 0
            for j in 0..<(N2 * L) { let d = zh[j] - zt[j]; s += d * d }
            lcons += rhoT * s / T(N2 * L)
            rhoT *= rho
        }
        lcons /= hT

        // v0 on expert slice starts: π sample and online min2 of a fresh pair.
        let alpha = T(hyper.entropyCoef)
        let rawV = piV.forward(params: theta + layout.policyOffset, rows: B, dropout: 0, rng: &rng, input: zs.p + B * L)
        rng.fillNormal(headV.eps.p, B * A)
        headV.forward(raw: rawV, rows: B)
        let pair = rng.pair(K)
        v0Pair = pair
        // Q heads on (ẑ_t, a_t), plus the v0 rows for the two chosen heads.
        let qRows = H * N2
        for t in 0..<H {
            concat(into: qIn.p + t * N2 * LA, z: zs.p + t * N2 * L, a: batch.act.p + t * N2 * A, rows: N2)
        }
        // Then the off-data rows (detached inputs), then the v0 rows.
        if uRows > 0 { concat(into: qIn.p + qRows * LA, z: uZ.p, a: uA.p, rows: uRows) }
        let vRow = qRows + uRows
        concat(into: qIn.p + vRow * LA, z: zs.p + B * L, a: headV.action.p, rows: B)
        for k in 0..<K {
            let rows = k == pair.0 || k == pair.1 ? vRow + B : vRow
            q[k].forward(params: theta + layout.qHeadOffset(k), rows: rows, dropout: hyper.dropout, rng: &rng,
                         input: qIn.p)
        }
        let v1 = q[pair.0].output + vRow, v2 = q[pair.1].output + vRow
        var v0: T = 0
        for j in 0..<B { v0 += min(v1[j], v2[j]) - alpha * headV.logProb.p[j] }
        v0 /= T(B)

        // IQ loss.
        let gamma = T(hyper.discount)
        let chi = 1 / (4 * T(hyper.chiAlpha))
        let w0 = T(hyper.initialValueWeight ?? 1)
        var sumRho: T = 0
        rhoT = 1
        for _ in 0..<H { sumRho += rhoT; rhoT *= rho }
        var liq: T = 0
        var qE: T = 0, qB: T = 0, rE: T = 0, rB: T = 0, rU: T = 0
        let lamU = T(hyper.offDataWeight)
        for k in 0..<K {
            let o = q[k].output
            rhoT = 1
            for t in 0..<H {
                var lin: T = 0, sq: T = 0
                for i in 0..<N2 {
                    let idx = t * N2 + i
                    let r = o[idx] - y.p[idx]
                    sq += r * r
                    if i >= B { lin += r; qE += o[idx]; rE += r } else { qB += o[idx]; rB += r }
                }
                var sqU: T = 0
                if uRows > 0 {
                    for i in 0..<N2 {
                        let idx = t * N2 + i
                        let r = o[qRows + idx] - yU.p[idx]
                        sqU += r * r
                        rU += r
                    }
                }
                liq += rhoT * (-lin / T(B) + (1 - gamma) * w0 * v0 + chi * (sq + lamU * sqU) / T(N2))
                rhoT *= rho
            }
        }
        liq /= T(H * K)
        // Gradient penalty inside every (k, t) term (docs/algorithm.md §4.2 step 7), detached inputs.
        var gpValue: T = 0
        if let gp {
            let lam = T(hyper.gradientPenaltyLambda)
            rhoT = 1
            for t in 0..<H {
                for _ in 0..<K {
                    let src = qIn.p + t * N2 * LA
                    let dst = gp.input
                    for i in 0..<B {
                        let l = T(rng.uniform())
                        let xb = src + i * LA, xe = src + (B + i) * LA, x = dst + i * LA
                        for j in 0..<LA { x[j] = l * xe[j] + (1 - l) * xb[j] }
                    }
                    let (p1, p2) = rng.pair(K)
                    let w = T(hyper.iqCoef) * lam * rhoT / T(H * K)
                    let v = gp.penalty(params1: theta + layout.qHeadOffset(p1), params2: theta + layout.qHeadOffset(p2),
                                       grads1: grad.map { $0 + layout.qHeadOffset(p1) },
                                       grads2: grad.map { $0 + layout.qHeadOffset(p2) },
                                       dropout: hyper.dropout, scale: w, rng: &rng)
                    gpValue += rhoT * v
                }
                rhoT *= rho
            }
            gpValue /= T(H * K)
            liq += lam * gpValue
        }
        let cCons = T(hyper.consistencyCoef), cIQ = T(hyper.iqCoef)
        let total = cCons * lcons + cIQ * liq
        let denom = T(H * K * B)
        stats.consistency = Double(lcons)
        stats.iq = Double(liq)
        stats.v0 = Double(v0)
        stats.gradientPenalty = Double(gpValue)
        stats.qExpert = Double(qE / denom)
        stats.qBehavioural = Double(qB / denom)
        stats.rewardExpert = Double(rE / denom)
        stats.rewardBehavioural = Double(rB / denom)
        stats.rewardOffData = uRows > 0 ? Double(rU / T(H * K * N2)) : 0
        stats.modelLoss = Double(total)
        guard let grad else { return total }

        // Backward.
        dzs.zero()
        rhoT = 1
        for t in 0..<H {
            let zh = zs.p + (t + 1) * N2 * L, zt = zStar.p + t * N2 * L, d = dzs.p + (t + 1) * N2 * L
            let c = cCons * rhoT * 2 / (hT * T(N2 * L))
            for j in 0..<(N2 * L) { d[j] += c * (zh[j] - zt[j]) }
            rhoT *= rho
        }
        let dv0 = cIQ * (1 - gamma) * w0 * sumRho / hT
        dA0.zero()
        for j in 0..<B { dL0.p[j] = -alpha * dv0 / T(B) }
        for k in 0..<K {
            let o = q[k].output
            rhoT = 1
            for t in 0..<H {
                let c = cIQ * rhoT / T(H * K)
                for i in 0..<N2 {
                    let idx = t * N2 + i
                    let r = o[idx] - y.p[idx]
                    dq.p[idx] = c * ((i >= B ? -1 / T(B) : 0) + chi * 2 * r / T(N2))
                    if uRows > 0 {
                        dq.p[qRows + idx] = c * chi * lamU * 2 * (o[qRows + idx] - yU.p[idx]) / T(N2)
                    }
                }
                rhoT *= rho
            }
            var rows = vRow
            if k == pair.0 || k == pair.1 {
                for j in 0..<B {
                    let mine = k == pair.0 ? v1[j] <= v2[j] : v2[j] < v1[j]
                    dq.p[vRow + j] = mine ? dv0 / T(B) : 0
                }
                rows += B
            }
            let qp = theta + layout.qHeadOffset(k)
            q[k].backward(params: qp, grads: grad + layout.qHeadOffset(k), dOut: dq.p, rows: rows, wantInputGrad: false)
            // ∂/∂ẑ of the data rows straight into dzs (rows t·N2 + i are ẑ_t's rows); the
            // data actions' gradient is never needed, the v0 rows' is (into π).
            q[k].addInputGrad(params: qp, rowStart: 0, rows: qRows, columns: 0..<L, into: dzs.p, ld: L, accumulate: true)
            if rows > vRow {
                q[k].addInputGrad(params: qp, rowStart: vRow, rows: B, columns: 0..<L, into: dzs.p + B * L, ld: L,
                                  accumulate: true)
                q[k].addInputGrad(params: qp, rowStart: vRow, rows: B, columns: L..<LA, into: dA0.p, ld: A,
                                  accumulate: true)
            }
        }
        // π path of v0 (π parameters and ẑ_0 of the expert half).
        headV.backward(dAction: dA0.p, dLogProb: dL0.p, rows: B)
        piV.backward(params: theta + layout.policyOffset, grads: grad + layout.policyOffset, dOut: headV.dRaw.p,
                     rows: B, wantInputGrad: false)
        piV.addInputGrad(params: theta + layout.policyOffset, rowStart: 0, rows: B, columns: 0..<L, into: dzs.p + B * L,
                         ld: L, accumulate: true)
        // Dynamics, last step first.
        for t in stride(from: H - 1, through: 0, by: -1) {
            dyn[t].backward(params: theta + layout.dynamicsOffset, grads: grad + layout.dynamicsOffset,
                            dOut: dzs.p + (t + 1) * N2 * L, rows: N2, wantInputGrad: false)
            dyn[t].addInputGrad(params: theta + layout.dynamicsOffset, rowStart: 0, rows: N2, columns: 0..<L,
                                into: dzs.p + t * N2 * L, ld: L, accumulate: true)
        }
        enc.backward(params: theta + layout.encoderOffset, grads: grad + layout.encoderOffset, dOut: dzs.p,
                     rows: N2, wantInputGrad: false)
        return total
    }

    // MARK: Phase 3

    /// L_π = 1/(H+1) Σ_t ρ^t mean_i(α ℓ − Qmin2(ẑ_t, ã)) on the latents of the last
    /// `modelLoss`, Q frozen (gradient through its action input only), dropout on; plus, when
    /// `hyper.bcWeight` > 0, the behaviour-cloning term of docs/algorithm.md §4.2 step 10b on the
    /// expert half of `batch` (the batch of that `modelLoss`).
    @discardableResult
    public func policyLoss(theta: UnsafePointer<T>, grad: UnsafeMutablePointer<T>?, batch: Batch<T>? = nil,
                           rng: inout SeededRandom) -> T {
        let rows = (H + 1) * N2
        let LA = L + A
        let raw = pi.forward(params: theta + layout.policyOffset, rows: rows, dropout: 0, rng: &rng, input: zs.p)
        rng.fillNormal(piHead.eps.p, rows * A)
        piHead.forward(raw: raw, rows: rows)
        let (p1, p2) = rng.pair(K)
        concat(into: qIn.p, z: zs.p, a: piHead.action.p, rows: rows)
        for (slot, head) in [(0, p1), (1, p2)] {
            q[slot].forward(params: theta + layout.qHeadOffset(head), rows: rows, dropout: hyper.dropout, rng: &rng,
                            input: qIn.p)
        }
        let o1 = q[0].output, o2 = q[1].output
        let alpha = T(hyper.entropyCoef), rho = T(hyper.rho)
        var loss: T = 0, rhoT: T = 1
        var ent: T = 0
        for t in 0...H {
            var s: T = 0
            for i in 0..<N2 {
                let idx = t * N2 + i
                s += alpha * piHead.logProb.p[idx] - min(o1[idx], o2[idx])
                ent += piHead.logProb.p[idx]
            }
            loss += rhoT * s / T(N2)
            rhoT *= rho
        }
        loss /= T(H + 1)
        let bcScale = T((hyper.bcWeight ?? 0) * abs(stats.qExpert))
        if bcScale > 0 {
            guard let batch else { preconditionFailure("policyLoss: bcWeight > 0 needs the update's batch") }
            loss += bcScale * behaviourCloning(raw: raw, act: batch.act.p, dRaw: nil)
        }
        stats.policyLoss = Double(loss)
        stats.policyLogProb = Double(ent / T(rows))
        guard let grad else { return loss }
        dPiA.zero()
        for slot in 0..<2 {
            rhoT = 1
            for t in 0...H {
                let c = -rhoT / T((H + 1) * N2)
                for i in 0..<N2 {
                    let idx = t * N2 + i
                    let mine = slot == 0 ? o1[idx] <= o2[idx] : o2[idx] < o1[idx]
                    dq.p[idx] = mine ? c : 0
                }
                rhoT *= rho
            }
            let head = slot == 0 ? p1 : p2
            let qp = theta + layout.qHeadOffset(head)
            q[slot].backward(params: qp, grads: nil, dOut: dq.p, rows: rows, wantInputGrad: false)
            // Only the action columns: ẑ is detached here.
            q[slot].addInputGrad(params: qp, rowStart: 0, rows: rows, columns: L..<LA, into: dPiA.p, ld: A,
                                 accumulate: true)
        }
        rhoT = 1
        for t in 0...H {
            let c = alpha * rhoT / T((H + 1) * N2)
            for i in 0..<N2 { dPiL.p[t * N2 + i] = c }
            rhoT *= rho
        }
        piHead.backward(dAction: dPiA.p, dLogProb: dPiL.p, rows: rows)
        if bcScale > 0, let batch {
            _ = behaviourCloning(raw: raw, act: batch.act.p, dRaw: (piHead.dRaw.p, bcScale))
        }
        pi.backward(params: theta + layout.policyOffset, grads: grad + layout.policyOffset, dOut: piHead.dRaw.p,
                    rows: rows, wantInputGrad: false)
        return loss
    }

    /// docs/algorithm.md §4.2 step 10b: (1/H) Σ_{t<H} ρ^t mean over the expert rows of the
    /// negative log-density of the expert's action a_t under π(ẑ_t), up to parameter-free
    /// constants (the tanh Jacobian is one of them): Σ_d ½((u_d − μ_d)/σ_d)² + log σ_d with
    /// u = atanh(a_t), clipped like `BCLoss`. Reads μ and log σ from the head's last forward
    /// over the (H+1)·2B policy rows; when `dRaw` is given, adds scale × its gradient there.
    func behaviourCloning(raw: UnsafePointer<T>, act: UnsafePointer<T>, dRaw: (UnsafeMutablePointer<T>, T)?) -> T {
        let half = T(0.5 * (layout.shape.logStdMax - layout.shape.logStdMin))
        let clip = T(BCLoss<T>.actionClip)
        var total: T = 0, rhoT: T = 1
        for t in 0..<H {
            let w = rhoT / T(H * B)
            for i in B..<N2 {
                let row = t * N2 + i
                for d in 0..<A {
                    let k = row * A + d
                    let a = min(max(act[k], -clip), clip)
                    let u = T(0.5) * T.logn((1 + a) / (1 - a))
                    let ls = piHead.logStd.p[k]
                    let sigma = T.expo(ls)
                    let z = (u - raw[row * 2 * A + d]) / sigma
                    total += w * (T(0.5) * z * z + ls)
                    if let (g, scale) = dRaw {
                        let ts = piHead.tanhS.p[k]
                        g[row * 2 * A + d] -= scale * w * z / sigma
                        g[row * 2 * A + A + d] += scale * w * (1 - z * z) * half * (1 - ts * ts)
                    }
                }
            }
            rhoT *= T(hyper.rho)
        }
        return total
    }
}

/// Scalars logged per update.
public struct UpdateStats: Sendable, Codable, Equatable {
    public var modelLoss = 0.0
    public var consistency = 0.0
    public var iq = 0.0
    public var v0 = 0.0
    public var gradientPenalty = 0.0
    public var policyLoss = 0.0
    public var policyLogProb = 0.0
    public var qExpert = 0.0
    public var qBehavioural = 0.0
    public var rewardExpert = 0.0
    public var rewardBehavioural = 0.0
    /// Mean decoded reward on the off-data action rows (0 when the term is off).
    public var rewardOffData = 0.0
    public var modelGradNorm = 0.0
    public var policyGradNorm = 0.0
    public init() {}
}
