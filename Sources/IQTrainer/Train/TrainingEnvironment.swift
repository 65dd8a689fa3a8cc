/// What the training loop needs from a simulator: episodes of physical observations and
/// actions, plus the ground-truth reward that only evaluation and logging read. The real
/// implementation speaks the wire protocol (`WireEnvironment`); the loop does not care
/// whether the plant runs in this process or elsewhere.
public protocol TrainingEnvironment: AnyObject {
    var obsDim: Int { get }
    var actDim: Int { get }
    /// Agent steps per episode (sets γ and the seed phase, docs/algorithm.md §4.4-§4.5).
    var episodeLength: Int { get }
    /// Starts an episode with `seed`; writes the first observation (physical units).
    func reset(seed: UInt64, observation: UnsafeMutableBufferPointer<Float>) throws
    /// Applies a physical action; writes the next observation. `reward` is the simulator's
    /// ground truth (never a training input); `terminal` ends the episode.
    func step(action: UnsafeBufferPointer<Float>, observation: UnsafeMutableBufferPointer<Float>) throws
        -> (reward: Float, terminal: Bool)
    func close()
}
