/// One episode in the docs/algorithm.md §3.1 layout: T+1 rows, row 0 holds obs_0 with NaN action and
/// reward, row j ≥ 1 holds (obs_j, a_{j−1}, r_{j−1}). Observations are already normalised
/// by the calibration and actions are in [-1, 1], i.e. exactly what the model sees.
public struct Episode: Sendable, Equatable, Codable {
    public let obsDim: Int
    public let actDim: Int
    public private(set) var obs: [Float]
    public private(set) var act: [Float]
    /// Ground-truth reward, logging and evaluation only (never a loss input).
    public private(set) var reward: [Float]

    public init(obsDim: Int, actDim: Int, firstObservation: [Float]) {
        precondition(firstObservation.count == obsDim)
        self.obsDim = obsDim
        self.actDim = actDim
        obs = firstObservation
        act = [Float](repeating: .nan, count: actDim)
        reward = [.nan]
    }

    /// Rebuilds a stored episode (checkpoint restore).
    public init(obsDim: Int, actDim: Int, obs: [Float], act: [Float], reward: [Float]) {
        precondition(obs.count == reward.count * obsDim && act.count == reward.count * actDim)
        self.obsDim = obsDim; self.actDim = actDim
        self.obs = obs; self.act = act; self.reward = reward
    }

    /// Appends the row (obs_{j}, a_{j−1}, r_{j−1}).
    public mutating func append(action: [Float], reward r: Float, nextObservation: [Float]) {
        precondition(action.count == actDim && nextObservation.count == obsDim)
        obs += nextObservation
        act += action
        reward.append(r)
    }

    public mutating func append(action: UnsafeBufferPointer<Float>, reward r: Float, nextObservation: UnsafeBufferPointer<Float>) {
        obs.append(contentsOf: nextObservation)
        act.append(contentsOf: action)
        reward.append(r)
    }

    public var rows: Int { reward.count }
    /// Agent steps (transitions).
    public var steps: Int { rows - 1 }
}
