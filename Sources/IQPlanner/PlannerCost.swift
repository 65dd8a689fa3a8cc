import IQModel

/// Which dense layers one plan runs, with how many rows: the FLOP count behind `gflops` and
/// the GEMM list the benchmark replays through bare sgemm for the machine's own rate.
struct PlannerCost {
    struct Call { let layer: LayerSpec; let weight: UnsafePointer<Float>; let rows: Int }

    /// Layers of one plan that completes `iterations` iterations, on the calling thread's view:
    /// encoder, prior and the shared z_0 policy head on 1 row, Nπ policy trajectories, then per
    /// iteration and partition: H dynamics, H policy-head and 2(2H+1) Q-head passes.
    static func calls(model: WorldModel, config: PlannerConfig, partitionRows: [Int], iterations: Int) -> [Call] {
        let layout = model.layout
        func w(_ l: LayerSpec) -> UnsafePointer<Float> { model.tensor(named: l.prefix + ".weight")!.baseAddress! }
        var out: [Call] = []
        func add(_ layers: [LayerSpec], rows: Int, times: Int = 1) {
            guard rows > 0 else { return }
            for _ in 0..<times { for l in layers { out.append(Call(layer: l, weight: w(l), rows: rows)) } }
        }
        let H = config.horizon
        add(layout.encoder, rows: 1)
        add(layout.policy, rows: 1, times: 2)
        add(layout.policy, rows: config.policyTrajectories, times: H)
        add(layout.dynamics, rows: config.policyTrajectories, times: H - 1)
        for _ in 0..<iterations {
            for rows in partitionRows {
                add(layout.dynamics, rows: rows, times: H)
                add(layout.policy, rows: rows, times: H)
                add(layout.q[0], rows: rows, times: 2 * (2 * H + 1))
            }
        }
        return out
    }

    static func flops(_ calls: [Call]) -> Double {
        calls.reduce(0) { $0 + 2 * Double($1.rows * $1.layer.inDim * $1.layer.outDim) }
    }
}
