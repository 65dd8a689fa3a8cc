import IQKernels
import IQModel

/// Finds the row alignment at which splitting a batch leaves every row's result bit-identical.
///
/// Why: BLAS kernels process rows in register blocks (12 for OpenBLAS's Haswell/Zen sgemm, other
/// values elsewhere) and the tail kernels round differently, so a row's bits depend on its
/// position modulo that block. Partitions that start on multiples of the block give each row
/// the same kernel whatever the thread count. Measured once at planner start-up on this
/// machine's BLAS (dynamics, one Q head, the policy head and TD-MPC2's reward head), rather than assumed.
enum RowAlignment {
    static let candidates = [1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96]

    static func probe(model: WorldModel) -> Int? {
        let c = model.config, L = c.latentDim, A = c.actDim
        let maxRows = 4 * candidates.last! + 5
        let ws = ForwardWorkspace(model: model, maxRows: maxRows)
        let rng = Philox(seed: 0x5EED_A11C)
        var z = [Float](repeating: 0, count: maxRows * L), a = [Float](repeating: 0, count: maxRows * A)
        z.withUnsafeMutableBufferPointer { rng.fillNormal(stream: 1, counter: 0, into: $0.baseAddress!, count: $0.count) }
        a.withUnsafeMutableBufferPointer { rng.fillNormal(stream: 2, counter: 0, into: $0.baseAddress!, count: $0.count) }
        for i in a.indices { a[i] = max(-1, min(1, a[i] / 2)) }
        // Outputs of all three passes for rows [r0, r1), concatenated.
        func outputs(_ r0: Int, _ r1: Int) -> [Float] {
            let n = r1 - r0
            var q = [Float](repeating: 0, count: n), d = [Float](repeating: 0, count: n * L)
            var act = [Float](repeating: 0, count: n * A), lp = [Float](repeating: 0, count: n)
            var rw = [Float](repeating: 0, count: n)
            z.withUnsafeBufferPointer { zp in
                a.withUnsafeBufferPointer { ap in
                    let zr = zp.baseAddress! + r0 * L, ar = ap.baseAddress! + r0 * A
                    q.withUnsafeMutableBufferPointer { model.q(head: 0, z: zr, actions: ar, rows: n, into: $0.baseAddress!, workspace: ws) }
                    d.withUnsafeMutableBufferPointer { model.dynamics(z: zr, actions: ar, rows: n, into: $0.baseAddress!, workspace: ws) }
                    if c.kind == .tdmpc2 {
                        rw.withUnsafeMutableBufferPointer { model.reward(z: zr, actions: ar, rows: n, into: $0.baseAddress!, workspace: ws) }
                    }
                    act.withUnsafeMutableBufferPointer { ab in
                        lp.withUnsafeMutableBufferPointer { lb in
                            model.policy(z: zr, rows: n, noise: ar, meanOut: nil, actionOut: ab.baseAddress!,
                                         logProbOut: lb.baseAddress!, logStdOut: nil, workspace: ws)
                        }
                    }
                }
            }
            return q + d + act + lp + rw
        }
        func rowsOf(_ out: [Float], n: Int) -> [[UInt32]] {
            // Regroup the concatenated outputs per row so split and whole runs compare row-wise.
            var rows = [[UInt32]](repeating: [], count: n)
            var o = 0
            for width in [1, L, A, 1, 1] {
                for r in 0..<n { rows[r] += out[(o + r * width)..<(o + (r + 1) * width)].map(\.bitPattern) }
                o += n * width
            }
            return rows
        }
        for k in candidates {
            let n = 4 * k + 5
            let whole = rowsOf(outputs(0, n), n: n)
            var split: [[UInt32]] = []
            let cuts = [0, k, 2 * k, 3 * k, n]
            for (x, y) in zip(cuts, cuts.dropFirst()) { split += rowsOf(outputs(x, y), n: y - x) }
            if whole == split { return k }
        }
        return nil
    }
}
