import IQModel

/// Where `PlanCore.score` writes one trajectory's terms (row r0 of partition 0).
struct ScoreTrace {
    let q: UnsafeMutablePointer<Float>          // [H]    q_t = min of the pair at (z_t, a_t)
    let nextQ: UnsafeMutablePointer<Float>      // [H]    min of the pair at (z_{t+1}, ã')
    let nextLogPi: UnsafeMutablePointer<Float>  // [H]    ℓ' of ã'
    let logPi: UnsafeMutablePointer<Float>      // [H+1]  ℓ_0 … ℓ_H
    let reward: UnsafeMutablePointer<Float>     // [H]    r_t = q_t − γ V_{t+1}
    let terminalQ: UnsafeMutablePointer<Float>  // [1]    mean of the pair at (z_H, ã_H)
    let terminalAction: UnsafeMutablePointer<Float>  // [A]  ã_H
    let anchor: UnsafeMutablePointer<Float>     // [H]    κ/A Σ_d (a_t − tanh μ(z_t))², G loses γ^t times it
}

/// The planner's value of one action sequence, term by term (docs/algorithm.md §2.3), with
/// every policy sample at ε = 0 and one fixed pair of Q heads for every call.
public struct TrajectoryScore: Sendable, Equatable {
    /// G = Σ_t γ^t (r_t − α ℓ_t − anchor_t) + γ^H · terminal; −∞ when not finite (as the planner ranks it).
    public let value: Float
    /// Decoded rewards r_t = q_t − γ V_{t+1}, t = 0..<H.
    public let rewards: [Float]
    /// ℓ_0 … ℓ_H: log-probability of the squashed policy mean at z_t (the entropy terms).
    public let logPi: [Float]
    /// q_t: min of the pair at (z_t, a_t).
    public let q: [Float]
    /// V_{t+1} = min of the pair at (z_{t+1}, ã') − α ℓ', ã' the squashed mean at z_{t+1}.
    public let nextV: [Float]
    /// Mean of the pair at (z_H, ã_H) − α ℓ_H.
    public let terminal: Float
    /// Mean of the pair at (z_H, ã_H) alone.
    public let terminalQ: Float
    public let terminalAction: [Float]
    /// The prior anchor's term per step, κ/A · Σ_d (a_t,d − tanh μ(z_t)_d)² (all 0 when κ = 0).
    public let anchor: [Float]
    public let gamma: Float
    public let alpha: Float
}

/// Scores a given trajectory with the planner's own scoring code (`PlanCore.score`), so the
/// value MPPI ranks can be checked against an independent computation.
///
/// Differences from planning, all to make the value a deterministic function of its inputs:
/// the policy samples (ℓ_t, ã', ã_H, ℓ_H) are at ε = 0, and every Q call uses `heads`
/// instead of a pair drawn per call. Allocates; not for the control loop.
public enum TrajectoryScorer {
    public static func score(model: WorldModel, observation: [Float], actions: [Float],
                             heads: (Int, Int), priorAnchor: Double = 0) throws(PlannerError) -> TrajectoryScore {
        let c = model.config, A = c.actDim
        guard observation.count == c.obsDim else {
            throw .config("observation has \(observation.count) values; the model needs \(c.obsDim) (obs_dim)")
        }
        guard observation.allSatisfy(\.isFinite) else {
            throw .config("observation contains a non-finite value")
        }
        guard !actions.isEmpty && actions.count % A == 0 else {
            throw .config("actions has \(actions.count) values; need H × act_dim (act_dim \(A)) with H >= 1")
        }
        guard actions.allSatisfy({ $0.isFinite && $0 >= -1 && $0 <= 1 }) else {
            throw .config("actions must be finite and in [-1, 1] (the planner clamps its samples there)")
        }
        guard heads.0 != heads.1, (0..<c.numQ).contains(heads.0), (0..<c.numQ).contains(heads.1) else {
            throw .config("heads \(heads.0),\(heads.1): need two distinct heads in 0..<\(c.numQ)")
        }
        if c.kind != .iqmpc {
            throw .model("model_kind \(c.kind.rawValue): this explains IQ-MPC's reward-decoded value; a TD-MPC2 model plans with its own (docs/gpu-training.md)")
        }
        var config = PlannerConfig()
        config.horizon = actions.count / A
        config.samples = 1; config.elites = 1; config.policyTrajectories = 0
        config.iterations = 1; config.threads = 1
        config.priorAnchor = priorAnchor
        try config.validate()
        let H = config.horizon

        let core = PlanCore(model: model, config: config, seed: 0)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: 7 * H + 2 + A)
        buffer.initialize(repeating: 0, count: 7 * H + 2 + A)
        defer { buffer.deallocate() }
        let trace = ScoreTrace(q: buffer, nextQ: buffer + H, nextLogPi: buffer + 2 * H, logPi: buffer + 3 * H,
                               reward: buffer + 4 * H + 1, terminalQ: buffer + 5 * H + 1,
                               terminalAction: buffer + 5 * H + 2, anchor: buffer + 5 * H + 2 + A)
        core.deterministicPolicy = true
        core.trace = trace
        observation.withUnsafeBufferPointer { core.startLatent(observation: $0.baseAddress!) }
        // [H, N = 1, A] is the row-major H × A sequence.
        actions.withUnsafeBufferPointer { core.actions.update(from: $0.baseAddress!, count: H * A) }
        for call in 0..<(2 * H + 1) {
            core.heads[2 * call] = Int32(heads.0)
            core.heads[2 * call + 1] = Int32(heads.1)
        }
        core.iteration = 0
        core.score(partition: 0)

        let gamma = core.gamma, alpha = core.alpha
        func array(_ p: UnsafeMutablePointer<Float>, _ n: Int) -> [Float] { Array(UnsafeBufferPointer(start: p, count: n)) }
        let nextQ = array(trace.nextQ, H), nextLogPi = array(trace.nextLogPi, H)
        let logPi = array(trace.logPi, H + 1)
        return TrajectoryScore(value: core.values[0], rewards: array(trace.reward, H), logPi: logPi,
                               q: array(trace.q, H), nextV: (0..<H).map { nextQ[$0] - alpha * nextLogPi[$0] },
                               terminal: trace.terminalQ[0] - alpha * logPi[H], terminalQ: trace.terminalQ[0],
                               terminalAction: array(trace.terminalAction, A), anchor: array(trace.anchor, H),
                               gamma: gamma, alpha: alpha)
    }
}
