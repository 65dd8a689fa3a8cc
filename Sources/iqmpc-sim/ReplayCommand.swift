import ArgumentParser
import Foundation
import IQLink
import IQPlants

/// `iqmpc-sim replay`: reads a record file back and prints what it holds.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Print a record file's header and per-episode summary (steps, return).")

    @Option(name: .customLong("in"), help: "Record file (.iqlog).") var input: String
    @Flag(help: "Also print every step.") var steps = false

    func run() throws {
        let (h, episodes) = try RecordSummary.read(path: input)
        print("format \(h.formatVersion), source \"\(h.source)\", seed \(h.seed)")
        print("spec: \(h.spec)")
        print("  observations: \(h.spec.observations.map { "\($0.name) [\($0.unit)]" }.joined(separator: ", "))")
        print("  actions: \(h.spec.actions.map { "\($0.name) [\($0.unit)] \($0.low)..\($0.high)" }.joined(separator: ", "))")
        for (k, v) in h.annotations.sorted(by: { $0.key < $1.key }) { print("  \(k): \(v)") }
        if steps {
            let reader = try RecordReader(path: input)
            while let s = try reader.next() {
                let o = s.observation
                let a = s.action.map { " action \($0.values)" } ?? ""
                print("seq \(o.seq) ep \(o.episode)\(o.episodeStart ? " start" : "")\(o.terminal ? " terminal" : "") obs \(o.values) reward \(o.reward.map { "\($0)" } ?? "-")\(a)")
            }
        }
        for (i, e) in episodes.enumerated() {
            print(String(format: "episode %d (plant episode %u): %d observations, %d actions, return %.2f%@",
                         i, e.episode, e.observations, e.actions, e.rewardSum, e.terminated ? "" : " (no terminal frame)"))
        }
        if !episodes.isEmpty {
            let mean = episodes.map(\.rewardSum).reduce(0, +) / Double(episodes.count)
            print(String(format: "%d episodes, mean return %.2f", episodes.count, mean))
        }
    }
}
