import IQKernels

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
    public var rng: SeededRandom

    public init(layout: ParamLayout, seed: UInt64) {
        self.layout = layout
        theta = Tensor(layout.total)
        target = Tensor(layout.qCount)
        grad = Tensor(layout.total)
        adamM = Tensor(layout.total)
        adamV = Tensor(layout.total)
        rng = SeededRandom(seed: seed)
        var initRng = SeededRandom(seed: seed ^ 0x5EED_1417)
        layout.initialise(theta.p, rng: &initRng)
        syncTarget()
    }

    /// Target Q = exact copy of the online Q (docs/algorithm.md §1.7, at initialisation).
    public func syncTarget() {
        target.p.update(from: theta.p + layout.qOffset, count: layout.qCount)
    }
}

/// One full update (docs/algorithm.md §4.2) on a prepared batch.
///
/// `threads` > 1 splits the update over that many threads (this one and `threads - 1`
/// workers): every network pass by rows (`MLPCache`), Adam and the Polyak step by parameter
/// ranges. Element-wise steps give the same bits whatever the split; the row split changes
/// how the weight gradients are summed, so a run is bit-for-bit reproducible for a given
/// seed and thread count, and 1 thread is exactly the single-threaded update.
public final class IQUpdater<T: TrainScalar>: @unchecked Sendable {
    // Safety: driven by one training thread (the pool's workers only run its jobs).
    public let loss: IQLoss<T>
    public let hyper: Hyper
    public let threads: Int
    let pool: WorkerPool?
    let steps: ParameterSteps<T>

    public init(layout: ParamLayout, hyper: Hyper, threads: Int = 1) {
        self.hyper = hyper
        self.threads = max(1, threads)
        loss = IQLoss(layout: layout, hyper: hyper)
        // Workers spin 2 ms between jobs (an update's serial stretches are far shorter), then
        // sleep until the next update; not pinned, the machine is shared.
        pool = self.threads > 1 ? WorkerPool(workers: self.threads - 1, pin: false, spinNs: 2_000_000) : nil
        loss.useThreads(pool)
        steps = ParameterSteps(pool: pool)
    }

    deinit { pool?.shutdown() }

    public func update(_ s: TrainState<T>, batch: Batch<T>) -> UpdateStats {
        let lay = s.layout
        let th = s.theta.p, g = s.grad.p
        pool?.wake()
        loss.prepareTargets(theta: th, target: s.target.p, batch: batch, rng: &s.rng)
        s.grad.zero()
        loss.modelLoss(theta: th, grad: g, batch: batch, rng: &s.rng)
        // Clip over every parameter that received gradient (π included via v0), as implemented.
        let mNorm = Optimiser.clipGlobalNorm(g, ranges: [0..<lay.total], maxNorm: hyper.gradClip)
        s.modelSteps += 1
        steps.adam(s, ranges: [(lay.encoderRange, hyper.lr * hyper.encoderLrScale), (lay.dynamicsRange, hyper.lr),
                               (lay.qRange, hyper.lr)],
                   step: s.modelSteps, eps: hyper.modelAdamEps, polyakTau: nil)
        // Policy: its own gradients, clip and Adam (eps 1e-5).
        (g + lay.policyOffset).update(repeating: 0, count: lay.policyRange.count)
        loss.policyLoss(theta: th, grad: g, batch: batch, rng: &s.rng)
        let pNorm = Optimiser.clipGlobalNorm(g, ranges: [lay.policyRange], maxNorm: hyper.gradClip)
        s.policySteps += 1
        steps.adam(s, ranges: [(lay.policyRange, hyper.lr)], step: s.policySteps, eps: hyper.policyAdamEps,
                   polyakTau: hyper.tau)
        var st = loss.stats
        st.modelGradNorm = mNorm
        st.policyGradNorm = pNorm
        return st
    }
}

extension IQUpdater where T == Float {
    /// `update` for callers in other modules (the benchmark): a generic method called across
    /// a module boundary runs unspecialised (value-witness calls per element); this entry
    /// point is compiled for Float here.
    public func updateFloat(_ s: TrainState<Float>, batch: Batch<Float>) -> UpdateStats {
        update(s, batch: batch)
    }
}

/// Adam over up to three parameter ranges, then optionally the Polyak step of the target Q,
/// each range split over the pool's partitions (element-wise, so the same bits as one pass).
final class ParameterSteps<T: TrainScalar>: PartitionedJob, @unchecked Sendable {
    // Safety: fields are set by the training thread before `pool.run` and only read by the
    // partitions; each partition writes a disjoint slice of θ, m, v and θ̄.
    let pool: WorkerPool?
    private var state: TrainState<T>?
    private var ranges: (Range<Int>, Range<Int>, Range<Int>) = (0..<0, 0..<0, 0..<0)
    private var lrs: (Double, Double, Double) = (0, 0, 0)
    private var step = 0, eps = 0.0
    private var tau: Double? = nil

    /// Slices per range: twice the threads (see `MLPCache.splitCount`); element-wise, so any
    /// count gives the same bits.
    let parts: Int

    init(pool: WorkerPool?) {
        self.pool = pool
        parts = pool.map { $0.partitions > 1 ? 2 * $0.partitions : 1 } ?? 1
    }

    /// `ranges`: (parameter range, learning rate), at most three (no array is kept).
    func adam(_ s: TrainState<T>, ranges r: [(Range<Int>, Double)], step: Int, eps: Double, polyakTau: Double?) {
        state = s
        ranges = (r[0].0, r.count > 1 ? r[1].0 : 0..<0, r.count > 2 ? r[2].0 : 0..<0)
        lrs = (r[0].1, r.count > 1 ? r[1].1 : 0, r.count > 2 ? r[2].1 : 0)
        self.step = step
        self.eps = eps
        tau = polyakTau
        if let pool { pool.run(self, partitions: parts) } else { run(partition: 0) }
        state = nil
    }

    /// Slice p of P of a range (starts multiples of 8 so the SIMD body covers the same elements).
    @inline(__always)
    static func slice(_ r: Range<Int>, _ p: Int, _ parts: Int) -> Range<Int> {
        @inline(__always) func cut(_ q: Int) -> Int {
            q >= parts ? r.upperBound : r.lowerBound + ((r.count * q / parts) & ~7)
        }
        return cut(p)..<cut(p + 1)
    }

    /// Called through the protocol (generic witness): the Float case runs the specialised body.
    func run(partition p: Int) {
        if T.self == Float.self {
            unsafeDowncast(self, to: ParameterSteps<Float>.self).runSlice(p)
        } else {
            runSlice(p)
        }
    }

    func runSlice(_ p: Int) {
        guard let s = state else { return }
        let th = s.theta.p, g = s.grad.p
        for (r, lr) in [(ranges.0, lrs.0), (ranges.1, lrs.1), (ranges.2, lrs.2)] where !r.isEmpty {
            Optimiser.adam(theta: th, grad: g, m: s.adamM.p, v: s.adamV.p, range: Self.slice(r, p, parts),
                           lr: lr, step: step, eps: eps)
        }
        if let tau {
            let q = s.layout.qOffset
            let part = Self.slice(0..<s.layout.qCount, p, parts)
            Optimiser.polyak(target: s.target.p + part.lowerBound, online: th + q + part.lowerBound,
                             count: part.count, tau: tau)
        }
    }
}
