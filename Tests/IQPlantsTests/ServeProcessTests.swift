import Foundation
import IQLink
import Testing
@testable import IQPlants

/// The `iqmpc-sim serve` executable over TCP loopback: a separate process bound to a port
/// the OS picks, driven through a full lockstep episode by a Swift controller peer.
@Suite(.serialized) struct ServeProcessTests {
    static func simExecutable() -> URL {
        // The test bundle sits in the same build directory as the products.
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("iqmpc-sim").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("iqmpc-sim")
    }

    @Test func serveProcessDrivesAFullEpisodeOverTCP() throws {
        let exe = Self.simExecutable()
        guard FileManager.default.isExecutableFile(atPath: exe.path) else {
            Issue.record("iqmpc-sim not built next to the tests (\(exe.path)); run swift build --build-tests")
            return
        }
        let p = Process()
        p.executableURL = exe
        p.arguments = ["serve", "--task", "pendulum-swingup", "--episodes", "1", "--seed", "9",
                       "--endpoint", "tcp://127.0.0.1:*"]
        let err = Pipe(), out = Pipe()
        p.standardError = err
        p.standardOutput = out
        try p.run()
        defer { if p.isRunning { p.terminate() } }
        // The first stderr line names the resolved endpoint.
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let r = text.range(of: "tcp://127.0.0.1:") else { Issue.record("no endpoint in: \(text)"); return }
        let endpoint = String(text[r.lowerBound...].prefix { !$0.isWhitespace })
        let ctl = try LockstepControllerEndpoint(connect: endpoint)
        defer { ctl.close() }
        guard case .hello? = try ctl.receive(timeoutMs: 10_000) else { Issue.record("no Hello"); return }
        #expect(try ctl.receivedHello().spec.robotId == "pendulum-swingup")
        try ctl.replyHelloAck(.accept(role: .controller, software: "test"))
        var observations = 0, rewardSum = 0.0
        var action: [Float] = [0]
        loop: while let f = try ctl.receive(timeoutMs: 10_000) {
            switch f {
            case .observation(let o):
                observations += 1
                if let r = o.reward { rewardSum += Double(r) }
                action[0] = pendulumTorque(o.values)
                try action.withUnsafeBufferPointer {
                    try ctl.replyAction(seq: o.seq, observationSeq: o.seq, timestampNs: linkMonotonicNs(), values: $0,
                                        diagnostics: PlanDiagnostics(source: .planner))
                }
            case .shutdown:
                try ctl.replyHeartbeat()
                break loop
            default:
                break loop
            }
        }
        p.waitUntilExit()
        let summary = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 0)
        #expect(observations == 501)
        #expect(summary.contains("episodes 1,"), "\(summary)")
        #expect(rewardSum > 200)
    }
}
