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
    /// Encoder + policy-prior trajectories, and one iteration: running estimates (ns).
    private(set) var setupCostNs: UInt64 = 0
    private(set) var iterationCostNs: UInt64 = 0
    /// Fastest costs ever measured: the floor the estimates relax towards while falling back.
    private var fastestSetupNs: UInt64 = .max
    private var fastestIterationNs: UInt64 = .max
    private var warmStartValid = false

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

        // Does setup plus one iteration fit? If not, the prior's action is the answer.
        let afterPrior = MonotonicClock.nanoseconds()
        if deadline != .max && !fits(now: afterPrior, cost: setupCostNs &+ iterationCostNs, deadline: deadline) {
            relaxEstimates()
            return fallback(action: action, start: start, deadline: deadline)
        }

        rollPolicyTrajectories()
        core.initialiseDistribution(episodeStart: episodeStart)
        let p0 = core.partitions[0]
        core.sampler.head(z: core.z0, ldz: core.latentDim, rows: 1, raw: core.rawZ0, ping: p0.ping, pong: p0.pong)
        let setupDone = MonotonicClock.nanoseconds()

        var completed = 0
        var iterationStart = setupDone
        var lastIteration: UInt64 = 0
        while completed < config.iterations {
            if deadline != .max && !fits(now: iterationStart, cost: max(iterationCostNs, lastIteration), deadline: deadline) {
                break
            }
            core.iteration = completed
            core.drawHeads()
            pool.run(core)
            core.updateDistribution()
            completed += 1
            let now = MonotonicClock.nanoseconds()
            lastIteration = now &- iterationStart
            iterationStart = now
        }
        if !calibrating && completed > 0 {
            let setup = setupDone &- afterPrior, perIteration = (iterationStart &- setupDone) / UInt64(completed)
            setupCostNs = ema(setupCostNs, setup)
            iterationCostNs = ema(iterationCostNs, perIteration)
            fastestSetupNs = min(fastestSetupNs, setup)
            fastestIterationNs = min(fastestIterationNs, perIteration)
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

    /// Running cost estimate: rises at once to a slower measurement (so a slow spell stops
    /// the next plan from over-committing), falls back slowly (1/8 per plan).
    private func ema(_ old: UInt64, _ new: UInt64) -> UInt64 {
        new >= old ? new : old - (old - new) / 8
    }

    /// Tests only: stands in for a slow spell without needing one.
    func setCostEstimates(setup: UInt64, iteration: UInt64) {
        setupCostNs = setup
        iterationCostNs = iteration
    }

    /// A fallback measures nothing, so without this one slow spell (another process, a page
    /// fault) would inflate the estimate and keep every later call on the prior for good. Each
    /// fallback relaxes the estimates 1/8 of the way towards the fastest cost ever measured,
    /// never below it: a deadline shorter than the machine's best-case iteration still always
    /// falls back, while a transient spike is retried after a few frames.
    private func relaxEstimates() {
        if setupCostNs > fastestSetupNs { setupCostNs -= (setupCostNs - fastestSetupNs) / 8 }
        if iterationCostNs > fastestIterationNs { iterationCostNs -= (iterationCostNs - fastestIterationNs) / 8 }
    }

    /// The Nπ policy-prior trajectories (docs/algorithm.md §2.2 step 2): sampled from π, rolled through
    /// the dynamics, stored in rows 0..<Nπ of every step's actions. Once per plan.
    private func rollPolicyTrajectories() {
        let c = core, n = c.policyRows
        guard n > 0 else { return }
        let H = c.horizon, N = c.samples, A = c.actDim, L = c.latentDim
        let ws = c.partitions[0].workspace
        for r in 0..<n { (c.policyZ + r * L).update(from: c.z0, count: L) }
        let stream = streamID(plan: c.planIndex, iteration: 0, .policyTrajectory)
        for t in 0..<H {
            c.rng.fillNormal(stream: stream, counter: UInt64(t * n * A), into: c.policyNoise, count: n * A)
            let at = c.actions + t * N * A
            model.policy(z: c.policyZ, rows: n, noise: c.policyNoise, meanOut: nil, actionOut: at,
                         logProbOut: nil, logStdOut: nil, workspace: ws)
            if t < H - 1 {
                model.dynamics(z: c.policyZ, actions: at, rows: n, into: c.policyZ, workspace: ws)
            }
        }
    }

    /// One untimed plan on a zero observation: touches every buffer and BLAS's own scratch
    /// (its first call maps memory), then seeds the cost estimates from the fastest of three
    /// warm plans. The fastest cost is the floor a fallback relaxes towards and only a
    /// completed plan lowers it, so one measurement taken in a slow spell (a loaded machine)
    /// would keep every later call on the prior. Leaves no trace: plan index and warm start
    /// are as after init.
    private func calibrate() {
        let obs = UnsafeMutablePointer<Float>.allocate(capacity: model.config.obsDim)
        let act = UnsafeMutablePointer<Float>.allocate(capacity: model.config.actDim)
        defer { obs.deallocate(); act.deallocate() }
        obs.initialize(repeating: 0, count: model.config.obsDim)
        _ = run(observation: obs, episodeStart: true, deadline: .max, trainingNoise: false, action: act, calibrating: true)
        setupCostNs = .max
        iterationCostNs = .max
        for _ in 0..<3 {
            encodeAndPrior(obs)
            let t1 = MonotonicClock.nanoseconds()
            rollPolicyTrajectories()
            core.initialiseDistribution(episodeStart: true)
            let p0 = core.partitions[0]
            core.sampler.head(z: core.z0, ldz: core.latentDim, rows: 1, raw: core.rawZ0, ping: p0.ping, pong: p0.pong)
            let t2 = MonotonicClock.nanoseconds()
            core.iteration = 0
            core.drawHeads()
            pool.run(core)
            core.updateDistribution()
            let t3 = MonotonicClock.nanoseconds()
            setupCostNs = min(setupCostNs, t2 &- t1)
            iterationCostNs = min(iterationCostNs, t3 &- t2)
        }
        fastestSetupNs = setupCostNs
        fastestIterationNs = iterationCostNs
        warmStartValid = false
        core.prevMean.update(repeating: 0, count: core.horizon * core.actDim)
    }
}
