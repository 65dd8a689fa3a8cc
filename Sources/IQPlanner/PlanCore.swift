import IQKernels
import IQModel
import Synchronization

/// One worker's slice of the trajectories and the scratch it scores them with.
///
/// Rows [r0, r1) of the N trajectories; all buffers are `[rows, ·]` for those rows only.
/// A final class so that the worker and the planner share one instance by reference.
final class Partition: @unchecked Sendable {
    let r0: Int
    let r1: Int
    var rows: Int { r1 - r0 }
    let workspace: ForwardWorkspace
    let zCur: UnsafeMutablePointer<Float>     // [rows, L]
    let zNext: UnsafeMutablePointer<Float>    // [rows, L]
    let noise: UnsafeMutablePointer<Float>    // [rows, A]
    let sampled: UnsafeMutablePointer<Float>  // [rows, A]  ã samples fed to Q
    let logProb: UnsafeMutablePointer<Float>  // [rows]
    let qa: UnsafeMutablePointer<Float>       // [rows]
    let qStep: UnsafeMutablePointer<Float>    // [rows]  min-Q at (z_t, a_t)
    let qNext: UnsafeMutablePointer<Float>    // [rows]  min-Q at (z_{t+1}, a_{t+1}), computed with V_{t+1}
    let qTerm: UnsafeMutablePointer<Float>    // [rows]  mean-Q at (z_H, ã_H)
    let termAction: UnsafeMutablePointer<Float>  // [rows, A]  ã_H
    let entropyStep: UnsafeMutablePointer<Float>  // [rows]  ℓ_t
    let value: UnsafeMutablePointer<Float>    // [rows]  G
    let rawCur: UnsafeMutablePointer<Float>   // [rows, 2A]  policy head at z_t
    let rawNext: UnsafeMutablePointer<Float>  // [rows, 2A]  policy head at z_{t+1}
    let ping: UnsafeMutablePointer<Float>     // [rows, policy hidden]
    let pong: UnsafeMutablePointer<Float>     // [rows, policy hidden]
    /// Rows × heads whose latent product two Q calls shared (FLOP accounting for the benchmark;
    /// written only by this partition's thread).
    var sharedLatentRows = 0

    init(r0: Int, r1: Int, workspaceRows: Int, model: WorldModel, hidden: Int, arena: FloatArena) {
        let c = model.config, n = r1 - r0
        self.r0 = r0; self.r1 = r1
        workspace = ForwardWorkspace(model: model, maxRows: max(workspaceRows, n))
        zCur = arena.floats(n * c.latentDim); zNext = arena.floats(n * c.latentDim)
        noise = arena.floats(n * c.actDim); sampled = arena.floats(n * c.actDim)
        logProb = arena.floats(n); qa = arena.floats(n)
        qStep = arena.floats(n); entropyStep = arena.floats(n); value = arena.floats(n)
        qNext = arena.floats(n); qTerm = arena.floats(n); termAction = arena.floats(n * c.actDim)
        // Partition 0 also evaluates the 1-row head at z_0.
        let hRows = max(n, 1)
        rawCur = arena.floats(hRows * 2 * c.actDim); rawNext = arena.floats(hRows * 2 * c.actDim)
        ping = arena.floats(hRows * hidden); pong = arena.floats(hRows * hidden)
    }

    static func floats(rows n: Int, config c: ModelConfig, hidden: Int) -> (floats: Int, slices: Int) {
        (2 * n * c.latentDim + 3 * n * c.actDim + 7 * n + 4 * n * c.actDim + 2 * n * hidden, 16)
    }
}

/// The planner's state shared by the calling thread and the workers: model, buffers, and
/// the current job (plan index, iteration, head pairs). Workers read the job fields only
/// after the pool's acquire of a new generation and write only their own partition's rows.
final class PlanCore: @unchecked Sendable {
    let model: WorldModel
    let config: PlannerConfig
    let horizon: Int, samples: Int, actDim: Int, latentDim: Int, numQ: Int
    let eliteCount: Int, policyRows: Int
    let gamma: Float, alpha: Float
    /// κ / A of the prior anchor (`PlannerConfig.priorAnchor`); 0 skips it.
    let anchorPerDim: Float
    let rng: Philox
    let sampler: PolicySampler

    let partitions: ContiguousArray<Partition>
    /// Row alignment of partition starts (see RowAlignment).
    let rowAlignment: Int
    let arena: FloatArena
    /// [H, N, A]: trajectory t-th actions for all samples are contiguous (GEMM input rows).
    let actions: UnsafeMutablePointer<Float>
    let values: UnsafeMutablePointer<Float>        // [N]
    let mean: UnsafeMutablePointer<Float>          // [H, A]
    let std: UnsafeMutablePointer<Float>           // [H, A]
    let prevMean: UnsafeMutablePointer<Float>      // [H, A]
    let eliteIndex: UnsafeMutablePointer<Int32>    // [k]
    let eliteWeight: UnsafeMutablePointer<Float>   // [k]
    let z0: UnsafeMutablePointer<Float>            // [L]
    let priorAction: UnsafeMutablePointer<Float>   // [A]
    let policyZ: UnsafeMutablePointer<Float>       // [Nπ, L]
    let policyNoise: UnsafeMutablePointer<Float>   // [Nπ, A]
    /// 2-of-K head pairs for the 2H+1 Q calls of the current iteration.
    let heads: UnsafeMutablePointer<Int32>         // [(2H+1) * 2]
    /// Policy head output at z_0 (shared by every trajectory's ℓ_0).
    let rawZ0: UnsafeMutablePointer<Float>         // [2A]
    /// The policy-prior trajectories' latents z_1..z_H and policy heads there, `[H, Nπ, L]` and
    /// `[H, Nπ, 2A]`: their actions are fixed for the whole plan, so iteration 0 computes them
    /// and later iterations copy them (only when the model's rollout rows are position-independent).
    /// (`var` only so a test can switch the cache off and compare bits; set before the first plan.)
    var cacheRollout: Bool
    let policyZCache: UnsafeMutablePointer<Float>
    let policyRawCache: UnsafeMutablePointer<Float>
    /// Mean elite value after each iteration of the last plan (diagnostics and quality tests).
    let eliteMeanValue: UnsafeMutablePointer<Float>  // [iterations]

    /// Scoring one given trajectory (`TrajectoryScorer`): every policy sample at ε = 0, and
    /// row r0 of partition 0's terms written to `trace`. Both stay off while planning.
    var deterministicPolicy = false
    var trace: ScoreTrace? = nil

    // The current job.
    var planIndex: UInt64 = 0
    var iteration: Int = 0
    /// The current plan's deadline (`MonotonicClock`; .max = none), checked once per horizon
    /// step: the block that bounds how far a plan can overshoot it.
    var deadline: UInt64 = .max
    /// Set by whichever thread first finds the deadline passed during an iteration; the
    /// iteration is then dropped. Reset at the start of each plan.
    let abandoned = Atomic<Bool>(false)
    /// The first action of each elite of the last completed iteration, `[k, A]`: the executed
    /// action is drawn from these, since an abandoned iteration overwrites `actions`.
    let eliteFirstAction: UnsafeMutablePointer<Float>

    init(model: WorldModel, config: PlannerConfig, seed: UInt64) {
        let c = model.config
        self.model = model
        self.config = config
        horizon = config.horizon; samples = config.samples; actDim = c.actDim; latentDim = c.latentDim
        numQ = c.numQ; eliteCount = config.elites; policyRows = config.policyTrajectories
        gamma = Float(c.discount); alpha = Float(c.entropyCoef)
        anchorPerDim = Float(config.priorAnchor) / Float(c.actDim)
        rng = Philox(seed: seed)
        sampler = PolicySampler(model: model)

        // Partitions start on the BLAS row block so each row's bits do not depend on the split;
        // if no alignment reproduces (unknown BLAS), score everything on one thread instead.
        var threads = config.threads
        var alignment = 1
        if threads > 1 {
            if let k = RowAlignment.probe(model: model) { alignment = k } else { threads = 1 }
        }
        rowAlignment = alignment
        let bounds = PlanCore.partitionBounds(samples: samples, threads: threads, alignment: alignment)
        let H = horizon, N = samples, A = actDim, L = latentDim
        var floats = H * N * A + N + 3 * H * A + eliteCount + L + A + policyRows * (L + A) + config.iterations + 2 * A
            + H * policyRows * (L + 2 * A) + 2 + eliteCount * A
        var slices = 16
        for p in 0..<(bounds.count - 1) {
            let f = Partition.floats(rows: bounds[p + 1] - bounds[p], config: c, hidden: sampler.hiddenWidth)
            floats += f.floats; slices += f.slices
        }
        arena = FloatArena(floats: floats, ints: eliteCount + (2 * H + 1) * 2, slices: slices)
        actions = arena.floats(H * N * A); values = arena.floats(N)
        mean = arena.floats(H * A); std = arena.floats(H * A); prevMean = arena.floats(H * A)
        eliteIndex = arena.ints(eliteCount); eliteWeight = arena.floats(eliteCount)
        eliteFirstAction = arena.floats(eliteCount * A)
        z0 = arena.floats(L); priorAction = arena.floats(A)
        policyZ = arena.floats(policyRows * L); policyNoise = arena.floats(policyRows * A)
        heads = arena.ints((2 * H + 1) * 2)
        eliteMeanValue = arena.floats(config.iterations)
        rawZ0 = arena.floats(2 * A)
        cacheRollout = model.rolloutRowsIndependent && policyRows > 0
        policyZCache = arena.floats(cacheRollout ? H * policyRows * L : 1)
        policyRawCache = arena.floats(cacheRollout ? H * policyRows * 2 * A : 1)
        var parts = ContiguousArray<Partition>()
        for p in 0..<(bounds.count - 1) {
            // Partition 0 belongs to the calling thread, which also encodes (1 row) and rolls
            // the policy-prior trajectories (Nπ rows) with its workspace.
            let wsRows = p == 0 ? max(policyRows, 1) : 1
            parts.append(Partition(r0: bounds[p], r1: bounds[p + 1], workspaceRows: wsRows, model: model,
                                   hidden: sampler.hiddenWidth, arena: arena))
        }
        partitions = parts
    }

    /// Contiguous, near-equal row ranges whose starts are multiples of `alignment`
    /// (empty ranges are dropped, so there may be fewer partitions than threads).
    static func partitionBounds(samples n: Int, threads t: Int, alignment k: Int) -> [Int] {
        var bounds = [0]
        for p in 1..<max(t, 1) {
            let b = (p * n / t) / k * k
            if b > bounds.last! && b < n { bounds.append(b) }
        }
        bounds.append(n)
        return bounds
    }

    /// z_0 = h(observation) and the policy head there (shared by every trajectory's ℓ_0), for
    /// scoring outside a plan (`TrajectoryScorer`, tests).
    func startLatent(observation: UnsafePointer<Float>) {
        let p0 = partitions[0]
        model.encode(obs: observation, rows: 1, into: z0, workspace: p0.workspace)
        sampler.head(z: z0, ldz: latentDim, rows: 1, raw: rawZ0, ping: p0.ping, pong: p0.pong)
    }

    /// True (and the iteration marked abandoned) once the deadline has passed, or another
    /// thread already found it passed. One clock read: cheap against a horizon step.
    @inline(__always)
    func pastDeadline() -> Bool {
        if abandoned.load(ordering: .relaxed) { return true }
        guard deadline != .max, MonotonicClock.nanoseconds() >= deadline else { return false }
        abandoned.store(true, ordering: .relaxed)
        return true
    }

    /// Draws the 2 distinct heads for each of the 2H+1 Q calls of this iteration.
    func drawHeads() {
        let stream = streamID(plan: planIndex, iteration: iteration, .headPick)
        for call in 0..<(2 * horizon + 1) {
            let first = rng.index(below: numQ, stream: stream, element: UInt64(4 * call))
            var second = rng.index(below: numQ - 1, stream: stream, element: UInt64(4 * call + 1))
            if second >= first { second += 1 }
            heads[2 * call] = Int32(first)
            heads[2 * call + 1] = Int32(second)
        }
    }
}
