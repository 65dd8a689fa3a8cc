import IQKernels
import IQModel
import IQPlanner

/// Which dense products one plan runs, with how many rows: the FLOP count behind `gflops` and
/// the GEMM list the benchmark replays through bare sgemm for the machine's own rate.
///
/// The list is the work actually done, not the textbook count: the first layers of the dynamics
/// and Q heads are a latent product (one row at step 0, where z_0 is shared) plus an action
/// product, so the benchmark's efficiency cannot be flattered by work that was skipped.
struct PlannerCost {
    struct Call {
        let rows: Int, inDim: Int, outDim: Int, ldw: Int
        let weight: UnsafePointer<Float>
    }

    /// Products of one plan that completes `iterations` iterations, on the calling thread's view:
    /// encoder, prior and the shared z_0 policy head on 1 row, Nπ policy trajectories, then per
    /// iteration and partition: H dynamics, H policy-head and 2(2H+1) Q-head passes.
    /// `cachedRows[p]`: rows of partition p whose rollout is cached after iteration 0 (policy-prior
    /// trajectories, see `PlanCore.cacheRollout`); empty means none.
    static func calls(model: WorldModel, config: PlannerConfig, partitionRows: [Int], iterations: Int,
                      cachedRows: [Int] = []) -> [Call] {
        let layout = model.layout
        let L = model.config.latentDim, A = model.config.actDim
        func w(_ l: LayerSpec) -> UnsafePointer<Float> { model.tensor(named: l.prefix + ".weight")!.baseAddress! }
        var out: [Call] = []
        func add(_ layers: some Sequence<LayerSpec>, rows: Int, times: Int = 1) {
            guard rows > 0 else { return }
            for _ in 0..<times {
                for l in layers { out.append(Call(rows: rows, inDim: l.inDim, outDim: l.outDim, ldw: l.inDim, weight: w(l))) }
            }
        }
        /// A stack whose first layer reads concat(z, a), in the split form `LatentActionLinear` runs.
        func addSplit(_ network: NetworkSpec, rows: Int, sharedZ: Bool) {
            let first = network.layers[0]
            out.append(Call(rows: sharedZ ? 1 : rows, inDim: L, outDim: first.outDim, ldw: L + A, weight: w(first)))
            out.append(Call(rows: rows, inDim: A, outDim: first.outDim, ldw: L + A, weight: w(first) + L))
            add(network.layers.dropFirst(), rows: rows)
        }
        let H = config.horizon
        add(layout.encoder.layers, rows: 1)
        add(layout.policy.layers, rows: 1, times: 2)
        add(layout.policy.layers, rows: config.policyTrajectories, times: H)
        for _ in 0..<max(0, H - 1) { if config.policyTrajectories > 0 { addSplit(layout.dynamics, rows: config.policyTrajectories, sharedZ: false) } }
        for it in 0..<iterations {
            for (p, rows) in partitionRows.enumerated() where rows > 0 {
                if model.config.kind == .tdmpc2 {
                    // TD-MPC2's value (PlanCore+ScoreTDMPC2): H dynamics and reward passes, then
                    // the policy head and two Q heads at z_H; no rollout cache.
                    for t in 0..<H {
                        addSplit(layout.dynamics, rows: rows, sharedZ: t == 0)
                        addSplit(layout.reward, rows: rows, sharedZ: t == 0)
                    }
                    add(layout.policy.layers, rows: rows)
                    for _ in 0..<2 { addSplit(layout.q[0], rows: rows, sharedZ: false) }
                    continue
                }
                let rolled = it > 0 && p < cachedRows.count ? rows - cachedRows[p] : rows
                for t in 0..<H {
                    if rolled > 0 { addSplit(layout.dynamics, rows: rolled, sharedZ: t == 0) }
                    for _ in 0..<2 { addSplit(layout.q[0], rows: rows, sharedZ: t == 0) }   // q_t
                    for _ in 0..<2 { addSplit(layout.q[0], rows: rows, sharedZ: false) }    // V_{t+1}
                }
                for _ in 0..<2 { addSplit(layout.q[0], rows: rows, sharedZ: false) }        // terminal
                add(layout.policy.layers, rows: rolled, times: H)
            }
        }
        return out
    }

    static func flops(_ calls: [Call]) -> Double {
        calls.reduce(0) { $0 + 2 * Double($1.rows * $1.inDim * $1.outDim) }
    }
}
