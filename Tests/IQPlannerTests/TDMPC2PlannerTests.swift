import CAllocCounter
import IQKernels
import IQModel
import Testing
@testable import IQPlanner
import IQTestSupport

/// Planning with TD-MPC2 models: their own trajectory value, deterministic across thread
/// counts, no allocation per plan.
@Suite struct TDMPC2PlannerTests {
    static func model(act: Int = 2, seed: UInt64 = 7) -> WorldModel {
        var c = try! ModelConfig.preset("tiny", obsDim: 5, actDim: act)
        c.kind = .tdmpc2
        let m = WorldModel.initialised(config: c, seed: seed, nonzeroQ: true)
        // Spread the two-hot logits so rewards and values differ between trajectories.
        var t = m.tensorValues()
        let rng = Philox(seed: seed)
        let outputs = t.keys.sorted().filter { $0.hasSuffix(".2.weight") && ($0.hasPrefix("q.") || $0.hasPrefix("reward.")) }
        for (n, k) in outputs.enumerated() {
            t[k]!.withUnsafeMutableBufferPointer { rng.fillNormal(stream: 3, counter: UInt64(n) * 1_000_000, into: $0.baseAddress!, count: $0.count) }
            for i in t[k]!.indices { t[k]![i] *= 0.3 }
        }
        return try! WorldModel(config: c, tensors: t)
    }

    @Test func bitIdenticalAcrossRunsAndThreadCounts() throws {
        let model = Self.model(act: 3)
        let obs = Fixture.observations(count: 10, dim: 5)
        func actions(threads: Int, seed: UInt64 = 11) throws -> [[UInt32]] {
            let p = try Planner(model: model, config: Fixture.config(samples: 100, elites: 10, policy: 6, threads: threads), seed: seed)
            defer { p.shutdown() }
            #expect(p.core.partitions.count == threads)
            return Fixture.bits(Fixture.run(p, obs, restartAt: 5, trainingNoise: true))
        }
        let reference = try actions(threads: 1)
        #expect(try actions(threads: 1) == reference)
        #expect(try actions(threads: 2) == reference)
        #expect(try actions(threads: 3) == reference)
        #expect(try actions(threads: 1, seed: 12) != reference)
    }

    /// The scores the planner ranked are TD-MPC2's value, recomputed here trajectory by trajectory
    /// from the model's public forward passes: Σ γ^t R(z_t, a_t) + γ^H · mean of the drawn head pair
    /// of Q at (z_H, ã_H).
    @Test func scoresAreTDMPC2Value() throws {
        let model = Self.model()
        let H = 3, N = 40, A = 2, L = model.config.latentDim
        let p = try Planner(model: model, config: Fixture.config(samples: N, elites: 5, policy: 4, iterations: 1, threads: 2, horizon: H), seed: 3)
        defer { p.shutdown() }
        _ = Fixture.run(p, Fixture.observations(count: 1, dim: 5))
        let core = p.core
        let ws = ForwardWorkspace(model: model, maxRows: 1)
        let gamma = Float(model.config.discount)
        let (i, j) = core.pair(2 * H)
        var checked = 0
        for part in core.partitions {
            for row in part.r0..<part.r1 {
                var z = Array(UnsafeBufferPointer(start: core.z0, count: L)), g: Float = 0, disc: Float = 1
                for t in 0..<H {
                    let a = Array(UnsafeBufferPointer(start: core.actions + (t * N + row) * A, count: A))
                    var r: Float = 0
                    model.reward(z: z, actions: a, rows: 1, into: &r, workspace: ws)
                    var next = z
                    model.dynamics(z: z, actions: a, rows: 1, into: &next, workspace: ws)
                    g += disc * r; disc *= gamma; z = next
                }
                let aH = Array(UnsafeBufferPointer(start: part.termAction + (row - part.r0) * A, count: A))
                var qi: Float = 0, qj: Float = 0
                model.q(head: i, z: z, actions: aH, rows: 1, into: &qi, workspace: ws)
                model.q(head: j, z: z, actions: aH, rows: 1, into: &qj, workspace: ws)
                let expected = g + disc * 0.5 * (qi + qj)
                let got = core.values[row]
                #expect(abs(got - expected) <= 1e-4 * max(abs(expected), 1), "row \(row): \(got) vs \(expected)")
                checked += 1
            }
        }
        #expect(checked == N)
        #expect(Set((0..<N).map { core.values[$0] }).count > N / 2, "values differ between trajectories")
    }

    @Test func noAllocationsPerPlan() throws {
        let model = Self.model()
        for threads in [1, 2] {
            var planned = 0
            // Counted from the first plan in the allocation group the planner was built in, which
            // its workers join: one window is exact (see PlannerMechanicsTests).
            let allocations = try Fixture.allocationsWhilePlanning(model: model, threads: threads) { planner, obs, act in
                for i in 0..<500 {
                    obs[i % 5] = Float(i % 7) / 7
                    let o = planner.plan(observation: UnsafeBufferPointer(obs), episodeStart: i % 100 == 0, deadline: .max,
                                         trainingNoise: i & 1 == 0, action: act)
                    if o.source == .planner { planned += 1 }
                }
            }
            #expect(allocations == 0, "threads \(threads)")
            #expect(planned == 500)
        }
    }
}
