/// Constants of docs/algorithm.md §0 and §4 that one update uses. Defaults are the reference values.
public struct Hyper: Sendable, Equatable, Codable {
    /// Slices drawn from EACH buffer (2B rows per update).
    public var batch = 256
    public var horizon = 3
    public var rho = 0.5
    public var discount = 0.99
    public var entropyCoef = 1e-4
    public var consistencyCoef = 20.0
    public var iqCoef = 0.1
    /// χ² regulariser coefficient is 1 / (4 α_χ).
    public var chiAlpha = 0.5
    public var dropout = 0.01
    public var lr = 3e-4
    public var encoderLrScale = 0.3
    public var gradClip = 20.0
    public var tau = 0.01
    public var policyAdamEps = 1e-5
    public var modelAdamEps = 1e-8
    public var useGradientPenalty = false
    public var gradientPenaltyLambda = 1.0
    /// Weight of the χ² term on uniformly drawn off-data actions (docs/algorithm.md §4.2 step 6b); 0 = off.
    public var offDataWeight = 0.0
    /// Weight of the initial-state value term (1 − γ)·v0 (docs/algorithm.md §4.2 step 6); nil
    /// means 1, the reference. Optional so that checkpoints written before the knob existed
    /// still decode, and compare equal to a run that leaves it alone.
    public var initialValueWeight: Double? = nil
    /// Updates per environment step after the seed phase's burst (docs/algorithm.md §4.4); nil
    /// means 1, the reference. Kept here, with the loss's constants, so that a resume is
    /// checked against it; optional so that older checkpoints still decode.
    public var updatesPerStep: Int? = nil
    /// Weight λ of the behaviour-cloning term added to the policy loss (docs/algorithm.md §4.3,
    /// a departure from the reference); nil means 0, the reference. The term is scaled by the
    /// batch's mean |Q| on the expert rows so that λ is free of the task's value scale.
    public var bcWeight: Double? = nil

    public init() {}

    /// These settings with every optional knob that holds its reference value set back to nil:
    /// the one form a run and its checkpoint compare in, so setting a knob to its default
    /// resumes a checkpoint written before the knob existed.
    public var canonical: Hyper {
        var h = self
        if h.initialValueWeight == 1 { h.initialValueWeight = nil }
        if h.updatesPerStep == 1 { h.updatesPerStep = nil }
        if h.bcWeight == 0 { h.bcWeight = nil }
        return h
    }

    /// docs/algorithm.md §4.5: γ = clip((f − 1)/f, 0.95, 0.995), f = episode_length / 5.
    public static func discount(episodeLength: Int) -> Double {
        let f = Double(episodeLength) / 5
        return min(max((f - 1) / f, 0.95), 0.995)
    }
}

/// One training batch, time-major: obs [(H+1), 2B, D_o], act [H, 2B, A], reward [H, 2B]
/// (reward is for logging only). Rows 0..<B are behavioural, B..<2B expert (docs/algorithm.md §3.4).
public final class Batch<T: TrainScalar>: @unchecked Sendable {
    // Safety: filled and read by the single training thread.
    public let horizon: Int, batch: Int, obsDim: Int, actDim: Int
    public let obs: Tensor<T>, act: Tensor<T>, reward: Tensor<T>

    public init(horizon: Int, batch: Int, obsDim: Int, actDim: Int) {
        self.horizon = horizon; self.batch = batch; self.obsDim = obsDim; self.actDim = actDim
        obs = Tensor((horizon + 1) * 2 * batch * obsDim)
        act = Tensor(horizon * 2 * batch * actDim)
        reward = Tensor(horizon * 2 * batch)
    }
    public var rows: Int { 2 * batch }
}
