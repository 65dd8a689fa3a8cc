import ArgumentParser
import Foundation
import IQCalibration
import IQModel
import IQPlanner
import IQPlants
import IQTrainer

/// `iqmpc-train bc`: behaviour-cloning baseline on the same demonstrations and network family.
struct BCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bc",
        abstract: "Behaviour-cloning baseline: encoder + policy prior by maximum likelihood on demonstrations.")

    @Option(help: "Expert demonstrations (.iqlog record file).") var demos: String
    @Option(help: "Calibration file.") var calibration: String
    @Option(help: "Model preset.") var preset: ModelConfig.Preset = .tiny
    @Option(help: "Gradient steps (1...100000000).") var updates = 5_000
    @Option(help: "Half batch (2B expert transitions per step), 1...16384: it sizes the update's buffers, so larger would not fit in memory.")
    var batch = 256
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(help: "Episode length (sets the discount stored in the file); default: the demonstrations' longest episode.")
    var episodeLength: Int?
    @Option(help: "Limit the demonstrations to the first N episodes.") var demoEpisodes: Int?
    @Option(help: "Evaluate the policy prior on this in-process task after training.") var task: TaskID?
    @Option(help: "Evaluation episodes (1...10000).") var evalEpisodes = 5
    @Option(help: "Weights file to write.") var out: String

    func validate() throws {
        if let e = episodeLength, e < 1 { throw ValidationError("--episode-length must be at least 1") }
        try requireRange("batch", batch, TrainerLimits.batch, whyUpper: batchBoundWhy)
        try requireRange("updates", updates, 1...100_000_000)
        try requireRange("eval-episodes", evalEpisodes, 1...10_000)
        try requireRange("demo-episodes", demoEpisodes, 1...Int(Int32.max))
    }

    func run() throws {
        let cal = try Calibration.load(path: calibration)
        let d = try Demonstrations.load(path: demos, calibration: cal, maxEpisodes: demoEpisodes)
        let bc = try BCRun(preset: preset.rawValue, calibration: cal, expert: d.buffer(obsDim: cal.obsDim, actDim: cal.actDim),
                           episodeLength: episodeLength ?? d.episodeLength, batch: batch, seed: seed, fingerprint: d.fingerprint)
        let t0 = Date()
        var first = Double.nan, last = Double.nan
        for i in 0..<updates {
            last = bc.step()
            if i == 0 { first = last }
            if i % 200 == 0 {
                FileHandle.standardError.write(String(format: "\rbc %d/%d  nll %.4f", i, updates, last).data(using: .utf8)!)
            }
        }
        FileHandle.standardError.write("\n".data(using: .utf8)!)
        try bc.write(path: out)
        print(String(format: "bc: %d updates in %.0f s, nll %.4f -> %.4f; weights: %@", updates,
                     Date().timeIntervalSince(t0), first, last, out))
        if let t = task {
            let env = try WireEnvironment.inProcess(task: t)
            defer { env.close() }
            var pc = PlannerConfig()
            pc.samples = 64; pc.iterations = 1; pc.elites = 8; pc.policyTrajectories = 8
            let r = try Evaluator.evaluate(model: bc.model(), env: env, calibration: cal, planner: pc,
                                           episodes: evalEpisodes, maxSteps: env.episodeLength,
                                           expertReturn: d.meanReturn, plannerSeed: seed, planning: false)
            print(String(format: "bc eval: prior return %.2f (%.3f of expert %.2f)", r.priorReturn, r.priorScore,
                         d.meanReturn ?? .nan))
        }
    }
}
