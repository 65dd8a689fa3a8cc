/// How a planner splits its rows and how much latent work its Q calls shared: what a
/// benchmark needs to count the multiply-adds of a plan (IQBench's `PlannerBenchmark`).
/// Package access: read-only numbers for the package's own benchmarks, not a deployed API.
package struct PlannerWorkSplit: Sendable, Equatable {
    /// Rows scored by each partition (partition 0 runs on the calling thread).
    package var partitionRows: [Int]
    /// Rows of each partition that are policy-prior trajectories whose rollout is computed
    /// once per plan and reused by later iterations (0 when the rollout is not cached).
    package var cachedPolicyRows: [Int]
    /// Rows × heads, summed over every plan so far, whose latent product two Q calls shared.
    package var sharedLatentRows: Int
    /// Row alignment of partition starts.
    package var rowAlignment: Int
}

extension Planner {
    package var workSplit: PlannerWorkSplit {
        let c = core
        return PlannerWorkSplit(
            partitionRows: c.partitions.map(\.rows),
            cachedPolicyRows: c.partitions.map { c.cacheRollout ? max(0, min($0.r1, c.policyRows) - $0.r0) : 0 },
            sharedLatentRows: c.partitions.reduce(0) { $0 + $1.sharedLatentRows },
            rowAlignment: c.rowAlignment)
    }
}
