import Foundation
import IQKernels
import IQModel

/// Loop position and settings saved beside the tensors.
public struct LoopPosition: Codable, Sendable, Equatable {
    public var envStep = 0
    public var episodeIndex = 0
    public var nextEval = 0
    public var evalIndex = 0
    public var updates = 0
    public init() {}
}

/// Exact-resume checkpoint: "IQMPCCK1", u64 JSON length, JSON header, then raw little-endian
/// Float32 θ, target Q, Adam m, Adam v, then each online episode (u64 rows, obs, act, reward).
/// The expert buffer is not stored: its source (demo path and fingerprint) is, and is re-read.
public struct CheckpointHeader: Codable, Sendable {
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
    public var episodes: Int
    public var thetaCount: Int
    public var targetCount: Int
}

public enum Checkpoint {
    static let magic = Array("IQMPCCK1".utf8)

    public static func write(path: String, header: CheckpointHeader, state: TrainState<Float>, online: ReplayBuffer) throws {
        var data = Data(magic)
        let json = try JSONEncoder().encode(header)
        var len = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &len) { data.append(contentsOf: $0) }
        data.append(json)
        func put(_ p: UnsafePointer<Float>, _ n: Int) { data.append(UnsafeBufferPointer(start: p, count: n)) }
        put(state.theta.p, state.theta.count)
        put(state.target.p, state.target.count)
        put(state.adamM.p, state.adamM.count)
        put(state.adamV.p, state.adamV.count)
        for e in online.episodes {
            var rows = UInt64(e.rows).littleEndian
            withUnsafeBytes(of: &rows) { data.append(contentsOf: $0) }
            e.obs.withUnsafeBufferPointer { data.append($0) }
            e.act.withUnsafeBufferPointer { data.append($0) }
            e.reward.withUnsafeBufferPointer { data.append($0) }
        }
        let tmp = path + ".tmp"
        do {
            try data.write(to: URL(fileURLWithPath: tmp))
            _ = try? FileManager.default.removeItem(atPath: path)
            try FileManager.default.moveItem(atPath: tmp, toPath: path)
        } catch {
            throw TrainError.io("cannot write checkpoint \(path): \(error.localizedDescription)")
        }
    }

    /// Reads the header and restores tensors into `state` and episodes into `online`.
    public static func readHeader(path: String) throws -> (CheckpointHeader, Data, Int) {
        guard let data = FileManager.default.contents(atPath: path) else { throw TrainError.io("cannot read checkpoint \(path)") }
        guard data.count >= 16, Array(data.prefix(8)) == magic else {
            throw TrainError.badInput("\(path) is not an iqmpc checkpoint (bad magic)")
        }
        let len = data.subdata(in: 8..<16).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        guard len < UInt64(data.count - 16) else { throw TrainError.badInput("\(path): truncated header") }
        let header: CheckpointHeader
        do { header = try JSONDecoder().decode(CheckpointHeader.self, from: data.subdata(in: 16..<(16 + Int(len)))) } catch {
            throw TrainError.badInput("\(path): unreadable header: \(error)")
        }
        return (header, data, 16 + Int(len))
    }

    public static func restore(header: CheckpointHeader, data: Data, offset start: Int, state: TrainState<Float>,
                               online: ReplayBuffer) throws {
        guard header.thetaCount == state.theta.count, header.targetCount == state.target.count else {
            throw TrainError.badInput("checkpoint parameter count \(header.thetaCount) does not match the model \(state.theta.count)")
        }
        var off = start
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            func take(_ dst: UnsafeMutablePointer<Float>, _ n: Int) throws {
                guard off + 4 * n <= raw.count else { throw TrainError.badInput("checkpoint truncated at byte \(off)") }
                for i in 0..<n { dst[i] = raw.loadUnaligned(fromByteOffset: off + 4 * i, as: Float.self) }
                off += 4 * n
            }
            try take(state.theta.p, state.theta.count)
            try take(state.target.p, state.target.count)
            try take(state.adamM.p, state.adamM.count)
            try take(state.adamV.p, state.adamV.count)
            for _ in 0..<header.episodes {
                guard off + 8 <= raw.count else { throw TrainError.badInput("checkpoint truncated at byte \(off)") }
                let rows = Int(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: off, as: UInt64.self)))
                off += 8
                guard rows >= 1, rows < 100_000_000 else { throw TrainError.badInput("checkpoint episode with \(rows) rows at byte \(off)") }
                var o = [Float](repeating: 0, count: rows * online.obsDim)
                var a = [Float](repeating: 0, count: rows * online.actDim)
                var r = [Float](repeating: 0, count: rows)
                try o.withUnsafeMutableBufferPointer { try take($0.baseAddress!, $0.count) }
                try a.withUnsafeMutableBufferPointer { try take($0.baseAddress!, $0.count) }
                try r.withUnsafeMutableBufferPointer { try take($0.baseAddress!, $0.count) }
                online.add(Episode(obsDim: online.obsDim, actDim: online.actDim, obs: o, act: a, reward: r))
            }
        }
        state.modelSteps = header.modelSteps
        state.policySteps = header.policySteps
        state.rng = header.rng
    }
}
