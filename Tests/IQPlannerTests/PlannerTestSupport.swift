import IQKernels
import IQModel
import IQTestSupport
@testable import IQPlanner

/// Shared fixtures: small models and planner configs that keep each test to well under a second.
enum Fixture {
    static func model(obs: Int = 5, act: Int = 2, preset: String = "tiny", seed: UInt64 = 7) -> WorldModel {
        let c = try! ModelConfig.preset(preset, obsDim: obs, actDim: act)
        return WorldModel.initialised(config: c, seed: seed, nonzeroQ: true)
    }

    static func config(samples: Int = 64, elites: Int = 8, policy: Int = 8, iterations: Int = 3,
                       threads: Int = 1, horizon: Int = 3) -> PlannerConfig {
        var c = PlannerConfig()
        c.samples = samples; c.elites = elites; c.policyTrajectories = policy
        c.iterations = iterations; c.threads = threads; c.horizon = horizon
        return c
    }

    /// Builds a small planner (24 samples, 2 iterations, horizon 2, 5 observations, 2 actions)
    /// in a fresh allocation group its workers join, and returns the heap allocations `plans`
    /// makes with it, counted from the first plan on (one exact window, with the counter's
    /// positive control). `plans` gets the planner and observation/action buffers.
    static func allocationsWhilePlanning(model: WorldModel, threads: Int, priorAnchor: Double = 0,
                                         _ plans: (Planner, UnsafeMutableBufferPointer<Float>, UnsafeMutableBufferPointer<Float>) -> Void) throws -> UInt64 {
        let obs = UnsafeMutableBufferPointer<Float>.allocate(capacity: 5)
        let act = UnsafeMutableBufferPointer<Float>.allocate(capacity: 2)
        defer { obs.deallocate(); act.deallocate() }
        obs.initialize(repeating: 0.25)
        var built: Planner?
        defer { built?.shutdown() }
        return try heapAllocations(setUp: {
            var c = config(samples: 24, elites: 4, policy: 4, iterations: 2, threads: threads, horizon: 2)
            c.priorAnchor = priorAnchor
            let p = try Planner(model: model, config: c, seed: 5)
            built = p
            return p
        }) { planner in plans(planner, obs, act) }
    }

    /// A fixed pseudo-random observation sequence (values in [-1, 1]).
    static func observations(count: Int, dim: Int, seed: UInt64 = 99) -> [[Float]] {
        let rng = Philox(seed: seed)
        return (0..<count).map { i in
            (0..<dim).map { d in 2 * rng.uniform(stream: 1, element: UInt64(i * dim + d)) - 1 }
        }
    }

    /// Plans the whole sequence (episode start at step 0 and at `restartAt`), returning actions.
    static func run(_ planner: Planner, _ obs: [[Float]], restartAt: Int? = nil, trainingNoise: Bool = false) -> [[Float]] {
        let A = planner.model.config.actDim
        var out: [[Float]] = []
        for (i, o) in obs.enumerated() {
            var a = [Float](repeating: .nan, count: A)
            let outcome = o.withUnsafeBufferPointer { ob in
                a.withUnsafeMutableBufferPointer { ab in
                    planner.plan(observation: ob, episodeStart: i == 0 || i == restartAt, deadline: .max,
                                 trainingNoise: trainingNoise, action: ab)
                }
            }
            precondition(outcome.source == .planner)
            out.append(a)
        }
        return out
    }

    static func bits(_ a: [[Float]]) -> [[UInt32]] { a.map { $0.map(\.bitPattern) } }
}
