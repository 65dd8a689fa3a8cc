import ArgumentParser
import Foundation
import IQAnalysis
import IQCalibration
import IQJSON
import IQModel

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
    var logs: [String]
    @Flag(help: "Decode even if the calibration's mapping differs from the one stamped into the weights (differences are printed as warnings; wrong dimensions are always refused).")
    var allowCalibrationMismatch = false
    @Flag(help: "Print one JSON object.") var json = false
    @Option(help: "Also write every transition as CSV (source,episode,t,true_reward,decoded_reward,q,next_value; decoded = q − γ·next_value) to this file, to plot or inspect.")
    var series: String?
    @Option(help: "Also write the JSON object (as --json prints it) to this file.")
    var jsonOut: String?

    func run() throws {
        guard !logs.isEmpty else { throw ValidationError("give at least one --log") }
        let cal = try Calibration.load(path: calibration)
        let (model, metadata) = try WorldModel.load(path: weights)
        for w in try RecoveryInputs.check(model: model, metadata: metadata, calibration: cal, weightsPath: weights,
                                          allowMismatch: allowCalibrationMismatch) {
            FileHandle.standardError.write("warning: \(w)\n".data(using: .utf8)!)
        }
        var sources: [(name: String, episodes: [Episode])] = []
        for path in logs {
            let (header, episodes) = try EpisodeLog.load(path: path)
            try RecoveryInputs.check(log: path, spec: header.spec, calibration: cal)
            sources.append((URL(fileURLWithPath: path).lastPathComponent, episodes))
        }
        let r = RewardRecovery.evaluate(model: model, calibration: cal, sources: sources)
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
