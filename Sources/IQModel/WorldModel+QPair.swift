/// The Q ensemble's two-of-K rule (docs/algorithm.md §1.6): two distinct members drawn uniformly once per
/// call, shared by every row of that call, combined by min or mean.
public enum QReduction: Sendable {
    case min
    case mean
}

extension WorldModel {
    /// Maps one uniform 64-bit draw (from the caller's RNG stream) to an ordered pair of
    /// distinct heads, uniform over all K·(K−1) pairs up to a bias below K/2⁶⁴.
    public static func headPair(draw: UInt64, numQ k: Int) -> (Int, Int) {
        let n = UInt64(k)
        let first = Int(draw % n)
        let step = Int((draw / n) % (n - 1)) + 1
        return (first, (first + step) % k)
    }

    /// `out[r] = min or mean of Q_a(z_r, a_r), Q_b(z_r, a_r)`. Bit-identical to two `q(head:)`
    /// calls combined by the caller. `sharedZ` as for `q`.
    public func qPair(heads: (Int, Int), reduce: QReduction, z: UnsafePointer<Float>,
                      actions: UnsafePointer<Float>, rows: Int, into out: UnsafeMutablePointer<Float>,
                      workspace ws: ForwardWorkspace, sharedZ: Bool = false) {
        q(head: heads.0, z: z, actions: actions, rows: rows, into: out, workspace: ws, sharedZ: sharedZ)
        q(head: heads.1, z: z, actions: actions, rows: rows, into: ws.qScratch, workspace: ws, sharedZ: sharedZ)
        Self.combine(reduce, out, ws.qScratch, rows)
    }
}
