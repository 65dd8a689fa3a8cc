/// Which family a world model belongs to, and so which trajectory value the planner uses.
///
/// Stored as the weights file's `__metadata__["model_kind"]`; absent means `iqmpc`, so files
/// written before the field existed keep loading.
public enum ModelKind: String, Codable, Sendable, CaseIterable {
    /// Reward-free: encoder, dynamics, π and a scalar Q ensemble; rewards are decoded from Q.
    case iqmpc
    /// TD-MPC2 (single task, state observations): adds a reward head, and the reward and Q
    /// heads output two-hot logits over `num_bins` bins (docs/gpu-training.md).
    case tdmpc2
}
