import CAllocCounter
import Testing
@testable import IQModel
import IQTestSupport

/// Forward passes must not touch the heap after warm-up (they run inside the control step),
/// and must be bit-reproducible.
struct AllocationFreeForwardTests {
    final class Harness {
        let model: WorldModel
        let ws: ForwardWorkspace
        let rows: Int
        var obs, z, next, actions, noise, mean, act, logStd, logProb, q: [Float]

        init(preset: String, rows: Int) throws {
            let c = preset == "odd" ? ReferenceParityTests.odd : try ModelConfig.preset(preset, obsDim: 17, actDim: 6)
            let D = c.obsDim, A = c.actDim
            model = WorldModel.initialised(config: c, seed: 4, nonzeroQ: true)
            ws = ForwardWorkspace(model: model, maxRows: rows)
            self.rows = rows
            var r = TestRandom(s: 9)
            obs = r.vector(rows * D); actions = r.vector(rows * A); noise = r.normals(rows * A)
            z = [Float](repeating: 0, count: rows * c.latentDim); next = z
            mean = [Float](repeating: 0, count: rows * A); act = mean; logStd = mean
            logProb = [Float](repeating: 0, count: rows); q = logProb
        }

        /// One full step of every forward pass, on raw pointers (as hot-path callers do).
        func step(rows n: Int) {
            obs.withUnsafeBufferPointer { o in
            z.withUnsafeMutableBufferPointer { zb in
            next.withUnsafeMutableBufferPointer { nb in
            actions.withUnsafeBufferPointer { ab in
            noise.withUnsafeBufferPointer { eb in
            mean.withUnsafeMutableBufferPointer { mb in
            act.withUnsafeMutableBufferPointer { actb in
            logStd.withUnsafeMutableBufferPointer { sb in
            logProb.withUnsafeMutableBufferPointer { lb in
            q.withUnsafeMutableBufferPointer { qb in
                model.encode(obs: o.baseAddress!, rows: n, into: zb.baseAddress!, workspace: ws)
                model.policy(z: zb.baseAddress!, rows: n, noise: eb.baseAddress!, meanOut: mb.baseAddress!,
                             actionOut: actb.baseAddress!, logProbOut: lb.baseAddress!,
                             logStdOut: sb.baseAddress!, workspace: ws)
                model.policy(z: zb.baseAddress!, rows: n, noise: nil, meanOut: mb.baseAddress!,
                             actionOut: nil, logProbOut: nil, logStdOut: nil, workspace: ws)
                model.dynamics(z: zb.baseAddress!, actions: ab.baseAddress!, rows: n, into: nb.baseAddress!, workspace: ws)
                for k in 0..<model.config.numQ {
                    model.q(head: k, z: nb.baseAddress!, actions: actb.baseAddress!, rows: n, into: qb.baseAddress!, workspace: ws)
                }
                model.qPair(heads: (0, 1), reduce: .min, z: nb.baseAddress!, actions: actb.baseAddress!, rows: n,
                            into: qb.baseAddress!, workspace: ws)
            }}}}}}}}}}
        }
    }

    @Test(arguments: ["tiny", "small", "paper", "odd"])
    func batchedAndSingleRowForwardsAllocateNothing(preset: String) throws {
        let h = try Harness(preset: preset, rows: 64)
        h.step(rows: 64); h.step(rows: 1)     // warm-up (lazy runtime metadata, BLAS buffers)
        // One window each over a fresh allocation group (this thread only: exact).
        let batched = try heapAllocations { for _ in 0..<3 { h.step(rows: 64) } }
        let single = try heapAllocations { for _ in 0..<3 { h.step(rows: 1) } }
        #expect(batched == 0, "batched forward allocated \(batched) times")
        #expect(single == 0, "single-row forward allocated \(single) times")
    }

    /// Positive control: the same measurement around a step with a planted allocation must
    /// see it, so a zero above is a real zero.
    @Test func plantedAllocationIsSeen() throws {
        let h = try Harness(preset: "tiny", rows: 8)
        h.step(rows: 8)
        let seen = try heapAllocations {
            h.step(rows: 8)
            iq_alloc_probe()
        }
        #expect(seen >= 1)
    }

    @Test func repeatedOutputsAreBitIdentical() throws {
        let h = try Harness(preset: "small", rows: 32)
        h.step(rows: 32)
        let first = (h.z, h.next, h.mean, h.logStd, h.q)
        for _ in 0..<3 { h.step(rows: 1); h.step(rows: 32) }
        #expect(h.z.map(\.bitPattern) == first.0.map(\.bitPattern))
        #expect(h.next.map(\.bitPattern) == first.1.map(\.bitPattern))
        #expect(h.mean.map(\.bitPattern) == first.2.map(\.bitPattern))
        #expect(h.logStd.map(\.bitPattern) == first.3.map(\.bitPattern))
        #expect(h.q.map(\.bitPattern) == first.4.map(\.bitPattern))
        // A fresh model and workspace from the same seed gives the same bits.
        let h2 = try Harness(preset: "small", rows: 32)
        h2.step(rows: 32)
        #expect(h2.q.map(\.bitPattern) == first.4.map(\.bitPattern))
    }
}
