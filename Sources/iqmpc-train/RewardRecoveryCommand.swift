import ArgumentParser
import Foundation
import IQAnalysis
import IQCalibration
import IQJSON
import IQModel
import IQTrainer

/// `iqmpc-train reward-recovery`: how well the reward decoded from a trained critic agrees with
/// the simulator's ground truth, over logged episodes of any sources (record files written by
/// `iqmpc-sim record` or `iqmpc-sim serve --record`).
struct RewardRecoveryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reward-recovery",
        abstract: "Correlate decoded rewards (Q - gamma V) with ground-truth rewards over logged episodes.")

    @Option(help: "Trained weights.") var weights: String
    @Option(help: "Calibration the weights were trained with.") var calibration: String
    @Option(name: .customLong("log"), help: "A record file (.iqlog) of episodes; repeat for several sources, e.g. expert, random, deployed.")
    var logs: [String] = []
    @Option(help: "A training checkpoint (checkpoint.safetensors): also decode episodes of its online replay buffer, the data the critic was fitted to (docs/reward-recovery.md §15).")
    var replay: String?
    @Option(help: "Which replay episodes: N (the last N) or A-B (episodes A to B, oldest = 0); repeat for several sources, e.g. early and late in the run (default: the last 5).")
    var replayEpisodes: [String] = []
    @Flag(help: "Decode even if the calibration's mapping differs from the one stamped into the weights (differences are printed as warnings; wrong dimensions are always refused).")
    var allowCalibrationMismatch = false
    @Flag(help: "Print one JSON object.") var json = false
    @Option(help: "Also write every transition as CSV (source,episode,t,true_reward,decoded_reward,q,next_value; decoded = q − γ·next_value) to this file, to plot or inspect.")
    var series: String?
    @Option(help: "Also write the JSON object (as --json prints it) to this file.")
    var jsonOut: String?

    func run() throws {
        guard !logs.isEmpty || replay != nil else { throw ValidationError("give at least one --log or a --replay checkpoint") }
        let cal = try Calibration.load(path: calibration)
        let (model, metadata) = try WorldModel.load(path: weights)
        for w in try RecoveryInputs.check(model: model, metadata: metadata, calibration: cal, weightsPath: weights,
                                          allowMismatch: allowCalibrationMismatch) {
            FileHandle.standardError.write("warning: \(w)\n".data(using: .utf8)!)
        }
        var sources: [(name: String, episodes: [DecodedRewards.Transitions])] = []
        for path in logs {
            let (header, episodes) = try EpisodeLog.load(path: path)
            try RecoveryInputs.check(log: path, spec: header.spec, calibration: cal)
            sources.append((URL(fileURLWithPath: path).lastPathComponent,
                            episodes.map { DecodedRewards.transitions(model: model, calibration: cal, episodes: [$0]) }))
        }
        if let replay { sources += try replaySources(path: replay, model: model, calibration: cal) }
        let r = RewardRecovery.evaluate(decoded: sources)
        if let series {
            var csv = "source,episode,t,true_reward,decoded_reward,q,next_value\n"
            for e in r.series {
                let t = e.transitions
                for i in 0..<t.truth.count {
                    csv += "\(e.source),\(e.episode),\(t.step[i]),\(t.truth[i]),\(t.decoded[i]),\(t.q[i]),\(t.nextValue[i])\n"
                }
            }
            try csv.write(toFile: series, atomically: true, encoding: .utf8)
        }
        try report(r)
    }

    /// The checkpoint's replay episodes chosen by each `--replay-episodes`, decoded, one source
    /// each. The buffer is in the network's units under the run's calibration, so that
    /// calibration must be this one.
    func replaySources(path: String, model: WorldModel, calibration cal: Calibration) throws
        -> [(name: String, episodes: [DecodedRewards.Transitions])] {
        let contents = try Checkpoint.read(path: path)
        let h = contents.header
        guard h.config.obsDim == model.config.obsDim, h.config.actDim == model.config.actDim else {
            throw ValidationError("checkpoint \(path) holds \(h.config.obsDim)-value observations and \(h.config.actDim)-value actions, the weights take \(model.config.obsDim) and \(model.config.actDim)")
        }
        guard h.calibrationHash == cal.mappingHash else {
            throw ValidationError("checkpoint \(path) was trained with another calibration mapping (hash \(h.calibrationHash), --calibration's \(cal.mappingHash)): its buffer is in that calibration's units")
        }
        let episodes = contents.replayEpisodes
        return try (replayEpisodes.isEmpty ? ["5"] : replayEpisodes).map { text in
            let range = try Self.episodeRange(text, count: episodes.count)
            let decoded = episodes[range].map {
                let t = Evaluator.transitions(of: $0)
                return DecodedRewards.transitions(model: model, obs: t.obs, act: t.act, next: t.next, truth: t.reward)
            }
            return ("replay[\(range.lowerBound)-\(range.upperBound - 1)]", decoded)
        }
    }

    /// "N": the last N of `count` episodes; "A-B": episodes A through B.
    static func episodeRange(_ text: String, count: Int) throws -> Range<Int> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        let range: Range<Int>
        switch parts.count {
        case 1 where parts[0] != nil && parts[0]! >= 1:
            range = max(count - parts[0]!, 0)..<count
        case 2 where parts[0] != nil && parts[1] != nil && parts[0]! <= parts[1]!:
            range = parts[0]!..<(parts[1]! + 1)
        default:
            throw ValidationError("--replay-episodes \(text): give N (the last N episodes) or A-B (first and last index, A ≤ B)")
        }
        guard range.lowerBound >= 0, range.upperBound <= count, !range.isEmpty else {
            throw ValidationError("--replay-episodes \(text): the checkpoint holds \(count) online episodes (0-\(count - 1))")
        }
        return range
    }

    func report(_ r: RewardRecovery.Result) throws {
        func f(_ x: Double) -> String { x.isFinite ? String(format: "%.4f", x) : "undefined" }
        typealias F = StrictJSON.Figure
        struct Source: Encodable { var name: String, episodes: Int, meanTrueReturn: F, meanDecodedReturn: F }
        struct Output: Encodable {
            var stepCorrelation: F, withinEpisodeCorrelation: F, withinEpisodeCount: Int, constantRewardEpisodes: Int
            var sourceOnlyCorrelation: F, episodeCorrelation: F, transitions: Int, sources: [Source]
        }
        let object = try StrictJSON.output(Output(
            stepCorrelation: F(r.stepCorrelation), withinEpisodeCorrelation: F(r.withinEpisodeCorrelation),
            withinEpisodeCount: r.withinEpisodeCount, constantRewardEpisodes: r.constantRewardEpisodes,
            sourceOnlyCorrelation: F(r.sourceOnlyCorrelation), episodeCorrelation: F(r.episodeCorrelation),
            transitions: r.transitions,
            sources: r.sources.map { Source(name: $0.name, episodes: $0.episodes, meanTrueReturn: F($0.meanTrueReturn),
                                            meanDecodedReturn: F($0.meanDecodedReturn)) }))
        if let jsonOut { try (object + "\n").write(toFile: jsonOut, atomically: true, encoding: .utf8) }
        if json {
            print(object)
        } else {
            for s in r.sources {
                print(String(format: "%-32@ %3d episodes  true return %8.1f  decoded return %9.2f", s.name, s.episodes, s.meanTrueReturn, s.meanDecodedReturn))
            }
            print("Pearson, decoded vs true reward: per step \(f(r.stepCorrelation)) (\(r.transitions) transitions), per episode \(f(r.episodeCorrelation))")
            print("Pearson along each episode's time axis, mean: \(f(r.withinEpisodeCorrelation)) (\(r.withinEpisodeCount) episodes, \(r.constantRewardEpisodes) with constant true reward left out)")
            print("Reference without a model: true reward vs its source's mean, per step \(f(r.sourceOnlyCorrelation)) (the best a reward that only knows the source can do)")
        }
    }
}
