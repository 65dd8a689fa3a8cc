import Foundation
import IQCalibration
import IQLink
@testable import IQRuntime
import Testing

/// The runtime served over loopback TCP to the Python plant, free-running mode.
@Suite(.serialized) struct FreeRunningServiceTests {
    @Test func badInputsWatchdogAndHandshake() throws {
        var cal = try testCalibration(mode: "free-running", watchdogMs: 250)
        let peer = try PythonPeer(scenario: "free-bad", config: peerConfig(cal, ["silence_ms": 1100]))
        let endpoints = try peer.readLine().split(separator: " ").map(String.init)
        cal = try cal.overriding { $0.link.observationEndpoint = endpoints[0]; $0.link.actionEndpoint = endpoints[1] }
        let loop = try ControlLoop(setup: try testSetup(cal), logger: quietLogger())
        let runner = LoopRunner(loop)
        let summary = try peer.summary()
        runner.stopAndWait()
        #expect(summary["error"] == nil, "\(summary)")

        let pre = summary["pre_handshake"] as? [String: Any] ?? [:]
        #expect(pre["kind"] as? String == "error" && pre["fault"] as? Int == 10, "FAULT_NO_HANDSHAKE: \(pre)")

        let results = summary["results"] as? [[String: Any]] ?? []
        #expect(results.count == 13)
        for r in results {
            let name = r["case"] as? String ?? "?"
            let replies = r["replies"] as? [[String: Any]] ?? []
            switch name {
            case "out_of_order", "duplicate":
                #expect(replies.isEmpty, "\(name) frames are dropped in free-running mode: \(replies)")
            case "unexpected_reset":
                #expect(replies.count == 1 && replies.first?["kind"] as? String == "error", "\(name): \(replies)")
            default:
                #expect(replies.count == 1, "\(name): exactly one answer: \(replies)")
                let a = replies.first ?? [:]
                #expect(a["source"] as? Int == 3 && a["fault"] as? Int == r["expected"] as? Int, "\(name): \(a)")
                #expect(a["values"] as? [Double] == [0], "\(name): \(a)")
            }
            let next = r["next"] as? [[String: Any]] ?? []
            #expect(next.count == 1 && next.first?["obs_seq"] as? Int == r["next_seq"] as? Int, "after \(name): \(next)")
            #expect([1, 2].contains(next.first?["source"] as? Int ?? 0), "after \(name): \(next)")
        }

        // 1.1 s of silence with a 250 ms watchdog: the safe action is pushed repeatedly.
        let silence = summary["silence"] as? [[String: Any]] ?? []
        #expect(silence.count >= 3, "watchdog pushes: \(silence)")
        for a in silence {
            #expect(a["fault"] as? Int == 8 && a["source"] as? Int == 3 && a["obs_seq"] as? Int == 0, "\(a)")
            #expect(a["values"] as? [Double] == [0])
        }
        let after = summary["after"] as? [[String: Any]] ?? []
        #expect(after.count == 1 && [1, 2].contains(after.first?["source"] as? Int ?? 0), "served again after silence: \(after)")

        // A refused Hello mid-session: the safe action (FAULT_NO_HANDSHAKE) before the refusal,
        // and no watchdog pushes after it (1.1 s of waiting with a 250 ms watchdog).
        let refused = summary["refused"] as? [[String: Any]] ?? []
        #expect(refused.count == 2, "safe action, then the refusing HelloAck: \(refused)")
        #expect(refused.first?["kind"] as? String == "action" && refused.first?["source"] as? Int == 3
                && refused.first?["fault"] as? Int == 10 && refused.first?["values"] as? [Double] == [0], "\(refused)")
        #expect(refused.last?["kind"] as? String == "hello_ack" && refused.last?["accepted"] as? Bool == false, "\(refused)")
        #expect(!loop.sessionActive)

        let c = loop.supervisor.counters
        #expect(c.refusedHandshakes == 1)
        #expect(c.link.watchdog >= 3 && c.noHandshake >= 1 && c.link.outOfOrder == 1 && c.link.duplicate == 1, "\(c)")
        #expect(c.link.malformed == 2 && c.link.oversized == 2 && c.link.nonFinite == 2 && c.link.stale == 1 && c.link.outOfRange == 1, "\(c)")
        #expect(c.link.fromFuture == 1, "\(c)")
    }

    /// Free-running (the demo's mode) at a 1 ms period, 2 planner threads, with a telemetry
    /// subscriber reading: counted per thread (control thread and planner workers) from the
    /// first step, one window.
    @Test func freeRunningStepsAllocateNothingFromTheFirst() throws {
        var cal = try testCalibration(mode: "free-running", watchdogMs: 2000, threads: 2, samples: 8)
        let peer = try PythonPeer(scenario: "free-stream", config: peerConfig(cal, ["period_ms": 1, "duration_ms": 3000]))
        let endpoints = try peer.readLine().split(separator: " ").map(String.init)
        cal = try cal.overriding {
            $0.link.observationEndpoint = endpoints[0]; $0.link.actionEndpoint = endpoints[1]
            $0.link.telemetryEndpoint = "tcp://127.0.0.1:*"
        }
        let loop = try ControlLoop(setup: try testSetup(cal), logger: quietLogger())
        // A subscriber connected while the loop serves: attaching it, and its queue's growth
        // ~255 samples later, allocate in libzmq on the thread that publishes, which must not
        // be the control thread (TelemetryQueue).
        let subscriber = try TelemetrySubscriber(connect: try #require(loop.telemetryEndpoint))
        let samples = SampleCount()
        let reader = Thread {
            while !samples.stop { if (try? subscriber.receive(timeoutMs: 50)) != nil { samples.n += 1 } }
            samples.done.signal()
        }
        reader.start()
        let runner = LoopRunner(loop)
        #expect(try peer.readLine() == "streaming")
        let summary = try peer.summary()
        runner.stopAndWait()
        samples.stop = true
        samples.done.wait()
        subscriber.close()
        #expect(samples.n >= 300, "telemetry samples received: \(samples.n)")
        let w = loop.allocations
        #expect(w.isCounting)
        #expect(loop.answered >= 300, "the peer sent \(summary["sent"] ?? "?") frames")
        #expect(w.steps == loop.answered)
        // libzmq's one-time growth of the action queue (a second 256-message chunk, on the
        // sending thread, at about message 255) was provoked by the queue warm-up after the
        // HelloAck: nothing may allocate in any step, from the first (the run covers more
        // than 256 actions, so the growth would have shown).
        #expect(loop.lastQueueWarmUp == FreeRunningControllerEndpoint.queueWarmUpFrames)
        #expect(w.inSteps == 0, "\(w.summary)")
        #expect(w.outsideSteps > 0, "positive control: the handshake's log line allocates")
    }
}

/// Shared with the telemetry reader thread (written there, read after it signalled).
private final class SampleCount: @unchecked Sendable {
    var n = 0
    var stop = false
    let done = DispatchSemaphore(value: 0)
}
