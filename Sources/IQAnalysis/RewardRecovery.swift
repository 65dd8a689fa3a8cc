import IQCalibration
import IQModel

/// Does the reward decoded from the critic rank behaviour the way the true reward does?
///
/// Three Pearson correlations over logged episodes from any sources (expert demonstrations, a
/// random policy, the deployed controller, behaviour cloning), because "how well is the reward
/// recovered" has several honest readings and they disagree:
/// - per step: all transitions of all sources pooled, one correlation;
/// - within episode: the correlation along each episode's time axis, averaged over episodes.
///   This is the axis the reference code correlates along (`pearson_correlation` over the time
///   dimension of each sampled sequence); it asks whether the decoded reward rises and falls
///   when the true one does, whatever its offset in that episode;
/// - per episode: decoded return against true return, the ranking question an imitation
///   learner is judged on (shaping terms that blur single steps cancel over an episode).
/// All three are reported; none is tuned. Beside them, a reference that needs no model: the
/// per-step correlation of the true reward with its own per-source mean, i.e. what a reward that
/// knows only which source (expert, BC, random, ...) a step came from could reach at best. An
/// imitation reward scores behaviour, so on a pooled sample it lands near this figure, and the
/// per-step figure mostly measures the sample's mix rather than the critic.
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
        /// Mean over episodes of the time-axis correlation; episodes whose true reward is
        /// constant (no variance to correlate with) are left out and counted.
        public var withinEpisodeCorrelation: Double
        public var withinEpisodeCount: Int
        /// Pearson of each step's true reward with its source's mean true reward.
        public var sourceOnlyCorrelation: Double
        public var constantRewardEpisodes: Int
        public var transitions: Int
        /// Every decoded episode, in source order (for plots and CSV export).
        public var series: [EpisodeSeries]
    }

    public struct EpisodeSeries: Sendable {
        public var source: String
        public var episode: Int
        /// r̂, the true reward, r̂'s terms and each transition's step in the episode.
        public var transitions: DecodedRewards.Transitions
    }

    public static func evaluate(model: WorldModel, calibration: Calibration,
                                sources: [(name: String, episodes: [Episode])]) -> Result {
        evaluate(decoded: sources.map { source in
            (source.name, source.episodes.map {
                DecodedRewards.transitions(model: model, calibration: calibration, episodes: [$0])
            })
        })
    }

    /// The statistics on episodes already decoded, one `Transitions` per episode; logs and the
    /// trainer's replay buffer (`DecodedRewards.transitions(model:replayObs:…)`) meet here.
    public static func evaluate(decoded sources: [(name: String, episodes: [DecodedRewards.Transitions])]) -> Result {
        var allDecoded: [Double] = [], allTruth: [Double] = []
        var epDecoded: [Double] = [], epTruth: [Double] = []
        var summaries: [Source] = []
        var within: [Double] = [], constant = 0
        var sourceMean: [Double] = []
        var series: [EpisodeSeries] = []
        for (name, episodes) in sources {
            var d = 0.0, t = 0.0, n = 0
            for (index, tr) in episodes.enumerated() {
                let decoded = tr.decoded, truth = tr.truth
                guard !truth.isEmpty else { continue }
                series.append(EpisodeSeries(source: name, episode: index, transitions: tr))
                allDecoded += decoded; allTruth += truth
                let sd = decoded.reduce(0, +), st = truth.reduce(0, +)
                epDecoded.append(sd); epTruth.append(st)
                let r = Stats.pearson(decoded, truth)
                if r.isFinite { within.append(r) } else { constant += 1 }
                d += sd; t += st; n += 1
            }
            let stepsHere = allTruth.count - sourceMean.count
            let meanHere = allTruth.suffix(stepsHere).reduce(0, +) / Double(max(stepsHere, 1))
            sourceMean += [Double](repeating: meanHere, count: stepsHere)
            summaries.append(Source(name: name, episodes: n, meanTrueReturn: n > 0 ? t / Double(n) : .nan,
                                    meanDecodedReturn: n > 0 ? d / Double(n) : .nan))
        }
        return Result(sources: summaries, stepCorrelation: Stats.pearson(allDecoded, allTruth),
                      episodeCorrelation: Stats.pearson(epDecoded, epTruth),
                      withinEpisodeCorrelation: within.isEmpty ? .nan : within.reduce(0, +) / Double(within.count),
                      withinEpisodeCount: within.count,
                      sourceOnlyCorrelation: Stats.pearson(sourceMean, allTruth), constantRewardEpisodes: constant,
                      transitions: allTruth.count, series: series)
    }
}
