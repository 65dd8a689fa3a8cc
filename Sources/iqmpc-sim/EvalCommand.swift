import ArgumentParser
import Foundation
import IQPlants

/// `iqmpc-sim eval`: runs an expert (or the random baseline) on a task without any wire and
/// prints per-episode and mean returns with the wall time, the figures the README quotes.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure an expert's (or a random policy's) return on a task, in-process.")

    @Option(help: "Task.") var task: TaskID
    @Option(help: "Expert (or the random baseline).") var policy: ExpertKind = .analytic
    @Option(help: "Episodes to run.") var episodes: Int = 5
    @Option(help: "Seed of the first episode (episode i uses seed + i).") var seed: UInt64 = 1
    @Option(help: "Control steps per episode (default: the task's episode length).") var steps: Int?
    @Option(help: "Print the reward and the first observation values every N steps (0 = off).") var trace: Int = 0
    @Option(help: "MPC samples per step (mpc only).") var samples: Int?
    @Option(help: "MPC horizon in control steps (mpc only).") var horizon: Int?
    @Option(help: "MPC noise knots across the horizon (mpc only).") var knots: Int?
    @Option(help: "MPC perturbation std in normalised units (mpc only).") var noise: Double?
    @Option(help: "MPC temperature relative to the return spread (mpc only).") var temperature: Double?

    func run() throws {
        let id = task, kind = policy
        guard episodes >= 1 else { throw ValidationError("--episodes must be at least 1") }
        var cfg = SamplingMPCConfig.default(for: id)
        if let samples { cfg.samples = samples }
        if let horizon { cfg.horizon = horizon }
        if let knots { cfg.knots = knots }
        if let noise { cfg.noise = noise }
        if let temperature { cfg.temperature = temperature }
        let plant = try Plant(task: id)
        let expert = try Expert(task: id, kind: kind, seed: seed, mpc: cfg)
        var returns: [Double] = []
        let t0 = Date()
        for e in 0..<episodes {
            let every = trace
            let r = EpisodeRunner.run(plant: plant, expert: expert, seed: seed &+ UInt64(e), steps: steps,
                                      trace: every > 0 ? { step, reward, o in
                                          guard step % every == 0 else { return }
                                          let shown = (0..<min(plant.info.obsDim, 10)).map { String(format: "%.2f", o[$0]) }
                                          print(String(format: "  step %d reward %.3f obs ", step, reward) + shown.joined(separator: " "))
                                      } : nil)
            returns.append(r)
            print(String(format: "episode %d seed %llu return %.2f", e, seed &+ UInt64(e), r))
        }
        let mean = returns.reduce(0, +) / Double(returns.count)
        let sd = (returns.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(returns.count)).squareRoot()
        let length = steps ?? plant.info.episodeLength
        print(String(format: "%@ %@ (%@): mean %.2f sd %.2f min %.2f over %d episodes of %d steps (upper bound %d); %.1f s",
                     id.rawValue, policy.rawValue, expert.name, mean, sd, returns.min()!, episodes, length, length,
                     Date().timeIntervalSince(t0)))
    }
}
