import IQCalibration
import IQLink
import IQModel

/// Rewards recovered from the critic on the transitions the deployed controller actually flew:
/// r̂(z, a) = Q(z, a) − γ·V(z'), the quantity IQ-MPC plans with (docs/algorithm.md §2.3), compared against
/// the simulator's ground-truth reward that neither training nor planning ever saw.
///
/// For a deterministic picture this uses the mean over all Q heads and the policy mean action
/// for V (the planner draws random head pairs and sampled actions); the entropy term
/// (α = 1e-4 · log π) is dropped because it is negligible at this scale.
public enum DecodedRewards {
    /// One episode's transitions decoded: r̂ and its two terms, so that an error in r̂ can be
    /// traced to Q(z, a) or to V(z') (docs/reward-recovery.md §10).
    public struct Transitions: Sendable {
        /// r̂ = q − γ · nextValue.
        public var decoded: [Double] = []
        public var truth: [Double] = []
        /// Index of each transition's first step in its episode (steps without an action or a
        /// reward are skipped, so this can jump).
        public var step: [Int] = []
        /// Mean over the Q heads of Q(h(s_t), a_t).
        public var q: [Double] = []
        /// V(h(s_{t+1})): mean over the heads of Q at π's mean action.
        public var nextValue: [Double] = []
    }

    public static func pairs(model: WorldModel, calibration: Calibration,
                             episodes: [Episode]) -> (decoded: [Double], truth: [Double]) {
        let t = transitions(model: model, calibration: calibration, episodes: episodes)
        return (t.decoded, t.truth)
    }

    public static func transitions(model: WorldModel, calibration: Calibration, episodes: [Episode]) -> Transitions {
        let c = model.config
        var out = Transitions()
        // A calibration for other dimensions cannot normalise these observations; callers
        // refuse that up front (RecoveryInputs), this only keeps a direct call from trapping.
        guard calibration.obsDim == c.obsDim, calibration.actDim == c.actDim else { return out }
        // Gather transitions (s_t, a_t, s_{t+1}, r_t) first so the model runs batched.
        var obs: [Float] = [], next: [Float] = [], act: [Float] = []
        for ep in episodes {
            for t in 0..<max(ep.steps.count - 1, 0) {
                guard let a = ep.steps[t].action, let r = ep.reward(after: t),
                      a.values.count == c.actDim,
                      ep.steps[t].observation.values.count == c.obsDim,
                      ep.steps[t + 1].observation.values.count == c.obsDim else { continue }
                obs += calibration.normalise(observation: ep.steps[t].observation.values)
                next += calibration.normalise(observation: ep.steps[t + 1].observation.values)
                act += calibration.normalise(action: a.values).map { min(max($0, -1), 1) }
                out.truth.append(r)
                out.step.append(t)
            }
        }
        (out.decoded, out.q, out.nextValue) = terms(model: model, obs: obs, act: act, next: next)
        return out
    }

    /// One episode's transitions already in the network's units as flat arrays (row i: obs_i,
    /// a_i, obs_{i+1}, r_i; the trainer's `Evaluator.transitions(of:)` gives them from its replay
    /// layout). This is how the critic's own training data is decoded (`reward-recovery
    /// --replay`, docs/reward-recovery.md §15). Transitions without a finite reward are skipped,
    /// like steps without one in a log; `step` is the transition's index in the episode.
    public static func transitions(model: WorldModel, obs: [Float], act: [Float], next: [Float],
                                   truth: [Double]) -> Transitions {
        let c = model.config
        precondition(obs.count == truth.count * c.obsDim && next.count == obs.count && act.count == truth.count * c.actDim,
                     "transition arrays disagree with the model's dimensions")
        var out = Transitions()
        var o: [Float] = [], n: [Float] = [], a: [Float] = []
        for i in truth.indices where truth[i].isFinite {
            o += obs[i * c.obsDim..<(i + 1) * c.obsDim]
            n += next[i * c.obsDim..<(i + 1) * c.obsDim]
            a += act[i * c.actDim..<(i + 1) * c.actDim]
            out.truth.append(truth[i])
            out.step.append(i)
        }
        (out.decoded, out.q, out.nextValue) = terms(model: model, obs: o, act: a, next: n)
        return out
    }

    /// The same decoding on flat arrays of transitions (row i: obs_i, a_i, obs_{i+1}) already in
    /// the network's units; the trainer's evaluation calls this on its buffers. Runs in chunks so
    /// the workspace stays small whatever the number of transitions.
    public static func decode(model: WorldModel, obs: [Float], act: [Float], next: [Float]) -> [Double] {
        terms(model: model, obs: obs, act: act, next: next).decoded
    }

    /// r̂ with its terms Q(z, a) and V(z'), from the same Float arithmetic.
    static func terms(model: WorldModel, obs: [Float], act: [Float], next: [Float])
        -> (decoded: [Double], q: [Double], nextValue: [Double]) {
        let c = model.config
        let rows = obs.count / c.obsDim
        precondition(next.count == obs.count && act.count == rows * c.actDim, "transition arrays disagree")
        guard rows > 0 else { return ([], [], []) }
        var decoded: [Double] = [], qOut: [Double] = [], vOut: [Double] = []
        decoded.reserveCapacity(rows); qOut.reserveCapacity(rows); vOut.reserveCapacity(rows)
        let chunk = 256
        let ws = ForwardWorkspace(model: model, maxRows: chunk)
        var z = [Float](repeating: 0, count: chunk * c.latentDim)
        var zNext = z
        var mean = [Float](repeating: 0, count: chunk * c.actDim)
        var q = [Float](repeating: 0, count: chunk), qSum = q, vSum = q
        let gamma = Float(c.discount)
        var start = 0
        while start < rows {
            let n = min(chunk, rows - start)
            obs.withUnsafeBufferPointer { o in
                model.encode(obs: o.baseAddress! + start * c.obsDim, rows: n, into: &z, workspace: ws)
            }
            next.withUnsafeBufferPointer { o in
                model.encode(obs: o.baseAddress! + start * c.obsDim, rows: n, into: &zNext, workspace: ws)
            }
            model.policy(z: zNext, rows: n, noise: nil, meanOut: &mean, actionOut: nil,
                         logProbOut: nil, logStdOut: nil, workspace: ws)
            for i in 0..<n { qSum[i] = 0; vSum[i] = 0 }
            for head in 0..<c.numQ {
                act.withUnsafeBufferPointer { a in
                    model.q(head: head, z: z, actions: a.baseAddress! + start * c.actDim, rows: n, into: &q, workspace: ws)
                }
                for i in 0..<n { qSum[i] += q[i] }
                model.q(head: head, z: zNext, actions: mean, rows: n, into: &q, workspace: ws)
                for i in 0..<n { vSum[i] += q[i] }
            }
            let k = Float(c.numQ)
            for i in 0..<n {
                decoded.append(Double(qSum[i] / k - gamma * vSum[i] / k))
                qOut.append(Double(qSum[i] / k)); vOut.append(Double(vSum[i] / k))
            }
            start += n
        }
        return (decoded, qOut, vOut)
    }
}
