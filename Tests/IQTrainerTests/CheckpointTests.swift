import Foundation
import IQCalibration
import IQJSON
import IQKernels
import IQModel
import IQWeightsFile
import IQTestSupport
import Testing
@testable import IQTrainer

/// The training checkpoint as a safetensors file: everything a resume needs comes back bit for
/// bit, and a file that is old-format, truncated, corrupt or from another run is refused with
/// the reason before anything is changed.
struct CheckpointTests {
    struct Fixture {
        let config: ModelConfig
        let state: TrainState<Float>
        let online: ReplayBuffer
        let header: CheckpointHeader
    }

    /// A small state with every tensor, counter and generator word set to something non-trivial.
    static func fixture(obsDim: Int = 3, actDim: Int = 1, preset: String = "tiny") throws -> Fixture {
        let config = try ModelConfig.preset(preset, obsDim: obsDim, actDim: actDim)
        let state = TrainState<Float>(layout: ParamLayout(config), seed: 11)
        var rng = SeededRandom(seed: 5)
        for t in [state.theta, state.target, state.adamM, state.adamV] {
            for i in 0..<t.count { t.p[i] = Float(rng.normal()) }
        }
        for i in 0..<state.adamV.count { state.adamV.p[i] = abs(state.adamV.p[i]) }   // a second moment
        state.adamV.p[0] = .leastNonzeroMagnitude   // subnormals survive bit for bit
        state.adamM.p[0] = -0.0
        state.modelSteps = 1234
        state.policySteps = 1233
        _ = state.rng.normal()   // leaves a spare normal in the generator state
        let online = ReplayBuffer(obsDim: obsDim, actDim: actDim, capacityRows: 1000)
        for rows in [4, 1, 7] {
            var e = Episode(obsDim: obsDim, actDim: actDim, firstObservation: (0..<obsDim).map { _ in Float(rng.normal()) })
            for _ in 1..<rows {
                e.append(action: (0..<actDim).map { _ in Float(rng.uniform()) }, reward: Float(rng.normal()),
                         nextObservation: (0..<obsDim).map { _ in Float(rng.normal()) })
            }
            online.add(e)
        }
        var position = LoopPosition()
        position.envStep = 90; position.episodeIndex = 3; position.nextEval = 100; position.evalIndex = 1; position.updates = 89
        let header = CheckpointHeader(config: config, hyper: Hyper(), modelSteps: state.modelSteps, policySteps: state.policySteps,
                                      rng: state.rng, position: position, runSeed: 7, demosPath: "d.iqlog",
                                      demosFingerprint: "abc", calibrationHash: "def", episodeRows: online.episodes.map(\.rows))
        return Fixture(config: config, state: state, online: online, header: header)
    }

    /// A fixture written to a fresh temporary checkpoint file (the caller removes `path`).
    static func written(_ name: String) throws -> (f: Fixture, path: String) {
        let f = try fixture()
        let path = tempPath(name)
        try Checkpoint.write(path: path, header: f.header, state: f.state, online: f.online)
        return (f, path)
    }

    static func tempPath(_ name: String) -> String {
        NSTemporaryDirectory() + "iqmpc-ckpt-\(UInt64.random(in: 0...UInt64.max))-\(name)"
    }

    static func bits(_ t: Tensor<Float>) -> [UInt32] { (0..<t.count).map { t.p[$0].bitPattern } }

    func problem(_ path: String) -> String? {
        do { _ = try Checkpoint.read(path: path); return nil } catch { return "\(error)" }
    }

    @Test func roundTripRestoresEveryTensorCounterAndGeneratorWord() throws {
        let f = try Self.fixture()
        let path = Self.tempPath("a.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Checkpoint.write(path: path, header: f.header, state: f.state, online: f.online)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))

        // Any safetensors reader opens it: named tensors, the header in the metadata.
        let file = try SafeTensors.read(path: path)
        #expect(file.tensors["replay.obs"]?.shape == [12, 3] && file.tensors["replay.reward"]?.shape == [12])
        #expect(file.metadata[Checkpoint.formatKey] == Checkpoint.formatVersion)

        let c = try Checkpoint.read(path: path)
        #expect(c.header == f.header)
        let state = TrainState<Float>(layout: ParamLayout(f.config), seed: 99)
        let online = ReplayBuffer(obsDim: 3, actDim: 1, capacityRows: 1000)
        try Checkpoint.restore(c, state: state, online: online)
        #expect(Self.bits(state.theta) == Self.bits(f.state.theta))
        #expect(Self.bits(state.target) == Self.bits(f.state.target))
        #expect(Self.bits(state.adamM) == Self.bits(f.state.adamM))
        #expect(Self.bits(state.adamV) == Self.bits(f.state.adamV))
        #expect(state.modelSteps == 1234 && state.policySteps == 1233)
        #expect(state.rng == f.state.rng && state.rng.hasSpare)
        #expect(online.episodes.map(\.rows) == [4, 1, 7])
        for (a, b) in zip(online.episodes, f.online.episodes) {
            #expect(a.obs.map(\.bitPattern) == b.obs.map(\.bitPattern))
            #expect(a.act.map(\.bitPattern) == b.act.map(\.bitPattern))
            #expect(a.reward.map(\.bitPattern) == b.reward.map(\.bitPattern))
        }
        // The generator continues exactly where the saved one stopped.
        var x = state.rng, y = f.state.rng
        #expect((0..<5).map { _ in x.normal() } == (0..<5).map { _ in y.normal() })
    }

    /// `iqmpc-train reward-recovery --replay` decodes the buffer's chosen episodes (an episode
    /// of one row has no transition), and refuses a buffer recorded under another calibration
    /// mapping or an episode range the buffer does not hold, saying why.
    @Test func rewardRecoveryDecodesTheChosenReplayEpisodes() throws {
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let train = URL(fileURLWithPath: exe).deletingLastPathComponent().path + "/iqmpc-train"
        let calPath = repositoryRoot + "/Calibration/pendulum-swingup.yaml"
        let cal = try Calibration.load(path: calPath)
        let f = try Self.fixture()
        let (w, good, foreign) = (Self.tempPath("w.safetensors"), Self.tempPath("good"), Self.tempPath("foreign"))
        defer { for p in [w, good, foreign] { try? FileManager.default.removeItem(atPath: p) } }
        _ = try runProcess(train, ["init", "--obs-dim", "3", "--act-dim", "1", "--preset", "tiny", "--out", w])
        try Checkpoint.write(path: foreign, header: f.header, state: f.state, online: f.online)
        var header = f.header
        header.calibrationHash = cal.mappingHash
        try Checkpoint.write(path: good, header: header, state: f.state, online: f.online)
        func recover(_ ck: String, _ episodes: String...) throws -> [String: Any] {
            let out = try runProcess(train, ["reward-recovery", "--weights", w, "--calibration", calPath, "--replay", ck,
                                             "--json", "--allow-calibration-mismatch"] + episodes.flatMap { ["--replay-episodes", $0] })
            return try #require(JSONSerialization.jsonObject(with: out) as? [String: Any])
        }
        // Rows [4, 1, 7]: 3 + 0 + 6 transitions.
        for (episodes, name, count, transitions) in [("0-2", "replay[0-2]", 2, 9), ("2", "replay[1-2]", 1, 6), ("0-0", "replay[0-0]", 1, 3)] {
            let r = try recover(good, episodes)
            let sources = try #require(r["sources"] as? [[String: Any]])
            #expect(sources.count == 1 && sources[0]["name"] as? String == name && sources[0]["episodes"] as? Int == count)
            #expect(r["transitions"] as? Int == transitions)
        }
        let two = try #require(try recover(good, "0-0", "2")["sources"] as? [[String: Any]])
        #expect(two.compactMap { $0["name"] as? String } == ["replay[0-0]", "replay[1-2]"])
        for (ck, episodes, message) in [(foreign, "1", "trained with another calibration mapping"),
                                        (good, "2-3", "holds 3 online episodes (0-2)"), (good, "0", "give N"),
                                        (good, "2-1", "give N"), (good, "x", "give N")] {
            #expect(throws: (any Error).self, "\(episodes)") { _ = try recover(ck, episodes) }
            do { _ = try recover(ck, episodes) } catch { #expect("\(error)".contains(message), "\(error)") }
        }
    }

    @Test func oldFormatTruncatedCorruptAndForeignFilesAreRefused() throws {
        let f = try Self.fixture()
        let path = Self.tempPath("b.safetensors")
        defer { for p in [path, path + ".old", path + ".cut", path + ".bad", path + ".w", path + ".rows"] { try? FileManager.default.removeItem(atPath: p) } }
        try Checkpoint.write(path: path, header: f.header, state: f.state, online: f.online)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))

        // The pre-safetensors format: named as such.
        try Data(Array("IQMPCCK1".utf8) + [UInt8](repeating: 0, count: 64)).write(to: URL(fileURLWithPath: path + ".old"))
        #expect(problem(path + ".old")?.contains("old IQMPCCK1 format") == true, "\(problem(path + ".old") ?? "accepted")")
        // Truncated anywhere in the data: the tensor offsets run past the end.
        try Data(bytes.dropLast(9)).write(to: URL(fileURLWithPath: path + ".cut"))
        #expect(problem(path + ".cut")?.contains("truncated") == true, "\(problem(path + ".cut") ?? "accepted")")
        // A corrupt header.
        var bad = bytes
        bad[12] = UInt8(ascii: "}")
        try Data(bad).write(to: URL(fileURLWithPath: path + ".bad"))
        #expect(problem(path + ".bad")?.contains("not a readable checkpoint") == true, "\(problem(path + ".bad") ?? "accepted")")
        // A weights file is a safetensors file, not a checkpoint.
        try WorldModel.initialised(config: f.config, seed: 1).write(to: path + ".w")
        #expect(problem(path + ".w")?.contains("not a training checkpoint") == true, "\(problem(path + ".w") ?? "accepted")")
        // A header whose episodes do not add up to the replay tensors.
        var lying = f.header
        lying.episodeRows = [4, 1, 6]
        try Checkpoint.write(path: path + ".rows", header: f.header, state: f.state, online: f.online)
        var doctored = try SafeTensors.read(path: path + ".rows")
        doctored.metadata[Checkpoint.headerKey] = try StrictJSON.encode(lying)
        try Self.rewrite(doctored, to: path + ".rows")
        #expect(problem(path + ".rows")?.contains("replay.obs has shape [12, 3]") == true, "\(problem(path + ".rows") ?? "accepted")")
        #expect(problem(Self.tempPath("missing")) != nil)
    }

    @Test func negativeCountersAndNonFiniteTensorsAreRefusedByName() throws {
        let (f, path) = try Self.written("d.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let good = try SafeTensors.read(path: path)
        #expect(problem(path) == nil)
        func refusal(header edit: (inout CheckpointHeader) -> Void = { _ in },
                     tensor: String? = nil, value: Float = 0) throws -> String {
            var h = f.header
            edit(&h)
            var c = good
            c.metadata[Checkpoint.headerKey] = try StrictJSON.encode(h)
            if let tensor { c.tensors[tensor]!.values[2] = value }
            try Self.rewrite(c, to: path)
            return problem(path) ?? "accepted"
        }
        var s = try refusal(header: { $0.position.envStep = -1 })
        #expect(s.contains("position.envStep is -1"), "\(s)")
        s = try refusal(header: { $0.modelSteps = -1 })
        #expect(s.contains("modelSteps is -1"), "\(s)")
        s = try refusal(header: { $0.position.updates = Int.min })
        #expect(s.contains("position.updates"), "\(s)")
        s = try refusal(tensor: "adam.m", value: .nan)
        #expect(s.contains("tensor adam.m holds nan at index 2"), "\(s)")
        s = try refusal(tensor: "theta", value: -.infinity)
        #expect(s.contains("tensor theta holds -inf"), "\(s)")
        s = try refusal(tensor: "replay.act", value: .nan)   // row 2: an action taken
        #expect(s.contains("tensor replay.act holds nan at row 2"), "\(s)")
        s = try refusal(tensor: "replay.obs", value: .nan)
        #expect(s.contains("tensor replay.obs"), "\(s)")
        s = try refusal(tensor: "adam.v", value: -1)
        #expect(s.contains("adam.v") && s.contains("negative"), "\(s)")
        s = try refusal(tensor: "replay.reward", value: .infinity)
        #expect(s.contains("replay.reward"), "\(s)")
        // A simulator that sends no reward leaves NaN rewards: still a valid checkpoint.
        s = try refusal(tensor: "replay.reward", value: .nan)
        #expect(s == "accepted", "\(s)")
    }

    @Test func aCheckpointOfAnotherModelChangesNothing() throws {
        let (f, path) = try Self.written("c.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let c = try Checkpoint.read(path: path)
        let other = try Self.fixture(obsDim: 4, actDim: 2)
        let before = Self.bits(other.state.theta)
        let online = ReplayBuffer(obsDim: 4, actDim: 2, capacityRows: 100)
        do {
            try Checkpoint.restore(c, state: other.state, online: online)
            Issue.record("restored a checkpoint of another model")
        } catch {
            #expect("\(error)".contains("does not fit this run"), "\(error)")
        }
        #expect(Self.bits(other.state.theta) == before && online.episodes.isEmpty)
    }

    static func rewrite(_ c: SafeTensors.Contents, to path: String) throws {
        let names = c.tensors.keys.sorted()
        var out: [UInt8] = []
        func go(_ k: Int, _ acc: [(name: String, shape: [Int], values: UnsafeBufferPointer<Float>)]) {
            if k == names.count { out = SafeTensors.encode(metadata: c.metadata, tensors: acc); return }
            c.tensors[names[k]]!.values.withUnsafeBufferPointer { go(k + 1, acc + [(names[k], c.tensors[names[k]]!.shape, $0)]) }
        }
        go(0, [])
        try Data(out).write(to: URL(fileURLWithPath: path))
    }
}
