import Foundation
import IQJSON
import IQKernels
import IQModel
import IQWeightsFile

/// Loop position and settings saved beside the tensors.
public struct LoopPosition: Codable, Sendable, Equatable {
    public var envStep = 0
    public var episodeIndex = 0
    public var nextEval = 0
    public var evalIndex = 0
    public var updates = 0
    public init() {}
}

/// Everything of a checkpoint that is not a tensor: the run's identity (so a resume with other
/// demonstrations, calibration or model is refused), the step counters, the generator's whole
/// state and the loop position. Stored as strict JSON in the safetensors metadata.
public struct CheckpointHeader: Codable, Sendable, Equatable {
    public var config: ModelConfig
    public var hyper: Hyper
    public var modelSteps: Int
    public var policySteps: Int
    public var rng: SeededRandom
    public var position: LoopPosition
    public var runSeed: UInt64
    public var demosPath: String
    public var demosFingerprint: String
    public var calibrationHash: String
    /// Rows of each online episode, oldest first: the replay tensors are their concatenation.
    public var episodeRows: [Int]
}

/// Exact-resume checkpoint as a safetensors file (the same container as the weights, so any
/// safetensors reader can open it): F32 tensors `theta`, `target_q`, `adam.m`, `adam.v`, and
/// the online replay buffer as `replay.obs` [rows, obs_dim], `replay.act` [rows, act_dim],
/// `replay.reward` [rows]; the rest (`CheckpointHeader`) in the metadata. Floats are stored
/// bit for bit, so a resumed run continues exactly where the interrupted one stopped.
/// The expert buffer is not stored: its source (demo path and fingerprint) is, and is re-read.
public enum Checkpoint {
    public static let formatKey = "iqmpc.checkpoint.format"
    public static let headerKey = "iqmpc.checkpoint.header"
    /// Bumped on any incompatible change; 1 was the pre-safetensors "IQMPCCK1" file.
    public static let formatVersion = "2"
    static let oldMagic = Array("IQMPCCK1".utf8)

    /// A checkpoint read and checked for internal consistency, not yet applied to a run.
    public struct Contents {
        public var header: CheckpointHeader
        var tensors: [String: (shape: [Int], values: [Float])]

        /// The online replay buffer's episodes, oldest first, in the network's units (what the
        /// run trained on; `reward-recovery --replay` decodes them).
        public var replayEpisodes: [Episode] {
            let (obsDim, actDim) = (header.config.obsDim, header.config.actDim)
            let obs = tensors["replay.obs"]!.values, act = tensors["replay.act"]!.values
            let reward = tensors["replay.reward"]!.values
            var row = 0
            return header.episodeRows.map { n in
                defer { row += n }
                return Episode(obsDim: obsDim, actDim: actDim,
                               obs: Array(obs[row * obsDim..<(row + n) * obsDim]),
                               act: Array(act[row * actDim..<(row + n) * actDim]),
                               reward: Array(reward[row..<(row + n)]))
            }
        }
    }

    public static func write(path: String, header: CheckpointHeader, state: TrainState<Float>, online: ReplayBuffer) throws {
        precondition(header.episodeRows == online.episodes.map(\.rows), "header.episodeRows must describe the buffer")
        var obs: [Float] = [], act: [Float] = [], reward: [Float] = []
        obs.reserveCapacity(online.rows * online.obsDim)
        act.reserveCapacity(online.rows * online.actDim)
        reward.reserveCapacity(online.rows)
        for e in online.episodes { obs += e.obs; act += e.act; reward += e.reward }
        let json: String
        do { json = try StrictJSON.encode(header) } catch {
            throw TrainError.io("cannot write checkpoint \(path): \(error)")
        }
        let rows = online.rows
        let bytes = obs.withUnsafeBufferPointer { o in act.withUnsafeBufferPointer { a in reward.withUnsafeBufferPointer { r in
            SafeTensors.encode(metadata: [formatKey: formatVersion, headerKey: json], tensors: [
                ("theta", [state.theta.count], UnsafeBufferPointer(start: state.theta.p, count: state.theta.count)),
                ("target_q", [state.target.count], UnsafeBufferPointer(start: state.target.p, count: state.target.count)),
                ("adam.m", [state.adamM.count], UnsafeBufferPointer(start: state.adamM.p, count: state.adamM.count)),
                ("adam.v", [state.adamV.count], UnsafeBufferPointer(start: state.adamV.p, count: state.adamV.count)),
                ("replay.obs", [rows, online.obsDim], o),
                ("replay.act", [rows, online.actDim], a),
                ("replay.reward", [rows], r),
            ])
        } } }
        // Written beside the old one and renamed over it: an interrupted write never leaves
        // a half checkpoint under the real name.
        let tmp = path + ".tmp"
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: tmp))
            if rename(tmp, path) != 0 { throw TrainError.io("rename \(tmp) -> \(path): errno \(errno)") }
        } catch {
            throw TrainError.io("cannot write checkpoint \(path): \(error)")
        }
    }

    /// Reads `path` and checks that it is a complete checkpoint of this format whose tensors
    /// agree with its header. Refuses, with the reason, an old-format, truncated or corrupt file.
    public static func read(path: String) throws -> Contents {
        if let h = FileHandle(forReadingAtPath: path) {
            let first = (try? h.read(upToCount: 8)) ?? nil
            try? h.close()
            if let first, Array(first) == oldMagic {
                throw TrainError.badInput("\(path) is a checkpoint in the old IQMPCCK1 format, which this version cannot resume (checkpoints are safetensors files now): start the run again without --resume")
            }
        }
        let file: SafeTensors.Contents
        do { file = try SafeTensors.read(path: path) } catch {
            throw TrainError.badInput("\(path) is not a readable checkpoint: \(error)")
        }
        func bad(_ problem: String) -> TrainError { .badInput("checkpoint \(path): \(problem)") }
        guard let version = file.metadata[formatKey], let json = file.metadata[headerKey] else {
            throw bad("a safetensors file without \(formatKey) and \(headerKey) metadata, so not a training checkpoint (a weights file?)")
        }
        guard version == formatVersion else { throw bad("format \(version), this version reads format \(formatVersion)") }
        let header: CheckpointHeader
        do { header = try StrictJSON.decode(CheckpointHeader.self, from: json) } catch {
            throw bad("unreadable header: \(error)")
        }
        let names: Set = ["theta", "target_q", "adam.m", "adam.v", "replay.obs", "replay.act", "replay.reward"]
        guard Set(file.tensors.keys) == names else {
            throw bad("tensors \(file.tensors.keys.sorted()), expected \(names.sorted())")
        }
        let theta = file.tensors["theta"]!.values.count
        for name in ["adam.m", "adam.v"] where file.tensors[name]!.values.count != theta {
            throw bad("\(name) has \(file.tensors[name]!.values.count) values, theta \(theta)")
        }
        guard header.episodeRows.allSatisfy({ $0 >= 1 }) else { throw bad("an episode with no rows in \(header.episodeRows)") }
        let rows = header.episodeRows.reduce(0, +)
        let (obsDim, actDim) = (header.config.obsDim, header.config.actDim)
        for (name, shape) in [("replay.obs", [rows, obsDim]), ("replay.act", [rows, actDim]), ("replay.reward", [rows])]
        where file.tensors[name]!.shape != shape {
            throw bad("\(name) has shape \(file.tensors[name]!.shape), the header's episodes and model need \(shape)")
        }
        try checkValues(header, file.tensors, bad)
        return Contents(header: header, tensors: file.tensors)
    }

    /// Counters a run can only have counted up from 0, and tensors a healthy run only holds
    /// as finite numbers: a doctored or corrupted value would otherwise resume silently (a
    /// negative step count "finishes" at once; one NaN in the optimiser state makes every
    /// later update NaN). `replay.reward` may hold NaN (an episode's first row, or a simulator
    /// that sends no reward), never ±inf; `replay.act` NaN only in an episode's first row. The run's own limits (`--steps`) are checked by `TrainingRun`.
    static func checkValues(_ h: CheckpointHeader, _ tensors: [String: (shape: [Int], values: [Float])],
                            _ bad: (String) -> TrainError) throws {
        let p = h.position
        let counters = [("modelSteps", h.modelSteps), ("policySteps", h.policySteps),
                        ("position.envStep", p.envStep), ("position.episodeIndex", p.episodeIndex),
                        ("position.nextEval", p.nextEval), ("position.evalIndex", p.evalIndex),
                        ("position.updates", p.updates)]
        for (name, v) in counters where v < 0 { throw bad("\(name) is \(v), a counter cannot be negative") }
        for name in ["theta", "target_q", "adam.m", "adam.v", "replay.obs"] {
            if let i = tensors[name]!.values.firstIndex(where: { !$0.isFinite }) {
                throw bad("tensor \(name) holds \(tensors[name]!.values[i]) at index \(i): every value must be finite")
            }
        }
        // An episode's first row has no action yet (NaN placeholders); every later one must.
        let act = tensors["replay.act"]!.values, actDim = h.config.actDim
        var row = 0
        for n in h.episodeRows {
            for i in (row + 1) * actDim..<(row + n) * actDim where !act[i].isFinite {
                throw bad("tensor replay.act holds \(act[i]) at row \(i / actDim): every action taken must be finite")
            }
            row += n
        }
        if let i = tensors["adam.v"]!.values.firstIndex(where: { $0 < 0 }) {
            throw bad("tensor adam.v holds \(tensors["adam.v"]!.values[i]) at index \(i): a second moment cannot be negative")
        }
        if let i = tensors["replay.reward"]!.values.firstIndex(where: { $0.isInfinite }) {
            throw bad("tensor replay.reward holds \(tensors["replay.reward"]!.values[i]) at index \(i)")
        }
    }

    /// Copies the tensors into `state` and the episodes into `online`, after checking they
    /// fit this run's model and buffer (nothing is changed when they do not).
    public static func restore(_ c: Contents, state: TrainState<Float>, online: ReplayBuffer) throws {
        func bad(_ problem: String) -> TrainError { .badInput("checkpoint does not fit this run: \(problem)") }
        let sizes = [("theta", state.theta.count), ("target_q", state.target.count),
                     ("adam.m", state.adamM.count), ("adam.v", state.adamV.count)]
        for (name, n) in sizes where c.tensors[name]!.values.count != n {
            throw bad("\(name) has \(c.tensors[name]!.values.count) values, the model has \(n)")
        }
        guard c.header.config.obsDim == online.obsDim, c.header.config.actDim == online.actDim else {
            throw bad("replay dimensions \(c.header.config.obsDim)/\(c.header.config.actDim), the run's \(online.obsDim)/\(online.actDim)")
        }
        guard online.episodes.isEmpty else { throw bad("the online buffer already holds episodes") }
        for (name, t) in [("theta", state.theta), ("target_q", state.target), ("adam.m", state.adamM), ("adam.v", state.adamV)] {
            t.p.update(from: c.tensors[name]!.values, count: t.count)
        }
        for episode in c.replayEpisodes { online.add(episode) }
        state.modelSteps = c.header.modelSteps
        state.policySteps = c.header.policySteps
        state.rng = c.header.rng
    }
}
