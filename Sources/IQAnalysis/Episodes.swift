import IQLink

/// One recorded episode, as the simulator saw it: observations in physical units, the
/// actions that answered them, and the evaluation reward attached to each following frame.
public struct Episode: Sendable {
    public var steps: [StepRecord]

    /// Ground-truth reward of the transition out of step t, i.e. the reward carried by
    /// frame t + 1 (frame 0 of an episode carries none).
    public func reward(after t: Int) -> Double? {
        guard t + 1 < steps.count, let r = steps[t + 1].observation.reward else { return nil }
        return Double(r)
    }

    /// Sum of the evaluation rewards: the return a dm_control-style task reports.
    public var totalReward: Double {
        steps.reduce(0) { $0 + Double($1.observation.reward ?? 0) }
    }

    /// Frames that were answered (the final frame of an episode is answered too in lockstep,
    /// but its action never reaches the physics).
    public var answered: Int { steps.filter { $0.action != nil }.count }
}

public enum EpisodeLog {
    /// Splits a record file into episodes at `episode_start` frames.
    public static func load(path: String) throws -> (header: RecordHeaderInfo, episodes: [Episode]) {
        let reader = try RecordReader(path: path)
        var episodes: [Episode] = []
        var current: [StepRecord] = []
        while let step = try reader.next() {
            if step.observation.episodeStart, !current.isEmpty {
                episodes.append(Episode(steps: current))
                current = []
            }
            current.append(step)
        }
        if !current.isEmpty { episodes.append(Episode(steps: current)) }
        return (reader.header, episodes)
    }
}

/// Summary statistics used by both the terminal summary and the report.
public struct Stats: Sendable {
    public var count: Int
    public var mean: Double
    public var std: Double
    public var min: Double
    public var max: Double

    public init(_ values: [Double]) {
        count = values.count
        guard !values.isEmpty else { mean = .nan; std = .nan; min = .nan; max = .nan; return }
        mean = values.reduce(0, +) / Double(values.count)
        let m = mean
        std = (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(values.count)).squareRoot()
        min = values.min()!
        max = values.max()!
    }

    /// Nearest-rank percentile of an unsorted sample.
    public static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
        return sorted[Swift.min(Swift.max(rank, 0), sorted.count - 1)]
    }

    public static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        let n = Swift.min(x.count, y.count)
        guard n > 1 else { return .nan }
        let mx = x.prefix(n).reduce(0, +) / Double(n), my = y.prefix(n).reduce(0, +) / Double(n)
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for i in 0..<n {
            let dx = x[i] - mx, dy = y[i] - my
            sxy += dx * dy; sxx += dx * dx; syy += dy * dy
        }
        return sxx > 0 && syy > 0 ? sxy / (sxx * syy).squareRoot() : .nan
    }
}
