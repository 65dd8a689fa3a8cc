import IQCalibration
import IQModel
import IQAnalysis
import IQPlanner

/// One evaluation: returns with planning and with the policy prior alone (ground-truth
/// reward from the simulator, which training never reads), and the Pearson correlation
/// between the model's decoded reward and the ground truth on the planning episodes.
public struct EvalResult: Sendable, Codable {
    public var planReturn = 0.0
    public var priorReturn = 0.0
    public var planScore = Double.nan
    public var priorScore = Double.nan
    public var rewardCorrelation = Double.nan
    /// The same correlation on the expert demonstrations (every stored transition): unlike
    /// the one above it does not depend on what the current policy happens to visit, and
    /// the expert's swing-ups span the whole reward range.
    public var expertRewardCorrelation = Double.nan
    public var episodes = 0
}

public enum Evaluator {
    /// Seeds of evaluation episodes: fixed, disjoint from training seeds, the same at every
    /// evaluation so numbers are comparable across a run.
    public static func seed(_ i: Int) -> UInt64 { 0xE7A1_0000 + UInt64(i) }

    public static func evaluate(model: WorldModel, env: TrainingEnvironment, calibration: Calibration,
                                planner config: PlannerConfig, episodes: Int, maxSteps: Int,
                                expertReturn: Double?, plannerSeed: UInt64, planning: Bool = true) throws -> EvalResult {
        let planner = try Planner(model: model, config: config, seed: plannerSeed)
        defer { planner.shutdown() }
        let n = env.obsDim, m = env.actDim
        var raw = [Float](repeating: 0, count: n), obs = [Float](repeating: 0, count: n)
        var act = [Float](repeating: 0, count: m), phys = [Float](repeating: 0, count: m)
        var result = EvalResult()
        var sObs: [Float] = [], sAct: [Float] = [], sNext: [Float] = [], sRew: [Double] = []
        for mode in (planning ? 0 : 1)..<2 {
            var total = 0.0
            for e in 0..<episodes {
                try raw.withUnsafeMutableBufferPointer { try env.reset(seed: seed(e), observation: $0) }
                obs = calibration.normalise(observation: raw)
                planner.reset()
                for t in 0..<maxSteps {
                    if mode == 0 {
                        _ = obs.withUnsafeBufferPointer { o in act.withUnsafeMutableBufferPointer {
                            planner.plan(observation: o, episodeStart: t == 0, deadline: .max, trainingNoise: false, action: $0)
                        } }
                    } else {
                        obs.withUnsafeBufferPointer { o in act.withUnsafeMutableBufferPointer { planner.policyPrior(observation: o, action: $0) } }
                    }
                    phys = calibration.denormalise(action: act)
                    let (r, terminal) = try phys.withUnsafeBufferPointer { p in
                        try raw.withUnsafeMutableBufferPointer { try env.step(action: p, observation: $0) }
                    }
                    let next = calibration.normalise(observation: raw)
                    if mode == 0 { sObs += obs; sAct += act; sNext += next; sRew.append(Double(r)) }
                    total += Double(r)
                    obs = next
                    if terminal { break }
                }
            }
            if mode == 0 { result.planReturn = total / Double(episodes) } else { result.priorReturn = total / Double(episodes) }
        }
        result.episodes = episodes
        if let e = expertReturn, e != 0 {
            result.planScore = result.planReturn / e
            result.priorScore = result.priorReturn / e
        }
        let decoded = DecodedRewards.decode(model: model, obs: sObs, act: sAct, next: sNext)
        result.rewardCorrelation = Stats.pearson(decoded, sRew)
        return result
    }

    /// Every transition of a buffer in the docs/algorithm.md §3.1 layout as flat arrays: (obs_j, a_j,
    /// obs_{j+1}, r_j), where a_j and r_j are stored on row j+1 (the row they led to).
    public static func transitions(of buffer: ReplayBuffer) -> (obs: [Float], act: [Float], next: [Float], reward: [Double]) {
        var all: (obs: [Float], act: [Float], next: [Float], reward: [Double]) = ([], [], [], [])
        for e in buffer.episodes {
            let t = transitions(of: e)
            all.obs += t.obs; all.act += t.act; all.next += t.next; all.reward += t.reward
        }
        return all
    }

    /// One episode's transitions, as above (`reward-recovery --replay` decodes a checkpoint's
    /// episodes one by one).
    public static func transitions(of e: Episode) -> (obs: [Float], act: [Float], next: [Float], reward: [Double]) {
        let n = e.obsDim, m = e.actDim
        var obs: [Float] = [], act: [Float] = [], next: [Float] = [], reward: [Double] = []
        for j in 0..<max(e.steps, 0) {
            obs += e.obs[(j * n)..<((j + 1) * n)]
            next += e.obs[((j + 1) * n)..<((j + 2) * n)]
            act += e.act[((j + 1) * m)..<((j + 2) * m)]
            reward.append(Double(e.reward[j + 1]))
        }
        return (obs, act, next, reward)
    }

    /// Pearson correlation of the decoded reward with the recorded ground truth over every
    /// transition of `buffer` (NaN when the buffer carries no rewards).
    public static func rewardCorrelation(model: WorldModel, buffer: ReplayBuffer) -> Double {
        let t = transitions(of: buffer)
        guard !t.reward.contains(where: { !$0.isFinite }) else { return .nan }
        return Stats.pearson(DecodedRewards.decode(model: model, obs: t.obs, act: t.act, next: t.next), t.reward)
    }

}
