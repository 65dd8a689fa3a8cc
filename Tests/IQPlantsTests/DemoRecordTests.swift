import Foundation
import IQLink
import Testing
@testable import IQPlants

@Suite(.serialized) struct DemoRecordTests {
    func tempFile(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("iqplants-\(getpid())-\(name)").path
    }

    /// Demonstrations round-trip: the header carries the task's spec, every episode has
    /// T+1 observations and T actions, and rewards re-add to the recorded returns.
    @Test func demonstrationsRoundTrip() throws {
        let path = tempFile("demo.iqlog")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let s = try DemoRecorder.record(task: .reacher, expert: .analytic, episodes: 2, seed: 40, path: path)
        let (header, episodes) = try RecordSummary.read(path: path)
        #expect(header.spec == TaskKernels.info(.reacher).plantSpec)
        #expect(header.seed == 40)
        #expect(header.annotations["expert"] == "operational-space")
        #expect(episodes.count == 2)
        for (i, e) in episodes.enumerated() {
            #expect(e.observations == 501 && e.actions == 500 && e.rewardCount == 500 && e.terminated)
            #expect(abs(e.rewardSum - s.episodeReturns[i]) < 1e-2)
        }
        // Actions are physical and within the actuator limits; the replayed actions
        // reproduce the recorded observations exactly (the simulator is deterministic).
        let reader = try RecordReader(path: path)
        let plant = try Plant(task: .reacher)
        plant.reset(seed: 40)
        var obs = [Float](repeating: 0, count: 8)
        var checked = 0
        while let step = try reader.next(), step.observation.episode == 1 {
            plant.observe(into: &obs)
            #expect(obs == step.observation.values)
            guard var a = step.action?.values else { break }
            #expect(a.allSatisfy { abs($0) <= 0.05 })
            plant.step(physical: &a)
            checked += 1
        }
        #expect(checked == 500)
    }

    /// An independent reader (Python protobuf with protoc-generated code) parses the file
    /// and re-adds the same returns.
    @Test func pythonReadsDemonstrations() throws {
        let python = "/usr/bin/python3", protoc = "/usr/bin/protoc"
        guard FileManager.default.isExecutableFile(atPath: python), FileManager.default.isExecutableFile(atPath: protoc) else {
            Issue.record("needs /usr/bin/python3 and protoc (Scripts/install-deps.sh)")
            return
        }
        let dir = tempFile("py")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/demo.iqlog"
        let s = try DemoRecorder.record(task: .pendulumSwingup, expert: .analytic, episodes: 2, seed: 3, path: path)
        let protoDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Proto").path
        func run(_ exe: String, _ args: [String]) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = args
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            let text = String(decoding: data, as: UTF8.self)
            if p.terminationStatus != 0 { throw PlantError.badArgument("\(exe) failed: \(text)") }
            return text
        }
        _ = try run(protoc, ["-I", protoDir, "--python_out=\(dir)", protoDir + "/iqmpc.proto"])
        let script = """
        import sys
        sys.path.insert(0, sys.argv[1])
        import iqmpc_pb2
        from google.protobuf.internal.decoder import _DecodeVarint32
        data = open(sys.argv[2], 'rb').read()
        pos, recs = 0, []
        while pos < len(data):
            n, pos = _DecodeVarint32(data, pos)
            r = iqmpc_pb2.Record(); r.ParseFromString(data[pos:pos + n]); pos += n
            recs.append(r)
        h = recs[0].header
        assert h.spec.robot_id == 'pendulum-swingup' and h.spec.obs_dim == 3 and h.spec.act_dim == 1
        returns = []
        for r in recs[1:]:
            o = r.step.observation
            if o.episode_start: returns.append(0.0)
            if o.reward_present: returns[-1] += o.reward
        print(' '.join('%.4f' % x for x in returns))
        """
        let out = try run(python, ["-c", script, dir, path]).split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(out.count == 2)
        for (a, b) in zip(out, s.episodeReturns) { #expect(abs(a - b) < 1e-2) }

        // And the other way: Python writes a two-episode demonstration file (the same
        // records re-serialised, rewards doubled so the content is its own), Swift reads it.
        let writeScript = """
        import sys
        sys.path.insert(0, sys.argv[1])
        import iqmpc_pb2
        from google.protobuf.internal.decoder import _DecodeVarint32
        from google.protobuf.internal.encoder import _VarintBytes
        data = open(sys.argv[2], 'rb').read()
        pos, out = 0, bytearray()
        while pos < len(data):
            n, pos = _DecodeVarint32(data, pos)
            r = iqmpc_pb2.Record(); r.ParseFromString(data[pos:pos + n]); pos += n
            if r.HasField('header'):
                r.header.source = 'python'
            elif r.step.observation.reward_present:
                r.step.observation.reward *= 2
            b = r.SerializeToString()
            out += _VarintBytes(len(b)) + b
        open(sys.argv[3], 'wb').write(bytes(out))
        """
        let pyPath = dir + "/python.iqlog"
        _ = try run(python, ["-c", writeScript, dir, path, pyPath])
        let (h, episodes) = try RecordSummary.read(path: pyPath)
        #expect(h.source == "python")
        #expect(h.spec == TaskKernels.info(.pendulumSwingup).plantSpec)
        #expect(episodes.count == 2)
        for (e, r) in zip(episodes, s.episodeReturns) {
            #expect(e.observations == 501 && e.actions == 500)
            #expect(abs(e.rewardSum - 2 * r) < 2e-2)
        }
    }
}
