import Foundation
import IQCalibration
import IQLink

/// Expert demonstrations from a `.iqlog` record file (as written by `iqmpc-sim record`):
/// per episode, T+1 steps where step j holds obs_j and the physical action applied after it
/// (none on the last), and obs_j carries the reward of the transition into it. Observations
/// go through the calibration's `normalise` and actions through its inverse action mapping,
/// the same arithmetic the runtime uses, so the expert buffer holds what the model sees.
public struct Demonstrations: Sendable {
    public var episodes: [Episode]
    /// Mean ground-truth return per episode (nil when the file carries no rewards).
    public var meanReturn: Double?
    /// FNV-1a 64 of the file bytes: identifies the source of the expert buffer in checkpoints.
    public var fingerprint: String
    public var robotId: String

    /// Steps in the longest demonstration episode: the task's episode length as recorded
    /// (what sets the discount when no other length is given).
    public var episodeLength: Int { episodes.map(\.steps).max() ?? 0 }

    public static func load(path: String, calibration: Calibration, maxEpisodes: Int? = nil) throws -> Demonstrations {
        let reader: RecordReader
        do { reader = try RecordReader(path: path) } catch { throw TrainError.badInput("demonstrations \(path): \(error)") }
        let spec = reader.header.spec
        guard spec.obsDim == calibration.obsDim, spec.actDim == calibration.actDim else {
            throw TrainError.badInput("demonstrations \(path) have obs/act dims \(spec.obsDim)/\(spec.actDim) but the calibration has \(calibration.obsDim)/\(calibration.actDim)")
        }
        var episodes: [Episode] = []
        var returns: [Double] = []
        var current: Episode?
        var pendingAction: [Float]?
        var ret = 0.0, sawReward = false
        func close() {
            if let e = current, e.steps > 0 { episodes.append(e); returns.append(ret) }
            current = nil; pendingAction = nil; ret = 0
        }
        while true {
            let step: StepRecord?
            do { step = try reader.next() } catch { throw TrainError.badInput("demonstrations \(path): \(error)") }
            guard let step else { break }
            let o = step.observation
            // Checked here, at load, so a bad file fails with its place named, not late in
            // training as a misleading weights error.
            let at = "demonstrations \(path): record at byte offset \(reader.lastRecordOffset) (observation seq \(o.seq))"
            if let i = o.values.firstIndex(where: { !$0.isFinite }) {
                throw TrainError.badInput("\(at): observation value [\(i)] is \(o.values[i]) (demonstrations must be finite)")
            }
            if let r = o.reward, !r.isFinite { throw TrainError.badInput("\(at): reward is \(r)") }
            if let a = step.action, let i = a.values.firstIndex(where: { !$0.isFinite }) {
                throw TrainError.badInput("\(at): action value [\(i)] is \(a.values[i]) (demonstrations must be finite)")
            }
            guard o.values.count == spec.obsDim else {
                throw TrainError.badInput("demonstrations \(path): observation seq \(o.seq) has \(o.values.count) values, expected \(spec.obsDim)")
            }
            let norm = calibration.normalise(observation: o.values)
            if o.episodeStart || current == nil {
                close()
                if let m = maxEpisodes, episodes.count >= m { break }
                current = Episode(obsDim: spec.obsDim, actDim: spec.actDim, firstObservation: norm)
            } else if let a = pendingAction {
                let r = o.reward ?? .nan
                if let rr = o.reward { ret += Double(rr); sawReward = true }
                current!.append(action: a, reward: r, nextObservation: norm)
            }
            if let a = step.action {
                guard a.values.count == spec.actDim else {
                    throw TrainError.badInput("demonstrations \(path): action seq \(a.seq) has \(a.values.count) values, expected \(spec.actDim)")
                }
                pendingAction = calibration.normalise(action: a.values)
            } else {
                pendingAction = nil
            }
            if o.terminal { close() }
        }
        close()
        if let m = maxEpisodes, episodes.count > m { episodes = Array(episodes.prefix(m)); returns = Array(returns.prefix(m)) }
        guard !episodes.isEmpty else { throw TrainError.badInput("demonstrations \(path) contain no complete transition") }
        return Demonstrations(episodes: episodes,
                              meanReturn: sawReward ? returns.reduce(0, +) / Double(returns.count) : nil,
                              fingerprint: try fingerprintOf(path: path), robotId: spec.robotId)
    }

    public static func fingerprintOf(path: String) throws -> String {
        guard let d = FileManager.default.contents(atPath: path) else { throw TrainError.io("cannot read \(path)") }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in d { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(h, radix: 16)
    }

    public func buffer(obsDim: Int, actDim: Int) -> ReplayBuffer {
        let b = ReplayBuffer(obsDim: obsDim, actDim: actDim, capacityRows: Int.max)
        for e in episodes { b.add(e) }
        return b
    }
}
