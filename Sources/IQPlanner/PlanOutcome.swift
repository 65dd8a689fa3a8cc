/// What one `plan` call did, for the runtime's telemetry and deadline accounting.
public struct PlanOutcome: Sendable, Equatable {
    public enum Source: String, Sendable {
        /// MPPI ran at least one iteration; the action comes from its elites.
        case planner
        /// Not even one iteration fitted before the deadline: the action is tanh(μ) of π(h(obs)).
        case policyPrior
    }

    public var source: Source
    /// MPPI iterations completed (0 for `.policyPrior`).
    public var iterations: Int
    /// Time spent inside `plan`, CLOCK_MONOTONIC.
    public var elapsedNs: UInt64
    /// True when `plan` returned after its deadline.
    public var deadlineMissed: Bool

    public init(source: Source, iterations: Int, elapsedNs: UInt64, deadlineMissed: Bool) {
        self.source = source
        self.iterations = iterations
        self.elapsedNs = elapsedNs
        self.deadlineMissed = deadlineMissed
    }
}
