import IQKernels
import IQModel
@testable import IQTrainer
import Testing

/// The full losses of docs/algorithm.md §4.2 against central differences in Double, every parameter.
struct LossGradientTests {
    func hyper() -> Hyper {
        var h = Hyper()
        h.batch = 3
        h.horizon = 2
        h.dropout = 0.2
        h.discount = 0.9
        // Larger entropy weight so the log-prob paths carry visible gradient.
        h.entropyCoef = 0.05
        return h
    }

    /// Phase 1 once, then the analytic gradient of phase 2 against central differences over every
    /// parameter (phase 1's outputs are constants of phase 2, so FD sees exactly what is derived).
    func checkModelLoss(_ hp: Hyper, seed: UInt64)
        -> (error: Double, at: Int, analytic: [Double], loss: Double, stats: UpdateStats, layout: ParamLayout) {
        let shape = tinyShape()
        let s = randomisedState(shape, seed: seed)
        let batch = randomBatch(shape, hyper: hp, seed: seed + 1)
        let loss = IQLoss<Double>(layout: s.layout, hyper: hp)
        var rng = SeededRandom(seed: seed + 2)
        loss.prepareTargets(theta: s.theta.p, target: s.target.p, batch: batch, rng: &rng)
        let r0 = rng
        s.grad.zero()
        var rr = r0
        let value = loss.modelLoss(theta: s.theta.p, grad: s.grad.p, batch: batch, rng: &rr)
        let stats = loss.stats
        let analytic = s.grad.array
        let (e, at) = worstRelativeError(analytic: analytic, count: s.layout.total,
                                         perturb: { i, h in s.theta.p[i] += h },
                                         loss: { var r = r0; return loss.modelLoss(theta: s.theta.p, grad: nil, batch: batch, rng: &r) })
        return (e, at, analytic, value, stats, s.layout)
    }

    @Test func modelLossGradient() {
        let c = checkModelLoss(hyper(), seed: 11)
        #expect(c.error < 1e-5, "worst at parameter \(c.at) of \(c.layout.total)")
        // Every network receives gradient (π through the v0 path).
        for range in [c.layout.encoderRange, c.layout.dynamicsRange, c.layout.policyRange, c.layout.qRange] {
            #expect(range.contains { c.analytic[$0] != 0 })
        }
    }

    /// The χ² term on off-data actions (docs/algorithm.md §4.2 step 6b). A weight that did nothing
    /// would pass the FD check, so also: with the same state, batch and draws (any λ > 0 draws
    /// alike), the loss grows by the same positive amount for each unit of λ.
    @Test func modelLossWithOffDataActionsGradient() {
        var hp = hyper()
        hp.offDataWeight = 2
        let c = checkModelLoss(hp, seed: 61)
        #expect(c.error < 1e-5, "worst at parameter \(c.at) of \(c.layout.total)")
        #expect(c.stats.rewardOffData != 0)
        hp.offDataWeight = 1
        let one = checkModelLoss(hp, seed: 61).loss
        hp.offDataWeight = 3
        let three = checkModelLoss(hp, seed: 61).loss
        let perUnit = c.loss - one
        #expect(perUnit > 0)
        #expect(abs((three - c.loss) - perUnit) <= 1e-9 * abs(c.loss))
    }

    /// The reward-recovery ablation knobs (docs/reward-recovery.md §11): the gradient stays exact
    /// with a weighted v0 term and another χ² α, and the weight really scales the v0 term: the
    /// loss is linear in it, with a slope of c_iq · (1 − γ) · (Σρᵗ/H) · v0 (same draws at any weight).
    @Test func modelLossWithInitialValueWeightAndChiAlphaGradient() {
        var hp = hyper()
        hp.chiAlpha = 0.2
        hp.initialValueWeight = 0.4
        let c = checkModelLoss(hp, seed: 71)
        #expect(c.error < 1e-5, "worst at parameter \(c.at) of \(c.layout.total)")
        hp.initialValueWeight = 0
        let zero = checkModelLoss(hp, seed: 71).loss
        hp.initialValueWeight = nil
        let one = checkModelLoss(hp, seed: 71)
        var sumRho = 0.0, r = 1.0
        for _ in 0..<hp.horizon { sumRho += r; r *= hp.rho }
        let slope = hp.iqCoef * (1 - hp.discount) * sumRho / Double(hp.horizon) * one.stats.v0
        #expect(one.stats.v0 != 0)
        #expect(abs((one.loss - zero) - slope) <= 1e-9 * max(1, abs(one.loss)))
        #expect(abs((c.loss - zero) - 0.4 * slope) <= 1e-9 * max(1, abs(one.loss)))
    }

    @Test func policyLossGradient() {
        let shape = tinyShape()
        let hp = hyper()
        let s = randomisedState(shape, seed: 21)
        // Keep tanh(u) away from ±1: at 1 − a² ~ 1e-9 the 1e-6 floor inside the log makes the
        // curvature so large that central differences (not the gradient) lose accuracy.
        for i in s.layout.policyRange { s.theta.p[i] *= 0.5 }
        let batch = randomBatch(shape, hyper: hp, seed: 22)
        let loss = IQLoss<Double>(layout: s.layout, hyper: hp)
        var rng = SeededRandom(seed: 23)
        loss.prepareTargets(theta: s.theta.p, target: s.target.p, batch: batch, rng: &rng)
        loss.modelLoss(theta: s.theta.p, grad: nil, batch: batch, rng: &rng)
        let r0 = rng
        s.grad.zero()
        var rr = r0
        loss.policyLoss(theta: s.theta.p, grad: s.grad.p, rng: &rr)
        let analytic = s.grad.array
        // Only π receives gradient; Q is frozen.
        #expect(!s.layout.qRange.contains { analytic[$0] != 0 })
        #expect(!s.layout.encoderRange.contains { analytic[$0] != 0 })
        let pr = s.layout.policyRange
        let (e, at) = worstRelativeError(analytic: Array(analytic[pr]), count: pr.count,
                                         perturb: { i, h in s.theta.p[pr.lowerBound + i] += h },
                                         loss: { var r = r0; return loss.policyLoss(theta: s.theta.p, grad: nil, rng: &r) })
        #expect(e < 1e-5, "worst at π parameter \(at)")
    }

    /// The behaviour-cloning term of docs/algorithm.md §4.2 step 10b: exact gradient into π, a
    /// loss linear in λ (same draws at any λ), and it reads the expert half's actions only.
    @Test func policyLossWithBehaviourCloningGradient() {
        let shape = tinyShape()
        func run(_ weight: Double?, edit: (Batch<Double>) -> Void = { _ in }, check: Bool = false) -> Double {
            var hp = hyper()
            hp.bcWeight = weight
            let s = randomisedState(shape, seed: 81)
            for i in s.layout.policyRange { s.theta.p[i] *= 0.5 }
            let batch = randomBatch(shape, hyper: hp, seed: 82)
            edit(batch)
            let loss = IQLoss<Double>(layout: s.layout, hyper: hp)
            var rng = SeededRandom(seed: 83)
            loss.prepareTargets(theta: s.theta.p, target: s.target.p, batch: batch, rng: &rng)
            loss.modelLoss(theta: s.theta.p, grad: nil, batch: batch, rng: &rng)
            #expect(loss.stats.qExpert != 0)
            let r0 = rng
            s.grad.zero()
            var rr = r0
            let value = loss.policyLoss(theta: s.theta.p, grad: s.grad.p, batch: batch, rng: &rr)
            if check {
                let analytic = s.grad.array
                let pr = s.layout.policyRange
                #expect(!s.layout.qRange.contains { analytic[$0] != 0 })
                let (e, at) = worstRelativeError(analytic: Array(analytic[pr]), count: pr.count,
                                                 perturb: { i, h in s.theta.p[pr.lowerBound + i] += h },
                                                 loss: { var r = r0
                                                     return loss.policyLoss(theta: s.theta.p, grad: nil, batch: batch, rng: &r) })
                #expect(e < 1e-5, "worst at π parameter \(at)")
            }
            return value
        }
        let off = run(nil), one = run(1), three = run(3, check: true)
        #expect(run(0) == off)
        let perUnit = one - off
        #expect(abs(perUnit) > 1e-6)
        #expect(abs((three - off) - 3 * perUnit) <= 1e-9 * max(1, abs(three)))
        // Rows 0..<B of every step are behavioural, B..<2B expert (Batch's layout).
        let h = hyper(), a = shape.actDim
        func editRows(_ expert: Bool) -> (Batch<Double>) -> Void {
            { b in for t in 0..<h.horizon { for i in 0..<h.batch {
                let row = t * 2 * h.batch + (expert ? h.batch + i : i)
                for d in 0..<a { b.act.p[row * a + d] = -0.5 * b.act.p[row * a + d] + 0.1 }
            } } }
        }
        let behaviouralEdited = run(1, edit: editRows(false)), expertEdited = run(1, edit: editRows(true))
        let offBehavioural = run(nil, edit: editRows(false)), offExpert = run(nil, edit: editRows(true))
        #expect(abs((behaviouralEdited - offBehavioural) - perUnit) <= 1e-9 * max(1, abs(one)))
        #expect(abs((expertEdited - offExpert) - perUnit) > 1e-6)
    }
}

/// Behaviour cloning's likelihood gradient (encoder + policy) against central differences.
@Test func behaviourCloningGradient() {
    let shape = tinyShape()
    let s = randomisedState(shape, seed: 31)
    for i in s.layout.policyRange { s.theta.p[i] *= 0.5 }
    let rows = 5
    let bc = BCLoss<Double>(layout: s.layout, rows: rows)
    var r = SeededRandom(seed: 32)
    let obs = (0..<(rows * shape.obsDim)).map { _ in r.normal() }
    let act = (0..<(rows * shape.actDim)).map { _ in r.uniform() * 1.6 - 0.8 }
    s.grad.zero()
    obs.withUnsafeBufferPointer { o in act.withUnsafeBufferPointer { a in
        _ = bc.loss(theta: s.theta.p, grad: s.grad.p, obs: o.baseAddress!, act: a.baseAddress!)
    } }
    let analytic = s.grad.array
    let (e, at) = worstRelativeError(analytic: analytic, count: s.layout.total, perturb: { i, h in s.theta.p[i] += h },
                                     loss: { obs.withUnsafeBufferPointer { o in act.withUnsafeBufferPointer { a in
                                         bc.loss(theta: s.theta.p, grad: nil, obs: o.baseAddress!, act: a.baseAddress!) } } })
    #expect(e < 1e-5, "worst at \(at)")
    #expect(s.layout.encoderRange.contains { analytic[$0] != 0 })
    #expect(!s.layout.qRange.contains { analytic[$0] != 0 })
}

/// The gradient penalty's second-order path on its own: FD of GP over both heads' parameters.
@Test func gradientPenaltyDoubleBackprop() {
    let spec = NetworkSpec("t", widths: [6, 7, 5, 1], last: .none, dropoutFirst: true)
    let rows = 4
    let gp = GradientPenalty<Double>(spec: spec, rows: rows)
    var r = SeededRandom(seed: 41)
    let p1 = Tensor<Double>(spec.paramCount), p2 = Tensor<Double>(spec.paramCount)
    for i in 0..<spec.paramCount { p1.p[i] = r.normal() * 0.8; p2.p[i] = r.normal() * 0.8 }
    let x = (0..<(rows * 6)).map { _ in r.normal() }
    let r0 = r
    func value(_ g1: UnsafeMutablePointer<Double>?, _ g2: UnsafeMutablePointer<Double>?) -> Double {
        for i in 0..<x.count { gp.input[i] = x[i] }
        var rr = r0
        return gp.penalty(params1: p1.p, params2: p2.p, grads1: g1, grads2: g2, dropout: 0.3, scale: 1, rng: &rr)
    }
    let g1 = Tensor<Double>(spec.paramCount), g2 = Tensor<Double>(spec.paramCount)
    let v = value(g1.p, g2.p)
    #expect(v > 0)
    let (e1, a1) = worstRelativeError(analytic: g1.array, count: spec.paramCount, perturb: { i, h in p1.p[i] += h },
                                      loss: { value(nil, nil) })
    let (e2, a2) = worstRelativeError(analytic: g2.array, count: spec.paramCount, perturb: { i, h in p2.p[i] += h },
                                      loss: { value(nil, nil) })
    #expect(e1 < 1e-5, "head 1 worst at \(a1)")
    #expect(e2 < 1e-5, "head 2 worst at \(a2)")
}

/// The full model loss with the gradient penalty switched on.
@Test func modelLossWithGradientPenaltyGradient() {
    let shape = tinyShape()
    var hp = Hyper()
    hp.batch = 3; hp.horizon = 2; hp.dropout = 0.2; hp.discount = 0.9; hp.entropyCoef = 0.05
    hp.useGradientPenalty = true
    hp.gradientPenaltyLambda = 3
    let s = randomisedState(shape, seed: 51)
    let batch = randomBatch(shape, hyper: hp, seed: 52)
    let loss = IQLoss<Double>(layout: s.layout, hyper: hp)
    var rng = SeededRandom(seed: 53)
    loss.prepareTargets(theta: s.theta.p, target: s.target.p, batch: batch, rng: &rng)
    let r0 = rng
    s.grad.zero()
    var rr = r0
    loss.modelLoss(theta: s.theta.p, grad: s.grad.p, batch: batch, rng: &rr)
    #expect(loss.stats.gradientPenalty > 0)
    let analytic = s.grad.array
    // The penalty's inputs are detached (docs/algorithm.md §4.2 step 7), so the loss value depends on the
    // encoder and dynamics through x̃ while the gradient deliberately does not: check Q and π
    // by finite differences (x̃ does not move with them) ...
    let checked = Array(s.layout.policyOffset..<s.layout.total)
    let (e, at) = worstRelativeError(analytic: checked.map { analytic[$0] }, count: checked.count,
                                     perturb: { i, h in s.theta.p[checked[i]] += h },
                                     loss: { var r = r0; return loss.modelLoss(theta: s.theta.p, grad: nil, batch: batch, rng: &r) })
    #expect(e < 1e-5, "worst at parameter \(checked[max(0, at)])")
    // ... and the encoder/dynamics gradient is the one without the penalty (to rounding:
    // BLAS may sum in another order for differently aligned buffers).
    hp.useGradientPenalty = false
    let plain = IQLoss<Double>(layout: s.layout, hyper: hp)
    var r1 = SeededRandom(seed: 53)
    plain.prepareTargets(theta: s.theta.p, target: s.target.p, batch: batch, rng: &r1)
    s.grad.zero()
    plain.modelLoss(theta: s.theta.p, grad: s.grad.p, batch: batch, rng: &r1)
    for i in 0..<s.layout.policyOffset { #expect(abs(s.grad.p[i] - analytic[i]) <= 1e-12 * max(1e-6, abs(analytic[i]))) }

}
