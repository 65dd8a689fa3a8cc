import IQKernels
/// A buffer of whole episodes (docs/algorithm.md §3.1-§3.2). Capacity is in rows; when an added episode
/// would exceed it, the oldest episodes are dropped whole (the reference's ring overwrites
/// rows; dropping whole episodes keeps every stored slice valid).
/// Sampling: an episode uniformly among those with at least H+1 rows (with replacement),
/// then a start offset uniformly in [0, rows − (H+1)].
public final class ReplayBuffer: @unchecked Sendable {
    // Safety: used by the single training thread.
    public let obsDim: Int
    public let actDim: Int
    public let capacityRows: Int
    public private(set) var episodes: [Episode] = []
    public private(set) var rows = 0
    /// Episodes ever added (also counts dropped ones).
    public private(set) var added = 0

    public init(obsDim: Int, actDim: Int, capacityRows: Int) {
        self.obsDim = obsDim
        self.actDim = actDim
        self.capacityRows = capacityRows
    }

    public func add(_ e: Episode) {
        precondition(e.obsDim == obsDim && e.actDim == actDim, "episode dimensions do not match the buffer")
        episodes.append(e)
        rows += e.rows
        added += 1
        while rows > capacityRows && episodes.count > 1 {
            rows -= episodes.removeFirst().rows
        }
    }

    public var transitions: Int { episodes.reduce(0) { $0 + $1.steps } }

    /// Number of episodes long enough for a slice of `horizon + 1` rows.
    public func sampleable(horizon: Int) -> Int { episodes.reduce(0) { $0 + ($1.rows >= horizon + 1 ? 1 : 0) } }

    /// Fills batch rows [rowOffset, rowOffset + count) of every time step with `count` slices.
    public func sample<T: TrainScalar>(into b: Batch<T>, rowOffset: Int, count: Int, rng: inout SeededRandom) {
        let H = b.horizon, N2 = b.rows, Do = obsDim, A = actDim
        let eligible = episodes.indices.filter { episodes[$0].rows >= H + 1 }
        precondition(!eligible.isEmpty, "no episode with at least \(H + 1) rows to sample from")
        for i in 0..<count {
            let e = episodes[eligible[rng.below(eligible.count)]]
            let start = rng.below(e.rows - H)
            let row = rowOffset + i
            e.obs.withUnsafeBufferPointer { o in
                for t in 0...H {
                    let dst = b.obs.p + (t * N2 + row) * Do
                    let src = o.baseAddress! + (start + t) * Do
                    for j in 0..<Do { dst[j] = T(src[j]) }
                }
            }
            e.act.withUnsafeBufferPointer { a in
                for t in 0..<H {
                    let dst = b.act.p + (t * N2 + row) * A
                    let src = a.baseAddress! + (start + t + 1) * A
                    for j in 0..<A { dst[j] = T(src[j]) }
                }
            }
            for t in 0..<H { b.reward.p[t * N2 + row] = T(e.reward[start + t + 1]) }
        }
    }

    /// docs/algorithm.md §3.4: rows 0..<B behavioural (from `behavioural`), B..<2B expert (from `expert`).
    public static func sampleMixed<T: TrainScalar>(behavioural: ReplayBuffer, expert: ReplayBuffer, into b: Batch<T>,
                                                  rng: inout SeededRandom) {
        behavioural.sample(into: b, rowOffset: 0, count: b.batch, rng: &rng)
        expert.sample(into: b, rowOffset: b.batch, count: b.batch, rng: &rng)
    }
}
