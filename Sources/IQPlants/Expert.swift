import Foundation
import IQKernels

/// Which demonstrator to run.
public enum ExpertKind: String, CaseIterable, Sendable {
    /// The task's analytic controller (swing-up + LQR, operational space); the sampling MPC
    /// for tasks without one (cheetah-run, walker-walk, quadruped-run).
    case analytic
    /// Sampling MPC on the true model and reward (any task).
    case mpc
    /// Uniform random actions in [-1, 1] (the baseline every expert must beat by far).
    case random
}

/// A demonstrator for one task: `act(plant, into:)` writes a normalised action. The enum
/// payloads are concrete final classes, so dispatch is a switch (no existentials).
public final class Expert {
    enum Impl {
        case pendulum(PendulumExpert)
        case cartpole(CartpoleExpert)
        case reacher(ReacherExpert)
        case mpc(SamplingMPC)
        case random
    }

    let impl: Impl
    public let kind: ExpertKind
    public let task: TaskID
    var rng: SeededRandom

    public init(task: TaskID, kind: ExpertKind = .analytic, seed: UInt64 = 0,
                mpc: SamplingMPCConfig? = nil) throws(PlantError) {
        self.task = task
        self.kind = kind
        rng = SeededRandom(seed: seed ^ 0x5241_4E44)
        switch (kind, task) {
        case (.random, _): impl = .random
        case (.analytic, .pendulumSwingup): impl = .pendulum(try PendulumExpert())
        case (.analytic, .cartpoleSwingup): impl = .cartpole(try CartpoleExpert())
        case (.analytic, .reacher): impl = .reacher(try ReacherExpert())
        case (.analytic, .cheetahRun), (.analytic, .walkerWalk), (.analytic, .quadrupedRun), (.mpc, _):
            impl = .mpc(try SamplingMPC(task: task, config: mpc ?? .default(for: task), seed: seed))
        }
    }

    /// Human-readable name for record annotations.
    public var name: String {
        switch impl {
        case .pendulum: return "energy-swingup+lqr"
        case .cartpole: return "energy-swingup+lqr"
        case .reacher: return "operational-space"
        case .mpc(let p): return "sampling-mpc(samples=\(p.config.samples),horizon=\(p.config.horizon))"
        case .random: return "random"
        }
    }

    /// Whether the actions come from a planner (the sampling MPC), as record files annotate them.
    public var plans: Bool {
        if case .mpc = impl { return true }
        return false
    }

    /// Call at every episode start (clears warm starts, reseeds noise).
    public func reset(seed: UInt64) {
        rng = SeededRandom(seed: seed ^ 0x5241_4E44)
        if case .mpc(let p) = impl { p.reset(seed: seed) }
    }

    public func act(_ plant: Plant, into out: UnsafeMutablePointer<Float>) {
        switch impl {
        case .pendulum(let e): e.act(plant, out)
        case .cartpole(let e): e.act(plant, out)
        case .reacher(let e): e.act(plant, out)
        case .mpc(let e): e.act(plant, out)
        case .random:
            for i in 0..<plant.info.actDim { out[i] = Float(rng.uniform(-1, 1)) }
        }
    }
}

/// Runs whole episodes of an expert on a plant (no wire): what `iqmpc-sim eval` and the
/// tests use to measure returns.
public enum EpisodeRunner {
    /// Returns the episode return (sum of per-step rewards) for an episode of `steps`
    /// control steps (default: the task's episode length) started from `seed`.
    public static func run(plant: Plant, expert: Expert, seed: UInt64, steps: Int? = nil,
                           trace: ((Int, Double, UnsafeMutablePointer<Float>) -> Void)? = nil) -> Double {
        plant.reset(seed: seed)
        expert.reset(seed: seed)
        let n = steps ?? plant.info.episodeLength
        let a = UnsafeMutablePointer<Float>.allocate(capacity: plant.info.actDim)
        defer { a.deallocate() }
        var total = 0.0
        for _ in 0..<n {
            expert.act(plant, into: a)
            let r = plant.step(normalized: a)
            total += r
            if let trace {
                let o = UnsafeMutablePointer<Float>.allocate(capacity: plant.info.obsDim)
                plant.observe(into: o)
                trace(plant.stepIndex, r, o)
                o.deallocate()
            }
        }
        return total
    }
}
