import ArgumentParser
import Foundation
import IQCalibration
import IQLink
import IQModel
import IQPlanner
import IQPlants
import IQTrainer

/// `iqmpc-train run`: IQ-MPC online imitation learning from demonstrations.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Train an IQ-MPC world model from expert demonstrations plus online interaction with a simulator.")

    @Option(help: "Expert demonstrations (.iqlog record file).") var demos: String
    @Option(help: "Simulated task run in this process.") var task: TaskID?
    @Option(help: "Lockstep simulator endpoint instead of --task (e.g. tcp://127.0.0.1:5701).") var env: String?
    @Option(help: "Calibration file (default: Calibration/<task>.yaml).") var calibration: String?
    @Option(help: "Model preset.") var preset: ModelConfig.Preset = .tiny
    @Option(help: "Environment steps (1...1000000000).") var steps = 100_000
    @Option(help: "Run seed.") var seed: UInt64 = 1
    @Option(help: "Seed-phase steps (default max(1000, 5 x episode length)).") var seedSteps: Int?
    @Option(help: "Slices per buffer per update (2B rows), 1...16384: it sizes the update's buffers, so larger would not fit in memory.")
    var batch = 256
    @Option(help: "Environment steps between evaluations.") var evalEvery = 10_000
    @Option(help: "Evaluation episodes (each with planning and with the policy prior).") var evalEpisodes = 5
    @Option(help: "End episodes after this many steps (default: the task's length).") var episodeSteps: Int?
    @Option(help: "Planner samples while acting and evaluating (1...65536).") var planSamples = 512
    @Option(help: "Planner iterations (1...255).") var planIterations = 6
    @Option(help: "Planner prior anchor κ while acting and evaluating (docs/algorithm.md §2.3; 0 = the paper's planner).") var priorAnchor = 0.0
    @Option(help: "Rebuild the acting planner from the current weights every N steps (each rebuild costs a calibration plan and loses the MPPI warm start).") var plannerRefresh = 25
    @Flag(help: "Add the Wasserstein-1 gradient penalty (docs/algorithm.md §4.2 step 7; off by default).") var gradientPenalty = false
    @Option(help: "Gradient-penalty scale λ.") var gradientPenaltyLambda = 1.0
    @Option(help: "Weight of the χ² term on uniformly drawn off-data actions (docs/algorithm.md §4.2 step 6b; measured in docs/reward-recovery.md §6: it slowed learning, so 0, off, is the default).")
    var offDataWeight = 0.0
    // Loss knobs for the reward-recovery ablations (docs/reward-recovery.md §11); defaults are the reference's.
    @Option(help: "Discount γ (default: docs/algorithm.md §4.5's rule from the episode length); also written into the weights, so the deployed planner uses it.")
    var discount: Double?
    @Option(help: "χ² regulariser's α: the term is 1/(4α)·mean(r̂²) (docs/algorithm.md §4.2 step 6).") var chiAlpha = Hyper().chiAlpha
    @Option(help: "Weight of the initial-state value term (1 − γ)·v0 (docs/algorithm.md §4.2 step 6; 0 = off).") var initialValueWeight = 1.0
    @Option(help: "Encoder learning rate as a fraction of the others' (docs/algorithm.md §4.1).") var encoderLrScale = Hyper().encoderLrScale
    @Option(help: "Polyak rate τ of the target Q (docs/algorithm.md §1.7; 1 = the target is the online Q).") var targetTau = Hyper().tau
    @Option(help: "Updates per environment step after the seed phase (docs/algorithm.md §4.4; 1 = the reference).")
    var updatesPerStep = 1
    @Option(help: "Weight λ of a behaviour-cloning term in the policy loss, scaled by the batch's mean |Q| on expert rows (docs/algorithm.md §4.2 step 10b; 0 = the reference, no term).")
    var bcWeight = 0.0
    @Option(help: "Limit the demonstrations to the first N episodes.") var demoEpisodes: Int?
    @Option(help: "Metrics file (JSON lines).") var metrics: String?
    @Option(help: "Metrics line every N updates.") var logEvery = 50
    @Option(help: "Deployable weights file to write.") var out: String
    @Option(help: "Checkpoint directory (exact resume).") var checkpointDir: String?
    @Flag(help: "Resume from --checkpoint-dir.") var resume = false
    @Option(help: "Stop at the first episode boundary after this many env steps of this invocation, writing --out and the checkpoint (a mid-training snapshot; continue with --resume).")
    var stopAfter: Int?
    @Flag(help: "No live progress line.") var quiet = false
    @Option(help: "Threads for the update and the planner (results reproducible for a given seed and thread count).")
    var threads = 1

    func validate() throws {
        if (task == nil) == (env == nil) { throw ValidationError("give exactly one of --task or --env") }
        try requireRange("steps", steps, 1...1_000_000_000)
        try requireRange("batch", batch, TrainerLimits.batch, whyUpper: batchBoundWhy)
        if evalEvery < 1 { throw ValidationError("--eval-every must be at least 1") }
        try requireRange("eval-episodes", evalEpisodes, 0...10_000)
        try requireRange("plan-samples", planSamples, 1...65_536)
        try requireRange("plan-iterations", planIterations, 1...255)
        guard PlannerConfig.priorAnchorRange.contains(priorAnchor) else {
            throw ValidationError("--prior-anchor must be finite and in 0...1e6, got \(priorAnchor)")
        }
        try requireRange("updates-per-step", updatesPerStep, TrainerLimits.updatesPerStep)
        try requireRange("planner-refresh", plannerRefresh, 1...Int(Int32.max))
        try requireRange("log-every", logEvery, 1...Int(Int32.max))
        try requireRange("seed-steps", seedSteps, 1...1_000_000_000)
        try requireRange("episode-steps", episodeSteps, 1...Int(Int32.max))
        try requireRange("stop-after", stopAfter, 1...Int(Int32.max))
        try requireRange("demo-episodes", demoEpisodes, 1...Int(Int32.max))
        if !(1...64).contains(threads) { throw ValidationError("--threads must be in 1...64") }
        if !(offDataWeight >= 0 && offDataWeight.isFinite) { throw ValidationError("--off-data-weight must be a finite number >= 0") }
        if let g = discount, !(g > 0 && g < 1) { throw ValidationError("--discount must be in (0, 1), got \(g)") }
        if !(chiAlpha > 0 && chiAlpha.isFinite) { throw ValidationError("--chi-alpha must be a finite number > 0") }
        if !(initialValueWeight >= 0 && initialValueWeight.isFinite) { throw ValidationError("--initial-value-weight must be a finite number >= 0") }
        if !(encoderLrScale >= 0 && encoderLrScale <= 10) { throw ValidationError("--encoder-lr-scale must be in 0...10") }
        if !(targetTau > 0 && targetTau <= 1) { throw ValidationError("--target-tau must be in (0, 1]") }
        if !(bcWeight >= 0 && bcWeight.isFinite) { throw ValidationError("--bc-weight must be a finite number >= 0") }
    }

    func run() throws {
        let calPath: String
        if let c = calibration { calPath = c } else if let t = task { calPath = "Calibration/\(t.rawValue).yaml" } else {
            throw ValidationError("--env needs --calibration")
        }
        let cal = try Calibration.load(path: calPath)
        let environment: WireEnvironment
        // In-process tasks get a second instance for evaluations, so they fall at exactly every
        // --eval-every steps instead of waiting for the end of a training episode.
        let evalEnvironment: WireEnvironment?
        if let t = task {
            environment = try WireEnvironment.inProcess(task: t)
            evalEnvironment = try WireEnvironment.inProcess(task: t)
        } else {
            // CURVE from the calibration's link.security (the simulator is the server).
            let keys = try cal.link.security.curve.map { c in
                CurveClientKeys(own: try CurveKeys.loadSecret(path: c.secretKeyFile),
                                serverPublicKey: try CurveKeys.loadPublic(path: c.plantPublicKeyFile))
            }
            environment = try WireEnvironment(connect: env!, curve: keys)
            evalEnvironment = nil
        }
        defer { environment.close(); evalEnvironment?.close() }
        try environment.check(against: cal)
        let d = try Demonstrations.load(path: demos, calibration: cal, maxEpisodes: demoEpisodes)
        var o = RunOptions()
        o.preset = preset.rawValue; o.steps = steps; o.seed = seed; o.seedSteps = seedSteps
        o.evalEvery = evalEvery; o.evalEpisodes = evalEpisodes; o.episodeSteps = episodeSteps
        o.hyper.batch = batch
        o.hyper.useGradientPenalty = gradientPenalty
        o.hyper.gradientPenaltyLambda = gradientPenaltyLambda
        o.hyper.offDataWeight = offDataWeight
        o.discount = discount
        o.hyper.chiAlpha = chiAlpha
        o.hyper.initialValueWeight = initialValueWeight
        o.hyper.encoderLrScale = encoderLrScale
        o.hyper.tau = targetTau
        o.hyper.updatesPerStep = updatesPerStep
        o.hyper.bcWeight = bcWeight
        o.planner.setSamples(planSamples)
        o.planner.iterations = planIterations
        o.planner.priorAnchor = priorAnchor
        o.plannerRefresh = plannerRefresh
        o.threads = threads
        o.logEvery = logEvery
        o.outPath = out; o.checkpointDir = checkpointDir; o.metricsPath = metrics; o.resume = resume
        o.stopAfter = stopAfter
        o.progress = !quiet
        let trainer = try TrainingRun(options: o, env: environment, calibration: cal,
                                      expert: d.buffer(obsDim: cal.obsDim, actDim: cal.actDim),
                                      expertReturn: d.meanReturn, demosPath: demos, demosFingerprint: d.fingerprint,
                                      evaluationEnv: evalEnvironment)
        let s = try trainer.run()
        var line = String(format: "done: %d env steps, %d updates, %.0f s", s.envSteps, s.updates, s.seconds)
        if let e = s.lastEval {
            line += String(format: "; eval return plan %.2f (%.3f of expert), prior %.2f (%.3f), reward corr %.3f (expert demos %.3f)",
                           e.planReturn, e.planScore, e.priorReturn, e.priorScore, e.rewardCorrelation, e.expertRewardCorrelation)
        }
        print(line)
        print("weights: \(out)")
    }
}
