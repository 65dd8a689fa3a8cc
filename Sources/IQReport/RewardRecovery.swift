import IQCalibration
import IQModel

/// Does the reward decoded from the critic rank behaviour the way the true reward does?
///
/// Two Pearson correlations over logged episodes from any sources (expert demonstrations, a
/// random policy, the deployed controller, behaviour cloning): per transition, and per episode
/// (decoded return against true return). The per-episode figure is the reward-recovery question
/// an imitation learner is judged on: a recovered reward is only defined up to shaping terms
/// that cancel over an episode but blur single steps. Both are reported; neither is tuned.
public enum RewardRecovery {
    public struct Source: Sendable {
        public var name: String
        public var episodes: Int
        public var meanTrueReturn: Double
        public var meanDecodedReturn: Double
    }

    public struct Result: Sendable {
        public var sources: [Source]
        public var stepCorrelation: Double
        public var episodeCorrelation: Double
        public var transitions: Int
    }

    public static func evaluate(model: WorldModel, calibration: Calibration,
                                sources: [(name: String, episodes: [Episode])]) -> Result {
        var allDecoded: [Double] = [], allTruth: [Double] = []
        var epDecoded: [Double] = [], epTruth: [Double] = []
        var summaries: [Source] = []
        for (name, episodes) in sources {
            var d = 0.0, t = 0.0, n = 0
            for ep in episodes {
                let (decoded, truth) = DecodedRewards.pairs(model: model, calibration: calibration, episodes: [ep])
                guard !truth.isEmpty else { continue }
                allDecoded += decoded; allTruth += truth
                let sd = decoded.reduce(0, +), st = truth.reduce(0, +)
                epDecoded.append(sd); epTruth.append(st)
                d += sd; t += st; n += 1
            }
            summaries.append(Source(name: name, episodes: n, meanTrueReturn: n > 0 ? t / Double(n) : .nan,
                                    meanDecodedReturn: n > 0 ? d / Double(n) : .nan))
        }
        return Result(sources: summaries, stepCorrelation: Stats.pearson(allDecoded, allTruth),
                      episodeCorrelation: Stats.pearson(epDecoded, epTruth), transitions: allTruth.count)
    }
}
