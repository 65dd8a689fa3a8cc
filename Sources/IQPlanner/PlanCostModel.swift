/// What one plan is expected to cost on this machine right now, and when to measure again.
///
/// The planner only starts work it expects to finish before the deadline: the set-up (the
/// policy-prior trajectories) plus at least one MPPI iteration. The expectation comes from
/// measurements, and it must never become a verdict for good:
/// - a slow measurement raises the estimate at once (the next plan must not over-commit);
///   faster ones lower it by 1/8 per plan;
/// - a plan that falls back measures nothing, so each fallback relaxes the estimate 1/8 of
///   the way towards the fastest cost measured;
/// - that floor comes from a single timed pass at start-up, which may itself have been slowed
///   (another process on the core while the runtime started). So after `probeAfter`
///   consecutive fallbacks the planner **probes**: it plans regardless of the estimate, with
///   the deadline checked inside the iteration (overshoot at most one block, see `Planner`),
///   and takes what it measured as the new estimate. A probe that cannot finish one iteration
///   doubles the wait before the next (up to `maxProbeInterval` fallbacks), so a deadline
///   that is truly too short costs one bounded overshoot per ~1000 frames, not one per frame.
struct PlanCostModel: Sendable, Equatable {
    /// Running estimates (ns): encoder + prior trajectories, and one iteration.
    private(set) var setupNs: UInt64
    private(set) var iterationNs: UInt64
    /// Fastest costs measured: the floor the estimates relax towards while falling back.
    private(set) var fastestSetupNs: UInt64
    private(set) var fastestIterationNs: UInt64
    /// Fallbacks in a row since the last plan that ran an iteration.
    private(set) var consecutiveFallbacks = 0
    /// Fallbacks in a row after which the next plan is a probe.
    private(set) var probeAfter: Int
    static let firstProbeInterval = 16
    static let maxProbeInterval = 1024

    /// Seeded from the start-up pass.
    init(setupNs: UInt64, iterationNs: UInt64) {
        self.setupNs = setupNs
        self.iterationNs = iterationNs
        fastestSetupNs = setupNs
        fastestIterationNs = iterationNs
        probeAfter = Self.firstProbeInterval
    }

    /// Whether the plan should go ahead without consulting the estimate.
    var isProbeDue: Bool { consecutiveFallbacks >= probeAfter }

    /// Set-up plus one iteration, as expected now.
    var firstIterationNs: UInt64 { setupNs &+ iterationNs }

    /// A plan that completed `iterations` (> 0) iterations: its set-up took `setup` and each
    /// iteration `perIteration` on average.
    mutating func measured(setup: UInt64, perIteration: UInt64, probe: Bool) {
        if probe {
            // A fresh measurement after a long fallback spell replaces the stale estimate.
            setupNs = setup
            iterationNs = perIteration
        } else {
            setupNs = Self.ema(setupNs, setup)
            iterationNs = Self.ema(iterationNs, perIteration)
        }
        fastestSetupNs = min(fastestSetupNs, setup)
        fastestIterationNs = min(fastestIterationNs, perIteration)
        consecutiveFallbacks = 0
        probeAfter = Self.firstProbeInterval
    }

    /// A plan answered by the prior. `probe`: it was a probe that could not finish an
    /// iteration before the deadline (back off before the next one).
    mutating func fellBack(probe: Bool) {
        if probe {
            consecutiveFallbacks = 0
            probeAfter = min(probeAfter * 2, Self.maxProbeInterval)
            return
        }
        consecutiveFallbacks += 1
        if setupNs > fastestSetupNs { setupNs -= (setupNs - fastestSetupNs) / 8 }
        if iterationNs > fastestIterationNs { iterationNs -= (iterationNs - fastestIterationNs) / 8 }
    }

    /// Rises at once to a slower measurement, falls back slowly (1/8 per plan).
    static func ema(_ old: UInt64, _ new: UInt64) -> UInt64 {
        new >= old ? new : old - (old - new) / 8
    }
}
