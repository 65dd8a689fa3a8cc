/// Every MPPI knob (docs/algorithm.md §2), with the paper's values as defaults.
///
/// Codable so a runtime configuration or a benchmark can state exactly what it planned with.
public struct PlannerConfig: Codable, Equatable, Sendable {
    /// How the executed action is drawn from the last iteration's elites.
    public enum ActionSelection: String, Codable, Sendable, CaseIterable {
        /// Reference behaviour: one elite drawn with probability equal to its weight.
        case sample
        /// The weighted elite mean (smoother; no draw).
        case mean
    }

    /// Planning horizon H (steps of latent rollout per trajectory).
    public var horizon: Int = 3
    /// Trajectories per iteration N (policy-prior ones included).
    public var samples: Int = 512
    /// Top-k trajectories that set the next mean/std.
    public var elites: Int = 64
    /// Trajectories rolled out with the policy prior once per plan (not resampled per iteration).
    public var policyTrajectories: Int = 24
    /// MPPI iterations (the paper adds 2 when actDim >= 20: use `paper(actDim:)`).
    public var iterations: Int = 6
    /// Multiplier inside exp(temperature · (v − max v)), over the elites only. In the value's
    /// units (a return), so it does not depend on the sample count.
    public var temperature: Double = 0.5
    public var minStd: Double = 0.05
    public var maxStd: Double = 2
    public var actionSelection: ActionSelection = .sample
    /// κ of the prior anchor: each step's value loses κ · mean_d (a_t,d − ā_t,d)², ā_t = tanh μ(z_t)
    /// the policy prior's mean at the trajectory's own latent (docs/algorithm.md §2.3, §6 D17).
    /// The learned critic is unconstrained on actions no data covers and planning finds those
    /// (docs/reward-recovery.md §4); the anchor prices leaving the prior in the decoded reward's
    /// own units (r̂ ∈ [0, 2] at the loss's optimum, so one κ serves every task). 0 = the paper.
    public var priorAnchor: Double = 0
    /// Accepted κ (a NaN or ±∞ is outside it).
    public static let priorAnchorRange: ClosedRange<Double> = 0...1e6
    /// Threads that score trajectories, the calling thread included (1 = no workers).
    public var threads: Int = 1
    /// Pin worker threads to distinct allowed CPUs (ignored where the OS refuses).
    public var pinWorkers: Bool = true
    /// How long an idle worker spins before it sleeps on its semaphore (between plans).
    public var workerSpinMicroseconds: Int = 2000

    public init() {}

    /// The paper's planner for an action dimension: 6 iterations, 8 when actDim >= 20.
    public static func paper(actDim: Int) -> PlannerConfig {
        var c = PlannerConfig()
        if actDim >= 20 { c.iterations += 2 }
        return c
    }

    /// The paper's proportions: 64 elites and 24 policy-prior trajectories of 512 samples.
    public static let eliteFraction = 0.125
    public static let policyFraction = 0.046875

    /// `samples` with elites and policy-prior trajectories at the paper's fractions of it
    /// (docs/algorithm.md §2.1): elites = max(1, round(N/8)), Nπ = round(3N/64). A smaller
    /// sample count keeps the same selection pressure; clamping the counts instead (64 elites
    /// of 64 samples) would make every trajectory an elite and the selection a no-op.
    public mutating func setSamples(_ n: Int) {
        samples = n
        elites = max(1, Int((Double(n) * Self.eliteFraction).rounded()))
        policyTrajectories = Int((Double(n) * Self.policyFraction).rounded())
    }

    /// Checks every knob; the error names the field.
    public func validate() throws(PlannerError) {
        func bad(_ field: String, _ why: String) -> PlannerError { .config("\(field): \(why)") }
        guard horizon >= 1 && horizon <= 64 else { throw bad("horizon", "\(horizon) is outside 1...64") }
        guard samples >= 1 && samples <= 1 << 16 else { throw bad("samples", "\(samples) is outside 1...65536") }
        guard elites >= 1 && elites <= samples else { throw bad("elites", "\(elites) is outside 1...samples (\(samples))") }
        guard policyTrajectories >= 0 && policyTrajectories <= samples else {
            throw bad("policyTrajectories", "\(policyTrajectories) is outside 0...samples (\(samples))")
        }
        guard iterations >= 1 && iterations <= 255 else { throw bad("iterations", "\(iterations) is outside 1...255") }
        guard temperature.isFinite && temperature > 0 else { throw bad("temperature", "\(temperature) must be finite and > 0") }
        guard minStd.isFinite && maxStd.isFinite && minStd > 0 && minStd <= maxStd else {
            throw bad("minStd/maxStd", "need 0 < minStd (\(minStd)) <= maxStd (\(maxStd))")
        }
        guard Self.priorAnchorRange.contains(priorAnchor) else {
            throw bad("priorAnchor", "\(priorAnchor) must be finite and in 0...1e6")
        }
        guard threads >= 1 && threads <= 64 else { throw bad("threads", "\(threads) is outside 1...64") }
        guard threads <= samples else { throw bad("threads", "\(threads) exceeds samples (\(samples))") }
        guard workerSpinMicroseconds >= 0 && workerSpinMicroseconds <= 1_000_000 else {
            throw bad("workerSpinMicroseconds", "\(workerSpinMicroseconds) is outside 0...1000000")
        }
    }
}

public enum PlannerError: Error, Equatable, CustomStringConvertible {
    case config(String)
    case model(String)

    public var description: String {
        switch self {
        case .config(let s): return "planner config: \(s)"
        case .model(let s): return "planner model: \(s)"
        }
    }
}
