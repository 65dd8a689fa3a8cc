import ArgumentParser
import Foundation
import IQJSON
import IQModel
import IQPlanner

/// `iqmpc-runtime plan`: plans K consecutive steps and prints the actions, so that determinism
/// (same seed → same bits, any thread count) can be checked from outside the process.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Plan K consecutive steps for a fixed observation (or a given sequence) and print the actions.")

    @Option(help: "Weights file (safetensors, iqmpc.weights).") var weights: String
    @Option(help: "Observation: obsDim comma-separated values (used every step), or steps·obsDim values (one row per step).")
    var obs: String
    @Option(help: "Planner seed.") var seed: UInt64 = 0
    @Option(help: "Consecutive steps to plan (episode start at step 0).") var steps = 1
    @Option(help: "Scoring threads (calling thread included).") var threads = 1
    @Option(help: "Samples per iteration (default: 512); elites and policy-prior trajectories keep the paper's fractions (1/8, 3/64).") var samples: Int?
    @Option(help: "MPPI iterations (default: 6, 8 when actDim >= 20).") var iterations: Int?
    @Option(help: "Horizon (default: 3).") var horizon: Int?
    @Option(help: "Action selection.") var selection: PlannerConfig.ActionSelection = .sample
    @Flag(name: .customLong("training-noise"), help: "Add the training-mode exploration noise.") var trainingNoise = false
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let (model, _) = try WorldModel.load(path: weights)
        let D = model.config.obsDim, A = model.config.actDim
        guard steps >= 1 else { throw ValidationError("--steps must be >= 1") }
        var values: [Float] = []
        for (i, field) in obs.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            guard let v = Float(field.trimmingCharacters(in: .whitespaces)), v.isFinite else {
                throw ValidationError("--obs value \(i + 1) (\"\(field)\") is not a finite number")
            }
            values.append(v)
        }
        guard values.count == D || values.count == steps * D else {
            throw ValidationError("--obs has \(values.count) values; the model needs \(D) (obs_dim) or \(steps * D) (steps × obs_dim)")
        }
        var config = PlannerConfig.paper(actDim: A)
        config.threads = threads
        if let samples { config.setSamples(samples) }
        if let iterations { config.iterations = iterations }
        if let horizon { config.horizon = horizon }
        config.actionSelection = selection
        let planner: Planner
        do { planner = try Planner(model: model, config: config, seed: seed) } catch { throw ValidationError(error.description) }
        defer { planner.shutdown() }

        var actions: [[Float]] = [], outcomes: [PlanOutcome] = []
        var action = [Float](repeating: 0, count: A)
        for k in 0..<steps {
            let row = values.count == D ? 0 : k
            let outcome = values.withUnsafeBufferPointer { all in
                action.withUnsafeMutableBufferPointer { act in
                    planner.plan(observation: UnsafeBufferPointer(rebasing: all[(row * D)..<((row + 1) * D)]),
                                 episodeStart: k == 0, deadline: .max, trainingNoise: trainingNoise, action: act)
                }
            }
            // A finite observation can still overflow the networks (a huge value through LayerNorm's
            // variance); the runtime answers such a frame with the safe action, here it is an error.
            guard action.allSatisfy(\.isFinite) else {
                throw ValidationError("step \(k): the planned action is not finite: the observation overflows the model (the runtime would send the safe action for this frame); check the observation's scale")
            }
            actions.append(action)
            outcomes.append(outcome)
        }
        // %.9g round-trips Float exactly, so equal text means equal bits.
        func num(_ x: Float) -> String { String(format: "%.9g", Double(x)) }
        if json {
            // No thread count in the output: runs with different --threads must print the same text.
            struct Output: Encodable { var seed: UInt64, steps: Int, samples: Int, iterations: [Int], sources: [String], actions: [[Float]] }
            print(try StrictJSON.output(Output(seed: seed, steps: steps, samples: config.samples,
                                               iterations: outcomes.map(\.iterations), sources: outcomes.map(\.source.rawValue),
                                               actions: actions)))
        } else {
            for (k, a) in actions.enumerated() {
                print("step \(k): " + a.map(num).joined(separator: " ") + "  (\(outcomes[k].source.rawValue), \(outcomes[k].iterations) it, \(outcomes[k].elapsedNs / 1000) us)")
            }
        }
    }
}
