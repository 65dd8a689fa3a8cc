import ArgumentParser
import Foundation
import IQPlants

/// `iqmpc-sim record`: expert demonstrations into a `.iqlog` record file.
struct RecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Record expert demonstrations (header + steps, length-delimited Records).")

    @Option(help: "Task.") var task: TaskID
    @Flag(help: "Record the task's expert (required; the only source of demonstrations).") var expert = false
    @Option(help: "analytic (default: the task's own expert) | mpc | random (a baseline, not a demonstration).") var policy: ExpertKind = .analytic
    @Option(help: "Episodes to record.") var episodes: Int = 10
    @Option(help: "Seed of the first episode (episode i uses seed + i).") var seed: UInt64 = 1
    @Option(help: "Output file.") var out: String
    @Option(help: "MPC samples per step (mpc experts).") var samples: Int?
    @Option(help: "MPC horizon in control steps (mpc experts).") var horizon: Int?

    func run() throws {
        guard expert else { throw ValidationError("pass --expert (demonstrations come from the task's expert)") }
        let id = task, kind = policy
        var cfg = SamplingMPCConfig.default(for: id)
        if let samples { cfg.samples = samples }
        if let horizon { cfg.horizon = horizon }
        let t0 = Date()
        let s = try DemoRecorder.record(task: id, expert: kind, episodes: episodes, seed: seed, path: out, mpc: cfg) { e, r in
            print(String(format: "episode %d seed %llu return %.2f", e, seed &+ UInt64(e), r))
        }
        let mean = s.episodeReturns.reduce(0, +) / Double(s.episodeReturns.count)
        print(String(format: "wrote %@: %d episodes, %d actions, %lld bytes, mean return %.2f, %.1f s",
                     out, s.episodeReturns.count, s.steps, s.bytes, mean, Date().timeIntervalSince(t0)))
    }
}
