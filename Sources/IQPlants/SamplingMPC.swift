import CMuJoCo
import Foundation
import IQKernels

/// Settings of the sampling MPC expert. Cost per control step ≈ samples × horizon ×
/// actionRepeat MuJoCo steps (plus one copy of the state per sample).
public struct SamplingMPCConfig: Sendable, Equatable {
    /// Rollouts per control step (the first is the unperturbed warm start).
    public var samples: Int
    /// Rollout length in control steps.
    public var horizon: Int
    /// Noise knots across the horizon (perturbations are linearly interpolated between them).
    public var knots: Int
    /// Perturbation standard deviation in normalised action units.
    public var noise: Double
    /// MPPI temperature relative to the spread of returns (smaller = greedier).
    public var temperature: Double

    public init(samples: Int, horizon: Int, knots: Int, noise: Double, temperature: Double) {
        self.samples = samples; self.horizon = horizon; self.knots = knots
        self.noise = noise; self.temperature = temperature
    }

    /// Sized so that recording 10 episodes of 500 steps takes a few minutes on one core.
    public static func `default`(for task: TaskID) -> SamplingMPCConfig {
        switch task {
        case .cheetahRun: return SamplingMPCConfig(samples: 128, horizon: 25, knots: 4, noise: 0.8, temperature: 0.05)
        case .walkerWalk: return SamplingMPCConfig(samples: 128, horizon: 25, knots: 4, noise: 0.5, temperature: 0.1)
        case .quadrupedRun: return SamplingMPCConfig(samples: 128, horizon: 20, knots: 4, noise: 0.8, temperature: 0.05)
        case .reacher: return SamplingMPCConfig(samples: 32, horizon: 20, knots: 3, noise: 0.4, temperature: 0.1)
        case .pendulumSwingup, .cartpoleSwingup:
            return SamplingMPCConfig(samples: 64, horizon: 60, knots: 6, noise: 0.6, temperature: 0.1)
        }
    }
}

/// Sampling-based MPC (MPPI with warm start) that plans with the true MuJoCo model and the
/// task's true reward: each control step it copies the plant's state into pre-allocated
/// scratch data, rolls out perturbed copies of its nominal action sequence, and averages
/// them weighted by exp(return / λ). Allocation-free after init; deterministic per seed.
public final class SamplingMPC {
    public let config: SamplingMPCConfig
    let task: TaskID
    let world: MuJoCoWorld
    let state: StateBuffer
    let nu: Int
    let actionRepeat: Int
    var rng: SeededRandom
    let nominal: UnsafeMutablePointer<Double>      // horizon x nu
    let candidates: UnsafeMutablePointer<Double>   // samples x horizon x nu
    let knotNoise: UnsafeMutablePointer<Double>    // knots x nu
    let returns: UnsafeMutablePointer<Double>      // samples
    let ctrl32: UnsafeMutablePointer<Float>

    public init(task: TaskID, config: SamplingMPCConfig, seed: UInt64) throws(PlantError) {
        guard config.samples >= 2, config.horizon >= 1, config.knots >= 2, config.noise > 0, config.temperature > 0 else {
            throw .badArgument("MPC config needs samples >= 2, horizon >= 1, knots >= 2, noise > 0, temperature > 0")
        }
        self.task = task
        self.config = config
        world = try MuJoCoWorld(xml: TaskKernels.xml(task), name: "\(task.rawValue)-mpc")
        state = StateBuffer(world: world)
        nu = world.nu
        actionRepeat = TaskKernels.info(task).actionRepeat
        rng = SeededRandom(seed: seed ^ 0x4D50_4331)
        nominal = .allocate(capacity: config.horizon * nu)
        nominal.initialize(repeating: 0, count: config.horizon * nu)
        candidates = .allocate(capacity: config.samples * config.horizon * nu)
        knotNoise = .allocate(capacity: config.knots * nu)
        returns = .allocate(capacity: config.samples)
        ctrl32 = .allocate(capacity: nu)
    }

    deinit {
        state.free(); nominal.deallocate(); candidates.deallocate()
        knotNoise.deallocate(); returns.deallocate(); ctrl32.deallocate()
    }

    /// Clears the warm start (call at episode start).
    public func reset(seed: UInt64) {
        nominal.update(repeating: 0, count: config.horizon * nu)
        rng = SeededRandom(seed: seed ^ 0x4D50_4331)
    }

    public func act(_ plant: Plant, _ out: UnsafeMutablePointer<Float>) {
        let h = config.horizon, n = config.samples, k = config.knots
        let m = world.model, d = world.data
        let ctx = plant.context
        state.save(from: plant.data)
        var best = -Double.infinity
        for s in 0..<n {
            let cand = candidates + s * h * nu
            if s == 0 {
                cand.update(from: nominal, count: h * nu)
            } else {
                for i in 0..<(k * nu) { knotNoise[i] = config.noise * rng.normal() }
                for t in 0..<h {
                    let pos = Double(t) * Double(k - 1) / Double(max(h - 1, 1))
                    let k0 = min(Int(pos), k - 2), f = pos - Double(k0)
                    for j in 0..<nu {
                        let e = (1 - f) * knotNoise[k0 * nu + j] + f * knotNoise[(k0 + 1) * nu + j]
                        cand[t * nu + j] = min(max(nominal[t * nu + j] + e, -1), 1)
                    }
                }
            }
            state.restore(into: d)
            var total = 0.0
            for t in 0..<h {
                for j in 0..<nu { d.pointee.ctrl[j] = cand[t * nu + j] }
                TaskKernels.advance(task, m, d, repeat: actionRepeat)
                total += TaskKernels.reward(task, d, ctx)
            }
            returns[s] = total.isFinite ? total : -Double.infinity
            best = max(best, returns[s])
        }
        var mean = 0.0, finite = 0
        for s in 0..<n where returns[s].isFinite { mean += returns[s]; finite += 1 }
        mean /= Double(max(finite, 1))
        let lambda = config.temperature * max(best - mean, 1e-9)
        var wsum = 0.0
        for s in 0..<n {
            let w = returns[s].isFinite ? exp((returns[s] - best) / lambda) : 0
            returns[s] = w
            wsum += w
        }
        nominal.update(repeating: 0, count: h * nu)
        for s in 0..<n where returns[s] > 0 {
            let w = returns[s] / wsum, cand = candidates + s * h * nu
            for i in 0..<(h * nu) { nominal[i] += w * cand[i] }
        }
        for j in 0..<nu { out[j] = Float(nominal[j]) }
        // Shift the plan one step for the next call's warm start (last step held).
        (nominal).update(from: nominal + nu, count: (h - 1) * nu)
    }
}
