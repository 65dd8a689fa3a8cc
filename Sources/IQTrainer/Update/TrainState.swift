/// Everything a resumed run needs to continue bit for bit: parameters, target Q, both Adam
/// states and step counts, the RNG and the update counter.
public final class TrainState<T: TrainScalar>: @unchecked Sendable {
    // Safety: mutated only by the training thread.
    public let layout: ParamLayout
    public let theta: Tensor<T>
    public let target: Tensor<T>
    public let grad: Tensor<T>
    public let adamM: Tensor<T>
    public let adamV: Tensor<T>
    public var modelSteps = 0
    public var policySteps = 0
    public var rng: TrainRNG

    public init(layout: ParamLayout, seed: UInt64) {
        self.layout = layout
        theta = Tensor(layout.total)
        target = Tensor(layout.qCount)
        grad = Tensor(layout.total)
        adamM = Tensor(layout.total)
        adamV = Tensor(layout.total)
        rng = TrainRNG(seed: seed)
        var initRng = TrainRNG(seed: seed ^ 0x5EED_1417)
        layout.initialise(theta.p, rng: &initRng)
        syncTarget()
    }

    /// Target Q = exact copy of the online Q (docs/algorithm.md §1.7, at initialisation).
    public func syncTarget() {
        target.p.update(from: theta.p + layout.qOffset, count: layout.qCount)
    }
}

/// One full update (docs/algorithm.md §4.2) on a prepared batch.
public final class IQUpdater<T: TrainScalar>: @unchecked Sendable {
    // Safety: driven by one training thread.
    public let loss: IQLoss<T>
    public let hyper: Hyper

    public init(layout: ParamLayout, hyper: Hyper) {
        self.hyper = hyper
        loss = IQLoss(layout: layout, hyper: hyper)
    }

    public func update(_ s: TrainState<T>, batch: Batch<T>) -> UpdateStats {
        let lay = s.layout
        let th = s.theta.p, g = s.grad.p
        loss.prepareTargets(theta: th, target: s.target.p, batch: batch, rng: &s.rng)
        s.grad.zero()
        loss.modelLoss(theta: th, grad: g, batch: batch, rng: &s.rng)
        // Clip over every parameter that received gradient (π included via v0), as implemented.
        let mNorm = Optimiser.clipGlobalNorm(g, ranges: [0..<lay.total], maxNorm: hyper.gradClip)
        s.modelSteps += 1
        Optimiser.adam(theta: th, grad: g, m: s.adamM.p, v: s.adamV.p, range: lay.encoderRange,
                       lr: hyper.lr * hyper.encoderLrScale, step: s.modelSteps, eps: hyper.modelAdamEps)
        Optimiser.adam(theta: th, grad: g, m: s.adamM.p, v: s.adamV.p, range: lay.dynamicsRange,
                       lr: hyper.lr, step: s.modelSteps, eps: hyper.modelAdamEps)
        Optimiser.adam(theta: th, grad: g, m: s.adamM.p, v: s.adamV.p, range: lay.qRange,
                       lr: hyper.lr, step: s.modelSteps, eps: hyper.modelAdamEps)
        // Policy: its own gradients, clip and Adam (eps 1e-5).
        (g + lay.policyOffset).update(repeating: 0, count: lay.policyRange.count)
        loss.policyLoss(theta: th, grad: g, rng: &s.rng)
        let pNorm = Optimiser.clipGlobalNorm(g, ranges: [lay.policyRange], maxNorm: hyper.gradClip)
        s.policySteps += 1
        Optimiser.adam(theta: th, grad: g, m: s.adamM.p, v: s.adamV.p, range: lay.policyRange,
                       lr: hyper.lr, step: s.policySteps, eps: hyper.policyAdamEps)
        Optimiser.polyak(target: s.target.p, online: th + lay.qOffset, count: lay.qCount, tau: hyper.tau)
        var st = loss.stats
        st.modelGradNorm = mNorm
        st.policyGradNorm = pNorm
        return st
    }
}
