import Foundation
import IQLink

/// Records expert demonstrations in the protocol's record format: one header (the task's
/// spec, the expert, the seed) then, per episode, T+1 steps (observation and the physical
/// action applied after it; the last observation of an episode has none). Observations
/// carry the ground-truth reward of the transition that led to them (evaluation only).
/// Timestamps are simulated time in nanoseconds since the first episode started.
public enum DemoRecorder {
    public struct Summary: Sendable {
        public var episodeReturns: [Double] = []
        public var steps = 0
        public var bytes: Int64 = 0
    }

    public static func record(task: TaskID, expert kind: ExpertKind, episodes: Int, seed: UInt64, path: String,
                              mpc: SamplingMPCConfig? = nil,
                              progress: ((Int, Double) -> Void)? = nil) throws -> Summary {
        guard episodes >= 1 else { throw PlantError.badArgument("--episodes must be at least 1") }
        let plant = try Plant(task: task)
        let expert = try Expert(task: task, kind: kind, seed: seed, mpc: mpc)
        let header = RecordHeaderInfo(spec: plant.info.plantSpec, source: "iqmpc-sim record --expert", seed: seed,
                                      annotations: ["expert": expert.name, "expert.kind": kind.rawValue,
                                                    "task": task.rawValue, "episodes": String(episodes),
                                                    "action_repeat": String(plant.info.actionRepeat),
                                                    "episode_seeds": "\(seed)..\(seed &+ UInt64(episodes - 1))"])
        let writer = try RecordWriter(path: path, header: header)
        var summary = Summary()
        let n = plant.info.obsDim, m = plant.info.actDim
        var obs = [Float](repeating: 0, count: n)
        var action = [Float](repeating: 0, count: m), physical = [Float](repeating: 0, count: m)
        var seq: UInt64 = 0, actionSeq: UInt64 = 0, clock: UInt64 = 0
        for e in 0..<episodes {
            let s = seed &+ UInt64(e)
            plant.reset(seed: s)
            expert.reset(seed: s)
            var total = 0.0
            var reward: Float? = nil
            while true {
                plant.observe(into: &obs)
                seq += 1
                let terminal = plant.isTerminal
                let o = ObservationRecord(seq: seq, timestampNs: clock, values: obs, episodeStart: plant.stepIndex == 0,
                                          terminal: terminal, reward: reward, episode: plant.episode)
                if terminal {
                    try writer.write(observation: o, action: nil)
                    break
                }
                expert.act(plant, into: &action)
                action.withUnsafeBufferPointer { a in
                    physical.withUnsafeMutableBufferPointer { plant.physical(fromNormalized: a.baseAddress!, into: $0.baseAddress!) }
                }
                actionSeq += 1
                let source: ActionSource = expert.plans ? .planner : .unspecified
                try writer.write(observation: o, action: ActionRecord(seq: actionSeq, observationSeq: seq, timestampNs: clock,
                                                                      values: physical,
                                                                      diagnostics: PlanDiagnostics(source: source)))
                let r = plant.step(physical: physical)
                total += r
                reward = Float(r)
                clock += plant.info.controlPeriodNs
                summary.steps += 1
            }
            summary.episodeReturns.append(total)
            progress?(e, total)
        }
        try writer.close()
        summary.bytes = writer.bytesWritten
        return summary
    }
}

/// Reads a record file back into per-episode summaries (for `iqmpc-sim replay` and tests).
public enum RecordSummary {
    public struct Episode: Sendable {
        public var episode: UInt32
        public var observations = 0
        public var actions = 0
        /// Sum of the rewards present.
        public var rewardSum = 0.0
        public var rewardCount = 0
        public var terminated = false
    }

    public static func read(path: String) throws -> (header: RecordHeaderInfo, episodes: [Episode]) {
        let reader = try RecordReader(path: path)
        var episodes: [Episode] = []
        while let step = try reader.next() {
            let o = step.observation
            if o.episodeStart || episodes.isEmpty { episodes.append(Episode(episode: o.episode)) }
            let i = episodes.count - 1
            episodes[i].observations += 1
            if step.action != nil { episodes[i].actions += 1 }
            if let r = o.reward { episodes[i].rewardSum += Double(r); episodes[i].rewardCount += 1 }
            if o.terminal { episodes[i].terminated = true }
        }
        return (reader.header, episodes)
    }
}
