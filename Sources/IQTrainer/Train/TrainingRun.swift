import Foundation
import IQCalibration
import IQModel
import IQPlanner

/// The online imitation loop of docs/algorithm.md §4.4 (paper Algorithm 2): seed phase of uniform random
/// actions, then a burst of as many updates, then one update per environment step (or
/// `hyper.updatesPerStep`), acting with the runtime's Planner (training noise on) on the
/// current weights. Evaluations start once updates have (the initial weights tell nothing)
/// and repeat every `evalEvery` steps: on a second task instance when one is given
/// (mid-episode, exactly on schedule), else at the first episode boundary after the due
/// step; checkpoints follow at episode boundaries.
/// `options.threads` > 1 splits the update and the planners (see `IQUpdater`); the run is
/// then reproducible for that seed and thread count.
///
/// Determinism: every random draw of the loop (slices, dropout, noise, random actions)
/// comes from `state.rng`; planners are seeded from (run seed, env step); simulator episodes
/// from (run seed, episode index). Checkpoints are taken at episode boundaries, so a resumed
/// run continues exactly as the uninterrupted one would have.
public final class TrainingRun: @unchecked Sendable {
    // Safety: driven by one thread.
    public let options: RunOptions
    public let config: ModelConfig
    public let layout: ParamLayout
    public let hyper: Hyper
    let env: TrainingEnvironment
    /// A second instance of the task for evaluations: with it they happen at exactly every
    /// `evalEvery` steps, mid-episode too; without, at the next episode boundary.
    let evalEnv: TrainingEnvironment?
    let calibration: Calibration
    let expert: ReplayBuffer
    let online: ReplayBuffer
    let expertReturn: Double?
    let demosPath: String, demosFingerprint: String
    public let state: TrainState<Float>
    let updater: IQUpdater<Float>
    let batch: Batch<Float>
    var position = LoopPosition()
    let metrics: MetricsLog
    let episodeLimit: Int
    let seedSteps: Int
    /// The acting and evaluation planner: `options.planner` with `options.threads` scoring threads.
    let plannerConfig: PlannerConfig

    public init(options: RunOptions, env: TrainingEnvironment, calibration: Calibration, expert: ReplayBuffer,
                expertReturn: Double?, demosPath: String, demosFingerprint: String,
                evaluationEnv: TrainingEnvironment? = nil) throws {
        try calibration.check(obsDim: env.obsDim, actDim: env.actDim)
        try TrainerLimits.check("batch", options.hyper.batch, in: TrainerLimits.batch)
        if let k = options.hyper.updatesPerStep { try TrainerLimits.check("updates per step", k, in: TrainerLimits.updatesPerStep) }
        if let w = options.hyper.bcWeight, !(w >= 0 && w.isFinite) {
            throw TrainError.badInput("bc weight \(w) must be a finite number >= 0")
        }
        guard (1...64).contains(options.threads) else { throw TrainError.badInput("threads \(options.threads) is outside 1...64") }
        // Checked now, not when the seed phase ends and the first planner is built.
        var pc = options.planner
        if options.threads > 1 {
            pc.threads = min(options.threads, pc.samples)
            // The machine may be shared: no pinning; short spins, the update runs between plans.
            pc.pinWorkers = false
            pc.workerSpinMicroseconds = min(pc.workerSpinMicroseconds, 200)
        }
        do { try pc.validate() } catch { throw TrainError.badInput("planner options: \(error)") }
        plannerConfig = pc
        guard expert.obsDim == env.obsDim, expert.actDim == env.actDim else {
            throw TrainError.badInput("demonstrations have obs/act dims \(expert.obsDim)/\(expert.actDim), the environment \(env.obsDim)/\(env.actDim)")
        }
        self.options = options
        self.env = env
        if let e = evaluationEnv, e.obsDim != env.obsDim || e.actDim != env.actDim || e.episodeLength != env.episodeLength {
            throw TrainError.badInput("the evaluation environment differs from the training one")
        }
        evalEnv = evaluationEnv
        self.calibration = calibration
        self.expert = expert
        self.expertReturn = expertReturn
        self.demosPath = demosPath
        self.demosFingerprint = demosFingerprint
        episodeLimit = min(options.episodeSteps ?? env.episodeLength, env.episodeLength)
        var h = options.hyper.canonical
        h.discount = options.discount ?? Hyper.discount(episodeLength: episodeLimit)
        hyper = h
        guard expert.sampleable(horizon: h.horizon) > 0 else {
            throw TrainError.badInput("no demonstration episode has at least \(h.horizon + 1) rows")
        }
        var c = try ModelConfig.preset(options.preset, obsDim: env.obsDim, actDim: env.actDim)
        c.discount = h.discount
        c.entropyCoef = h.entropyCoef
        config = c
        layout = ParamLayout(c)
        state = TrainState(layout: layout, seed: options.seed)
        // θ starts from the runtime's own docs/algorithm.md §1.8 initialiser (one definition of init).
        WeightsBridge.load(WorldModel.initialised(config: c, seed: options.seed), into: state.theta.p)
        state.syncTarget()
        updater = IQUpdater(layout: layout, hyper: h, threads: options.threads)
        batch = Batch(horizon: h.horizon, batch: h.batch, obsDim: env.obsDim, actDim: env.actDim)
        // docs/algorithm.md §3.1: capacity min(1e6, steps) transitions (+1 row per episode for obs_0).
        online = ReplayBuffer(obsDim: env.obsDim, actDim: env.actDim,
                              capacityRows: min(1_000_000, options.steps + options.steps / max(1, episodeLimit) + episodeLimit + 2))
        seedSteps = options.seedSteps ?? max(1000, 5 * episodeLimit)
        if options.resume {
            guard let dir = options.checkpointDir else { throw TrainError.badInput("--resume needs --checkpoint-dir") }
            let path = Self.checkpointPath(dir)
            if !FileManager.default.fileExists(atPath: path) && FileManager.default.fileExists(atPath: dir + "/checkpoint.iqckpt") {
                throw TrainError.badInput("\(dir) holds only an old-format checkpoint (checkpoint.iqckpt), which this version cannot resume (checkpoints are safetensors files now): start the run again without --resume")
            }
            let contents = try Checkpoint.read(path: path)
            let header = contents.header
            guard header.config == c else { throw TrainError.badInput("checkpoint model config differs from this run's") }
            guard header.hyper == h else {
                throw TrainError.badInput("checkpoint was trained with other hyperparameters (\(header.hyper)), this run has \(h): resuming would not continue that run")
            }
            guard header.runSeed == options.seed else {
                throw TrainError.badInput("checkpoint was trained with --seed \(header.runSeed), this run has \(options.seed)")
            }
            guard header.demosFingerprint == demosFingerprint else {
                throw TrainError.badInput("checkpoint was trained on demonstrations with fingerprint \(header.demosFingerprint), --demos has \(demosFingerprint)")
            }
            guard header.calibrationHash == calibration.mappingHash else {
                throw TrainError.badInput("checkpoint calibration hash \(header.calibrationHash) differs from --calibration's \(calibration.mappingHash)")
            }
            guard header.position.envStep <= options.steps else {
                throw TrainError.badInput("checkpoint position.envStep \(header.position.envStep) is beyond this run's --steps \(options.steps)")
            }
            try Checkpoint.restore(contents, state: state, online: online)
            position = header.position
        }
        if let dir = options.checkpointDir {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        metrics = try MetricsLog(path: options.metricsPath, append: options.resume)
    }

    public static func checkpointPath(_ dir: String) -> String { dir + "/checkpoint.safetensors" }

    public func run() throws -> RunSummary {
        var summary = RunSummary()
        let t0 = Date()
        let n = env.obsDim, m = env.actDim
        var raw = [Float](repeating: 0, count: n), obs = [Float](repeating: 0, count: n)
        var act = [Float](repeating: 0, count: m), phys = [Float](repeating: 0, count: m)
        var planner: Planner?
        var plannerBuiltAt = -1
        let startStep = position.envStep
        var lastEval: EvalResult?
        var updatesSinceLog = 0
        var logTime = Date()
        var checkpointDue = false
        while position.envStep < options.steps {
            if let stop = options.stopAfter, position.envStep - startStep >= stop { break }
            if evalEnv == nil, position.envStep >= position.nextEval {
                // Before the first update the weights are the initial ones: nothing to evaluate.
                if position.updates > 0 { lastEval = try evaluate() }
                position.nextEval += options.evalEvery
                try saveCheckpoint()
            } else if checkpointDue {
                // Checkpoints stay at episode boundaries (exact resume), after mid-episode evaluations.
                try saveCheckpoint()
                checkpointDue = false
            }
            // One training episode.
            let epSeed = options.seed &* 1_000_003 &+ UInt64(position.episodeIndex)
            try raw.withUnsafeMutableBufferPointer { try env.reset(seed: epSeed, observation: $0) }
            obs = calibration.normalise(observation: raw)
            var episode = Episode(obsDim: n, actDim: m, firstObservation: obs)
            for t in 0..<episodeLimit {
                if position.envStep >= options.steps { break }
                if position.envStep <= seedSteps {
                    for j in 0..<m { act[j] = Float(state.rng.uniform() * 2 - 1) }
                } else {
                    // Rebuilt at every episode start too, so a run resumed at an episode boundary
                    // acts with exactly the planner the uninterrupted run had.
                    if planner == nil || t == 0 || position.envStep - plannerBuiltAt >= options.plannerRefresh {
                        planner?.shutdown()
                        let model = try WeightsBridge.model(config: config, theta: state.theta.p)
                        planner = try Planner(model: model, config: plannerConfig,
                                              seed: options.seed &* 7_919 &+ UInt64(position.envStep))
                        plannerBuiltAt = position.envStep
                    }
                    _ = obs.withUnsafeBufferPointer { o in act.withUnsafeMutableBufferPointer {
                        planner!.plan(observation: o, episodeStart: t == 0, deadline: .max, trainingNoise: true, action: $0)
                    } }
                }
                phys = calibration.denormalise(action: act)
                let (r, terminal) = try phys.withUnsafeBufferPointer { p in
                    try raw.withUnsafeMutableBufferPointer { try env.step(action: p, observation: $0) }
                }
                obs = calibration.normalise(observation: raw)
                episode.append(action: act, reward: r, nextObservation: obs)
                if position.envStep >= seedSteps && online.sampleable(horizon: hyper.horizon) > 0 {
                    let count = position.updates == 0 ? seedSteps : (hyper.updatesPerStep ?? 1)
                    for _ in 0..<count {
                        ReplayBuffer.sampleMixed(behavioural: online, expert: expert, into: batch, rng: &state.rng)
                        let st = updater.update(state, batch: batch)
                        position.updates += 1
                        updatesSinceLog += 1
                        if summary.firstStats == nil { summary.firstStats = st }
                        summary.lastStats = st
                        if position.updates % options.logEvery == 0 {
                            summary.statsHistory.append(st)
                            let now = Date()
                            let rate = Double(updatesSinceLog) / max(1e-9, now.timeIntervalSince(logTime))
                            logTime = now
                            updatesSinceLog = 0
                            log(st, rate: rate)
                            if options.progress { progressLine(st, rate: rate, eval: lastEval) }
                        }
                    }
                }
                position.envStep += 1
                // Due evaluations wait for the first update (the initial weights tell nothing), then
                // fall every `evalEvery` steps; the one at `steps` is the final evaluation below.
                if evalEnv != nil, position.updates > 0, position.envStep >= position.nextEval, position.envStep < options.steps {
                    lastEval = try evaluate()
                    while position.nextEval <= position.envStep { position.nextEval += options.evalEvery }
                    checkpointDue = true
                }
                if terminal { break }
            }
            online.add(episode)
            position.episodeIndex += 1
        }
        planner?.shutdown()
        if position.envStep >= options.steps {
            lastEval = try evaluate()
            // The checkpoint must not leave this evaluation due again: a run extended with
            // `--steps N' --resume` would otherwise repeat it before (or right after) its first step.
            while position.nextEval <= position.envStep { position.nextEval += options.evalEvery }
        }
        try saveCheckpoint()
        try writeWeights(path: options.outPath)
        if options.progress { FileHandle.standardError.write("\n".data(using: .utf8)!) }
        summary.envSteps = position.envStep
        summary.updates = position.updates
        summary.seconds = Date().timeIntervalSince(t0)
        summary.lastEval = lastEval
        return summary
    }

    func evaluate() throws -> EvalResult {
        guard options.evalEpisodes > 0 else { return EvalResult() }
        let model = try WeightsBridge.model(config: config, theta: state.theta.p)
        var r = try Evaluator.evaluate(model: model, env: evalEnv ?? env, calibration: calibration, planner: plannerConfig,
                                       episodes: options.evalEpisodes, maxSteps: episodeLimit,
                                       expertReturn: expertReturn, plannerSeed: options.seed &+ 0xE7A1 &+ UInt64(position.evalIndex))
        r.expertRewardCorrelation = Evaluator.rewardCorrelation(model: model, buffer: expert)
        position.evalIndex += 1
        metrics.write(["env_step": Double(position.envStep), "updates": Double(position.updates),
                       "eval_return_plan": r.planReturn, "eval_return_prior": r.priorReturn,
                       "score_plan": r.planScore, "score_prior": r.priorScore,
                       "reward_correlation": r.rewardCorrelation, "reward_correlation_expert": r.expertRewardCorrelation,
                       "expert_return": expertReturn ?? .nan],
                      kind: "eval")
        if options.progress {
            FileHandle.standardError.write(String(format: "\neval @%d: plan %.1f (%.2f of expert), prior %.1f (%.2f), reward corr %.3f (expert demos %.3f)\n",
                                                  position.envStep, r.planReturn, r.planScore, r.priorReturn, r.priorScore,
                                                  r.rewardCorrelation, r.expertRewardCorrelation).data(using: .utf8)!)
        }
        return r
    }

    func log(_ s: UpdateStats, rate: Double) {
        metrics.write(["env_step": Double(position.envStep), "updates": Double(position.updates),
                       "model_loss": s.modelLoss, "consistency": s.consistency, "iq_loss": s.iq, "v0": s.v0,
                       "policy_loss": s.policyLoss, "policy_log_prob": s.policyLogProb,
                       "q_expert": s.qExpert, "q_behavioural": s.qBehavioural, "q_gap": s.qExpert - s.qBehavioural,
                       "reward_expert": s.rewardExpert, "reward_behavioural": s.rewardBehavioural,
                       "reward_off_data": s.rewardOffData,
                       "grad_norm_model": s.modelGradNorm, "grad_norm_policy": s.policyGradNorm,
                       "gradient_penalty": s.gradientPenalty, "updates_per_second": rate],
                      kind: "update")
    }

    func progressLine(_ s: UpdateStats, rate: Double, eval: EvalResult?) {
        var line = String(format: "\rstep %d/%d  upd %d  cons %.4f  iq %.4f  pi %.4f  Qgap %.3f  %.1f upd/s",
                          position.envStep, options.steps, position.updates, s.consistency, s.iq, s.policyLoss,
                          s.qExpert - s.qBehavioural, rate)
        if let eval { line += String(format: "  eval %.1f (%.2f)", eval.planReturn, eval.planScore) }
        FileHandle.standardError.write(line.data(using: .utf8)!)
    }

    public func metadata() -> [String: String] {
        var md = calibration.mappingMetadata()
        md["iqmpc.trainer"] = "iqmpc-train run (IQ-MPC)"
        md["iqmpc.train.env_steps"] = String(position.envStep)
        md["iqmpc.train.updates"] = String(position.updates)
        md["iqmpc.train.seed"] = String(options.seed)
        md["iqmpc.train.demos_fingerprint"] = demosFingerprint
        return md
    }

    public func writeWeights(path: String) throws {
        let model = try WeightsBridge.model(config: config, theta: state.theta.p)
        try model.write(to: path, extraMetadata: metadata())
    }

    func saveCheckpoint() throws {
        guard let dir = options.checkpointDir else { return }
        let header = CheckpointHeader(config: config, hyper: hyper, modelSteps: state.modelSteps,
                                      policySteps: state.policySteps, rng: state.rng, position: position,
                                      runSeed: options.seed, demosPath: demosPath, demosFingerprint: demosFingerprint,
                                      calibrationHash: calibration.mappingHash, episodeRows: online.episodes.map(\.rows))
        try Checkpoint.write(path: Self.checkpointPath(dir), header: header, state: state, online: online)
    }
}
