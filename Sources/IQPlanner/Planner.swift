import IQKernels
import IQModel

/// MPPI over the frozen world model with the policy prior (docs/algorithm.md §2), built for a fixed
/// control period on a CPU.
///
/// API:
/// - `init(model:config:seed:)` validates, allocates every buffer, starts the worker threads,
///   and runs one calibration plan (warms BLAS and caches, measures iteration cost).
/// - `plan(observation:episodeStart:deadline:trainingNoise:action:) -> PlanOutcome`:
///   no heap allocation, no blocking lock; same weights + observation sequence + seed give
///   bit-identical actions for any thread count. Anytime: whole iterations run while the
///   measured per-iteration cost predicts the next one ends before `deadline`; if not even one
///   fits, the action is the policy prior's mean tanh(μ) (`PlanOutcome.source == .policyPrior`).
///   The deadline is also checked inside the work, once per horizon step of the set-up and of
///   every partition's scoring: when a slow spell (another process on the core) makes an
///   iteration run past it, that iteration is abandoned at the next step boundary and the
///   answer comes from the iterations completed before (or the prior), so a plan overshoots
///   its deadline by at most one such block. A plan that never reaches its deadline takes the
///   same path as without the checks (bit-identical results).
/// - Cost estimates (`PlanCostModel`) come from a start-up pass and every plan since, and
///   are re-measured by a probe after a run of fallbacks: a slowed start-up pass cannot keep
///   the planner on the prior for good.
/// - `policyPrior(observation:action:)`: that fallback alone.
/// - `reset()`: forget the warm start (the next plan behaves as an episode start).
/// - `shutdown()`: stops the workers (also done on deinit).
///
/// Randomness: plan k (counted from 0 since init) draws only from Philox streams named by
/// (k, iteration, purpose), so results never depend on how rows are split across threads.
///
/// Not reentrant: one `plan` at a time per planner (it owns its buffers).
public final class Planner: @unchecked Sendable {
    public let model: WorldModel
    public let config: PlannerConfig
    public let seed: UInt64
    let core: PlanCore
    let pool: WorkerPool
    /// Expected set-up and iteration cost, and when to re-measure.
    private(set) var costs = PlanCostModel(setupNs: 0, iterationNs: 0)
    private var warmStartValid = false

    /// The current estimates (ns) of the set-up (policy-prior trajectories) and of one
    /// iteration: what the planner expects, for diagnostics and telemetry.
    public var estimatedSetupNs: UInt64 { costs.setupNs }
    public var estimatedIterationNs: UInt64 { costs.iterationNs }

    public init(model: WorldModel, config: PlannerConfig, seed: UInt64) throws(PlannerError) {
        try config.validate()
        self.model = model
        self.config = config
        self.seed = seed
        Gemm.useSingleThread()
        core = PlanCore(model: model, config: config, seed: seed)
        pool = WorkerPool(workers: core.partitions.count - 1, pin: config.pinWorkers,
                          spinNs: UInt64(config.workerSpinMicroseconds) * 1000)
        calibrate()
    }

    deinit { pool.shutdown() }

    public func shutdown() { pool.shutdown() }

    public func reset() { warmStartValid = false }

    /// Number of plans made so far (the next plan's random-stream index).
    public var planCount: UInt64 { core.planIndex }

    /// Plans one action. `observation` is the normalised observation (obsDim values),
    /// `deadline` an absolute `MonotonicClock` time (UInt64.max = none); `action` receives
    /// actDim values in [-1, 1].
    public func plan(observation: UnsafeBufferPointer<Float>, episodeStart: Bool, deadline: UInt64,
                     trainingNoise: Bool, action: UnsafeMutableBufferPointer<Float>) -> PlanOutcome {
        // An explicit check, not `precondition`: the module builds with -Ounchecked, which drops those.
        if observation.count != model.config.obsDim || action.count != model.config.actDim || observation.baseAddress == nil {
            fatalError("Planner.plan: observation/action sizes do not match the model")
        }
        let outcome = run(observation: observation.baseAddress!, episodeStart: episodeStart || !warmStartValid,
                          deadline: deadline, trainingNoise: trainingNoise, action: action.baseAddress!,
                          calibrating: false)
        core.planIndex &+= 1
        return outcome
    }

    /// The fallback controller: tanh of the policy mean at h(observation).
    public func policyPrior(observation: UnsafeBufferPointer<Float>, action: UnsafeMutableBufferPointer<Float>) {
        if observation.count != model.config.obsDim || action.count != model.config.actDim || observation.baseAddress == nil {
            fatalError("Planner.policyPrior: observation/action sizes do not match the model")
        }
        encodeAndPrior(observation.baseAddress!)
        action.baseAddress!.update(from: core.priorAction, count: model.config.actDim)
    }

    private func encodeAndPrior(_ obs: UnsafePointer<Float>) {
        let ws = core.partitions[0].workspace
        model.encode(obs: obs, rows: 1, into: core.z0, workspace: ws)
        model.policy(z: core.z0, rows: 1, noise: nil, meanOut: core.priorAction, actionOut: nil,
                     logProbOut: nil, logStdOut: nil, workspace: ws)
    }

    private func run(observation obs: UnsafePointer<Float>, episodeStart: Bool, deadline: UInt64,
                     trainingNoise: Bool, action: UnsafeMutablePointer<Float>, calibrating: Bool) -> PlanOutcome {
        let start = MonotonicClock.nanoseconds()
        pool.wake()
        encodeAndPrior(obs)
        core.deadline = deadline
        core.abandoned.store(false, ordering: .relaxed)

        // Does setup plus one iteration fit? If not, the prior's action is the answer, unless
        // a probe is due (see PlanCostModel).
        let afterPrior = MonotonicClock.nanoseconds()
        let probe = deadline != .max && !calibrating && costs.isProbeDue
        if deadline != .max && !probe && !fits(now: afterPrior, cost: costs.firstIterationNs, deadline: deadline) {
            costs.fellBack(probe: false)
            return fallback(action: action, start: start, deadline: deadline)
        }

        if !rollPolicyTrajectories() {
            costs.fellBack(probe: probe)
            return fallback(action: action, start: start, deadline: deadline)
        }
        core.initialiseDistribution(episodeStart: episodeStart)
        let p0 = core.partitions[0]
        core.sampler.head(z: core.z0, ldz: core.latentDim, rows: 1, raw: core.rawZ0, ping: p0.ping, pong: p0.pong)
        let setupDone = MonotonicClock.nanoseconds()

        var completed = 0
        var iterationStart = setupDone
        var lastIteration: UInt64 = 0
        while completed < config.iterations {
            // A probe's first iteration goes ahead whatever the estimate says.
            let estimate = probe && completed == 0 ? 0 : max(costs.iterationNs, lastIteration)
            if deadline != .max && !fits(now: iterationStart, cost: estimate, deadline: deadline) {
                break
            }
            core.iteration = completed
            core.drawHeads()
            pool.run(core)
            // Past the deadline inside the iteration: its rows are incomplete, drop it.
            if core.abandoned.load(ordering: .relaxed) { break }
            core.updateDistribution()
            completed += 1
            let now = MonotonicClock.nanoseconds()
            lastIteration = now &- iterationStart
            iterationStart = now
        }
        if !calibrating {
            if completed > 0 {
                var perIteration = (iterationStart &- setupDone) / UInt64(completed)
                // An abandoned iteration took at least as long as it ran: evidence of a slow spell.
                if core.abandoned.load(ordering: .relaxed) {
                    perIteration = max(perIteration, MonotonicClock.nanoseconds() &- iterationStart)
                }
                costs.measured(setup: setupDone &- afterPrior, perIteration: perIteration, probe: probe)
            } else {
                costs.fellBack(probe: probe)
            }
        }
        if completed == 0 {
            return fallback(action: action, start: start, deadline: deadline)
        }
        core.selectAction(into: action, trainingNoise: trainingNoise)
        warmStartValid = true
        let end = MonotonicClock.nanoseconds()
        return PlanOutcome(source: .planner, iterations: completed, elapsedNs: end &- start,
                           deadlineMissed: end > deadline)
    }

    private func fallback(action: UnsafeMutablePointer<Float>, start: UInt64, deadline: UInt64) -> PlanOutcome {
        action.update(from: core.priorAction, count: model.config.actDim)
        let end = MonotonicClock.nanoseconds()
        return PlanOutcome(source: .policyPrior, iterations: 0, elapsedNs: end &- start, deadlineMissed: end > deadline)
    }

    @inline(__always)
    private func fits(now: UInt64, cost: UInt64, deadline: UInt64) -> Bool {
        now < deadline && cost < deadline &- now
    }

    /// The Nπ policy-prior trajectories (docs/algorithm.md §2.2 step 2): sampled from π, rolled through
    /// the dynamics, stored in rows 0..<Nπ of every step's actions. Once per plan. False when
    /// the deadline passed before the last step (the plan falls back).
    private func rollPolicyTrajectories() -> Bool {
        let c = core, n = c.policyRows
        guard n > 0 else { return true }
        let H = c.horizon, N = c.samples, A = c.actDim, L = c.latentDim
        let ws = c.partitions[0].workspace
        for r in 0..<n { (c.policyZ + r * L).update(from: c.z0, count: L) }
        let stream = streamID(plan: c.planIndex, iteration: 0, .policyTrajectory)
        for t in 0..<H {
            if c.pastDeadline() { return false }
            c.rng.fillNormal(stream: stream, counter: UInt64(t * n * A), into: c.policyNoise, count: n * A)
            let at = c.actions + t * N * A
            model.policy(z: c.policyZ, rows: n, noise: c.policyNoise, meanOut: nil, actionOut: at,
                         logProbOut: nil, logStdOut: nil, workspace: ws)
            if t < H - 1 {
                model.dynamics(z: c.policyZ, actions: at, rows: n, into: c.policyZ, workspace: ws)
            }
        }
        return true
    }

    /// One untimed plan on a zero observation: touches every buffer and BLAS's own scratch
    /// (its first call maps memory), then seeds the cost estimates from the fastest of three
    /// warm plans. A start-up pass can still be slowed as a whole (the core loaded while the
    /// runtime starts): `PlanCostModel`'s probe re-measures while serving. Leaves no trace:
    /// plan index and warm start are as after init.
    private func calibrate() {
        let obs = UnsafeMutablePointer<Float>.allocate(capacity: model.config.obsDim)
        let act = UnsafeMutablePointer<Float>.allocate(capacity: model.config.actDim)
        defer { obs.deallocate(); act.deallocate() }
        obs.initialize(repeating: 0, count: model.config.obsDim)
        _ = run(observation: obs, episodeStart: true, deadline: .max, trainingNoise: false, action: act, calibrating: true)
        core.deadline = .max
        var setupNs = UInt64.max, iterationNs = UInt64.max
        for _ in 0..<3 {
            encodeAndPrior(obs)
            let t1 = MonotonicClock.nanoseconds()
            _ = rollPolicyTrajectories()
            core.initialiseDistribution(episodeStart: true)
            let p0 = core.partitions[0]
            core.sampler.head(z: core.z0, ldz: core.latentDim, rows: 1, raw: core.rawZ0, ping: p0.ping, pong: p0.pong)
            let t2 = MonotonicClock.nanoseconds()
            core.iteration = 0
            core.drawHeads()
            pool.run(core)
            core.updateDistribution()
            let t3 = MonotonicClock.nanoseconds()
            setupNs = min(setupNs, t2 &- t1)
            iterationNs = min(iterationNs, t3 &- t2)
        }
        costs = PlanCostModel(setupNs: setupNs, iterationNs: iterationNs)
        warmStartValid = false
        core.prevMean.update(repeating: 0, count: core.horizon * core.actDim)
    }
}
