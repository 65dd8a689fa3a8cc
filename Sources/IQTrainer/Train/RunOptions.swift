import IQPlanner

/// Settings of one `iqmpc-train run`.
public struct RunOptions: Sendable {
    public var preset = "tiny"
    public var steps = 100_000
    public var seed: UInt64 = 1
    /// nil: docs/algorithm.md §4.4's max(1000, 5 · episode length).
    public var seedSteps: Int?
    /// Environment steps between evaluations (taken at the next episode boundary).
    public var evalEvery = 10_000
    public var evalEpisodes = 5
    /// End training episodes after this many steps (nil: the simulator's episode length).
    public var episodeSteps: Int?
    public var hyper = Hyper()
    /// Discount γ for training and the written model; nil: docs/algorithm.md §4.5's rule from
    /// the episode length (an override exists for the reward-recovery ablations).
    public var discount: Double?
    public var planner = PlannerConfig()
    /// Threads for the update (split by rows, see `IQUpdater`) and for the acting and
    /// evaluation planners. Results are bit-for-bit reproducible for a given seed and
    /// thread count; a different count changes how sums are ordered, so the bits too.
    public var threads = 1
    /// Rebuild the acting planner from the current weights every this many env steps (and
    /// at every episode start). Not 1: building a `Planner` runs a calibration plan (about
    /// 1.25 plans of work) and starts cold, without the warm start of docs/algorithm.md §2.2 (prev_mean), so
    /// rebuilding at every step nearly doubled the cost of acting and made every training
    /// plan a cold one. Acting with weights at most 25 updates old is the price.
    public var plannerRefresh = 25
    /// Metrics line every this many updates.
    public var logEvery = 50
    public var outPath = "weights.safetensors"
    public var checkpointDir: String?
    public var metricsPath: String?
    public var resume = false
    public var progress = true
    /// Stop (with a checkpoint) once this many env steps are done in this process; for
    /// tests of exact resume. nil: run to `steps`.
    public var stopAfter: Int?

    public init() {}
}

/// What a finished run reports.
public struct RunSummary: Sendable {
    public var envSteps = 0
    public var updates = 0
    public var seconds = 0.0
    public var lastEval: EvalResult?
    public var firstStats: UpdateStats?
    public var lastStats: UpdateStats?
    public var statsHistory: [UpdateStats] = []
}
