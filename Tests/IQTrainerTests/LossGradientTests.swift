import Testing
@testable import IQTrainer

/// The full losses of SPEC 4.2 against central differences in Double, every parameter.
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

    @Test func modelLossGradient() {
        let shape = tinyShape()
        let hp = hyper()
        let s = randomisedState(shape, seed: 11)
        let batch = randomBatch(shape, hyper: hp, seed: 12)
        let loss = IQLoss<Double>(layout: s.layout, hyper: hp)
        var rng = TrainRNG(seed: 13)
        loss.prepareTargets(theta: s.theta.p, target: s.target.p, batch: batch, rng: &rng)
        let r0 = rng
        s.grad.zero()
        var rr = r0
        loss.modelLoss(theta: s.theta.p, grad: s.grad.p, batch: batch, rng: &rr)
        let analytic = s.grad.array
        let (e, at) = worstRelativeError(analytic: analytic, count: s.layout.total,
                                         perturb: { i, h in s.theta.p[i] += h },
                                         loss: { var r = r0; return loss.modelLoss(theta: s.theta.p, grad: nil, batch: batch, rng: &r) })
        #expect(e < 1e-5, "worst at parameter \(at) of \(s.layout.total)")
        // Every network receives gradient (π through the v0 path).
        for range in [s.layout.encoderRange, s.layout.dynamicsRange, s.layout.policyRange, s.layout.qRange] {
            #expect(range.contains { analytic[$0] != 0 })
        }
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
        var rng = TrainRNG(seed: 23)
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
}

/// Behaviour cloning's likelihood gradient (encoder + policy) against central differences.
@Test func behaviourCloningGradient() {
    let shape = tinyShape()
    let s = randomisedState(shape, seed: 31)
    for i in s.layout.policyRange { s.theta.p[i] *= 0.5 }
    let rows = 5
    let bc = BCLoss<Double>(layout: s.layout, rows: rows)
    var r = TrainRNG(seed: 32)
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
