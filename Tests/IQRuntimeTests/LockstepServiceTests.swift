import CAllocCounter
import Foundation
import IQCalibration
import IQLink
@testable import IQRuntime
import Testing
import IQTestSupport

/// The runtime served over loopback TCP to the independent Python plant, lockstep mode.
@Suite(.serialized) struct LockstepServiceTests {
    /// ≥ 10 000 frames through the deployed executable (`iqmpc-runtime run --steps`), every
    /// one answered with an action naming it and inside the hard limits, and not one heap
    /// allocation in any step from the first (receive, decode, plan, encode, send included),
    /// counted per thread over the control thread and the planner's workers.
    @Test func tenThousandFramesAnsweredWithoutAllocation() throws {
        let frames = 10_000
        let cal0 = try testCalibration(samples: 8)
        let peer = try PythonPeer(scenario: "lockstep-normal", config: peerConfig(cal0, ["frames": frames, "warmup": 128]), timeoutSeconds: 300)
        let endpoint = try peer.readLine()
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = testCalibrationYAML(samples: 8).replacingOccurrences(of: "tcp://127.0.0.1:1", with: endpoint)
        let files = try writeDeployment(try Calibration.parse(yaml: yaml), yaml: yaml, in: dir)
        let result = try run(try runtimeExecutable(), ["run", "--weights", files.weights, "--calibration", files.calibration,
                                                      "--steps", "\(frames)"])
        let summary = try peer.summary()

        #expect(result.status == 0, "\(result.err)")
        #expect(summary["unanswered"] as? Int == 0, "\(summary)")
        #expect(summary["mismatched"] as? Int == 0, "\(summary)")
        #expect(summary["out_of_limits"] as? Int == 0, "\(summary)")
        let sources = summary["sources"] as? [String: Int] ?? [:]
        #expect((sources["1"] ?? 0) + (sources["2"] ?? 0) == frames, "every frame planned: \(sources)")
        #expect(result.out.contains("\(frames) steps answered"), "\(result.out)")
        #expect(result.out.contains("actions \(frames),"), "\(result.out)")
        // The peer ran the lockstep queue warm-up (Proto/README.md: Heartbeat requests after the
        // HelloAck), so libzmq's one-time growth of the reply queue (near reply 85) and of its
        // command queue (the first reply) happened before the first observation: not one heap
        // allocation in any step, from the first.
        #expect(summary["warmup_answered"] as? Int == 128, "\(summary)")
        let allocLine = result.out.split(separator: "\n").first { $0.hasPrefix("heap allocations in control steps:") } ?? ""
        #expect(allocLine.hasPrefix("heap allocations in control steps: 0 over \(frames) steps"), "\(result.out)")
    }

    /// Every bad input is answered with the safe action flagged with its fault, counted, and
    /// the next good frame is planned as usual.
    @Test func everyBadInputGetsTheFlaggedSafeAction() throws {
        var cal = try testCalibration()
        let peer = try PythonPeer(scenario: "lockstep-bad", config: peerConfig(cal))
        let endpoint = try peer.readLine()
        cal = try cal.overriding { $0.link.observationEndpoint = endpoint }
        let loop = try ControlLoop(setup: try testSetup(cal), logger: quietLogger())
        let runner = LoopRunner(loop)
        let summary = try peer.summary()
        runner.stopAndWait()

        let results = summary["results"] as? [[String: Any]] ?? []
        #expect(results.count == 12, "\(summary)")
        for r in results {
            let name = r["case"] as? String ?? "?"
            let reply = r["reply"] as? [String: Any] ?? [:]
            if r["expected"] as? Int == -1 {
                #expect(reply["kind"] as? String == "action" && [1, 2].contains(reply["source"] as? Int ?? 0),
                        "\(name) must be answered by planning: \(reply)")
            } else if let expected = r["expected"] as? Int {
                #expect(reply["kind"] as? String == "action", "\(name): \(reply)")
                #expect(reply["source"] as? Int == 3, "\(name) must get ACTION_SOURCE_SAFE: \(reply)")
                #expect(reply["fault"] as? Int == expected, "\(name): \(reply)")
                #expect(reply["values"] as? [Double] == [0], "\(name) must get the safe action: \(reply)")
            } else {
                #expect(reply["kind"] as? String == "error", "\(name): \(reply)")
                #expect(reply["code"] as? Int == 4, "\(name) must get ERROR_UNEXPECTED_MESSAGE: \(reply)")
            }
            let next = r["next"] as? [String: Any] ?? [:]
            #expect(next["kind"] as? String == "action", "after \(name): \(next)")
            #expect(next["obs_seq"] as? Int == r["next_seq"] as? Int, "after \(name): \(next)")
            #expect([1, 2].contains(next["source"] as? Int ?? 0), "after \(name) the runtime keeps planning: \(next)")
            #expect(next["fault"] as? Int == 0, "after \(name): \(next)")
        }
        let c = loop.supervisor.counters
        #expect(c.link.malformed == 2 && c.link.oversized == 2 && c.link.wrongDimension == 1 && c.link.nonFinite == 2, "\(c)")
        #expect(c.link.outOfRange == 1 && c.link.stale == 0 && c.link.outOfOrder == 1 && c.link.duplicate == 1, "\(c)")
        #expect(c.unexpectedMessages == 1, "\(c)")
        #expect(c.link.safeActions == 10, "\(c)")
    }

    /// A restarted plant (new process, same endpoint, seq from 1 again) is served again
    /// after its new handshake, and nothing goes unanswered in either session.
    @Test func plantRestartAndReconnect() throws {
        var cal = try testCalibration()
        let first = try PythonPeer(scenario: "lockstep-normal", config: peerConfig(cal, ["frames": 300, "warmup": 128]))
        let endpoint = try first.readLine()
        cal = try cal.overriding { $0.link.observationEndpoint = endpoint }
        let loop = try ControlLoop(setup: try testSetup(cal), logger: quietLogger())
        let runner = LoopRunner(loop)
        let s1 = try first.summary()
        // The restarted plant ends its session with Shutdown: answered with a Heartbeat, and
        // the runtime (exitOnPlantShutdown) stops by itself.
        let second = try PythonPeer(scenario: "lockstep-normal",
                                    config: peerConfig(cal, ["frames": 300, "bind": endpoint, "shutdown": true, "warmup": 128]))
        #expect(try second.readLine() == endpoint)
        let s2 = try second.summary()
        #expect(runner.wait(seconds: 10), "the runtime must stop when the plant shuts down")
        #expect(s2["shutdown_reply"] as? String == "heartbeat", "\(s2)")
        #expect(!loop.sessionActive)

        #expect(s1["unanswered"] as? Int == 0 && s1["mismatched"] as? Int == 0, "\(s1)")
        #expect(s2["unanswered"] as? Int == 0 && s2["mismatched"] as? Int == 0, "\(s2)")
        #expect(loop.supervisor.counters.handshakes == 2)
        #expect(loop.answered == 600)
        #expect(loop.supervisor.counters.frameFaults == 0, "the restarted plant's seq 1 is a new session, not out of order")
        // Both plants ran the queue warm-up: both sessions' steps allocate nothing, from the first
        // step; the handshakes and warm-ups do (log lines, HelloAck, libzmq's queue growth): the
        // window's positive control, attributed outside steps.
        #expect(loop.allocations.inSteps == 0, "\(loop.allocations.summary)")
        #expect(loop.allocations.steps == 600)
        #expect(loop.allocations.outsideSteps > 0)
    }

    /// A CPU hog eats the planning budget on every fourth frame: those frames are answered
    /// by the policy prior, and still none goes unanswered.
    @Test func cpuHogForcesFallbacksWithoutUnansweredFrames() throws {
        let frames = 200
        var cal = try testCalibration(budgetMs: 8)
        let peer = try PythonPeer(scenario: "lockstep-normal", config: peerConfig(cal, ["frames": frames]))
        let endpoint = try peer.readLine()
        cal = try cal.overriding { $0.link.observationEndpoint = endpoint }
        var options = ControlLoop.Options()
        options.maxSteps = UInt64(frames)
        options.cpuHogNs = 9_000_000
        options.cpuHogEvery = 4
        let loop = try ControlLoop(setup: try testSetup(cal), options: options, logger: quietLogger())
        // Real contention as well: two spinning threads for the duration of the run.
        let hogStop = StopSignal()
        for _ in 0..<2 { Thread { while !hogStop.isRequested {} }.start() }
        defer { hogStop.request() }
        let runner = LoopRunner(loop)
        let summary = try peer.summary()
        #expect(runner.wait(seconds: 60))
        hogStop.request()

        #expect(summary["unanswered"] as? Int == 0, "\(summary)")
        #expect(summary["mismatched"] as? Int == 0, "\(summary)")
        let sources = summary["sources"] as? [String: Int] ?? [:]
        #expect((sources["2"] ?? 0) >= frames / 4, "policy-prior answers: \(sources)")
        #expect((sources["1"] ?? 0) + (sources["2"] ?? 0) == frames, "\(sources)")
        #expect(loop.supervisor.counters.link.policyPriorFallbacks >= UInt64(frames / 4))
        #expect(loop.supervisor.counters.link.deadlineMisses >= UInt64(frames / 4))
    }

    /// Every answered step is published on the telemetry socket (PUB) with its timing split,
    /// source and the cumulative counters; a subscriber that is not the runtime reads them.
    @Test func telemetryIsPublishedPerStep() throws {
        var cal = try testCalibration()
        cal = try cal.overriding { $0.link.telemetryEndpoint = "tcp://127.0.0.1:*" }
        let peer = try PythonPeer(scenario: "lockstep-normal", config: peerConfig(cal, ["frames": 400]))
        let endpoint = try peer.readLine()
        cal = try cal.overriding { $0.link.observationEndpoint = endpoint }
        var options = ControlLoop.Options()
        options.maxSteps = 400
        let loop = try ControlLoop(setup: try testSetup(cal), options: options, logger: quietLogger())
        let subscriber = try TelemetrySubscriber(connect: try #require(loop.telemetryEndpoint))
        defer { subscriber.close() }
        Thread.sleep(forTimeInterval: 0.3)   // PUB/SUB: let the subscription reach the publisher
        let runner = LoopRunner(loop)
        var samples: [TelemetrySample] = []
        while samples.count < 400, let s = try subscriber.receive(timeoutMs: 2000) { samples.append(s) }
        _ = try peer.summary()
        #expect(runner.wait(seconds: 30))
        #expect(samples.count >= 300, "a slow subscriber may lose some, not most: \(samples.count)")
        #expect(zip(samples, samples.dropFirst()).allSatisfy { $0.step < $1.step })
        let last = try #require(samples.last)
        #expect(last.counters.framesReceived == last.step && last.counters.actionsSent >= last.step - 1)
        #expect(samples.allSatisfy { [.planner, .policyPrior].contains($0.source) && $0.decodeNs > 0 && $0.encodeNs > 0 })
        #expect(samples.allSatisfy { $0.observationSeq == $0.step })
    }

    /// A plant whose spec does not match the calibration is refused with every mismatch named.
    @Test func mismatchedSpecIsRefused() throws {
        let cal = try testCalibration()
        var hello = HelloMessage(role: .simulator, spec: cal.plantSpec(), software: "t", mode: .lockstep)
        #expect(HandshakeCheck.refusal(for: hello, calibration: cal) == nil)
        hello.spec.observations[2].name = "pole.velocity"
        hello.spec.actions[0].high = 0.5
        hello.spec.controlPeriodNs = 10_000_000
        hello.mode = .freeRunning
        let refusal = try #require(HandshakeCheck.refusal(for: hello, calibration: cal))
        #expect(refusal.code == .specMismatch && refusal.fatal)
        for needle in ["observations[2].name", "exceed the actuator limits", "control_period_ns", "mode:"] {
            #expect(refusal.message.contains(needle), "\(refusal.message)")
        }
        hello.protocolVersion = 99
        #expect(HandshakeCheck.refusal(for: hello, calibration: cal)?.code == .protocolVersion)
    }
}
