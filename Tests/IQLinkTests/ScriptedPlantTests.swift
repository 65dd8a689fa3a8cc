import Foundation
@testable import IQLink
import IQTestSupport
import Testing

/// A minimal supervisor-like controller, only for exercising ScriptedPlant: answers every
/// frame with an action, the safe action (zeros) flagged with the fault for bad frames.
final class ReferenceController: @unchecked Sendable {
    let spec: PlantSpec
    var lastSeq: UInt64 = 0
    var out: [Float]
    init(spec: PlantSpec) { self.spec = spec; out = [Float](repeating: 0, count: spec.actDim) }

    /// The action values and diagnostics for a decode outcome.
    func judge(_ frame: Frame?, _ error: LinkError?) -> (UInt64, PlanDiagnostics) {
        if let error { return (0, PlanDiagnostics(source: .safe, fault: error.faultCode ?? .malformed)) }
        guard case .observation(let o)? = frame else { return (0, PlanDiagnostics(source: .safe, fault: .malformed)) }
        for i in out.indices { out[i] = 0 }
        if o.seq == lastSeq { return (o.seq, PlanDiagnostics(source: .safe, fault: .duplicate)) }
        if o.seq < lastSeq { return (o.seq, PlanDiagnostics(source: .safe, fault: .outOfOrder)) }
        lastSeq = o.seq
        if o.values.count != spec.obsDim { return (o.seq, PlanDiagnostics(source: .safe, fault: .wrongDimension)) }
        for v in o.values where !v.isFinite { return (o.seq, PlanDiagnostics(source: .safe, fault: .nonFinite)) }
        for i in out.indices { out[i] = max(-1, min(1, o.values[i])) }
        return (o.seq, PlanDiagnostics(source: .planner, iterations: 6))
    }

    func serveLockstep(_ ctl: LockstepControllerEndpoint, until frames: Int) throws {
        var answered = 0
        while answered < frames {
            var frame: Frame?
            var failure: LinkError?
            do throws(LinkError) {
                frame = try ctl.receive(timeoutMs: 5000)
                if frame == nil { throw LinkError.timeout }
            } catch {
                guard error.faultCode != nil else { throw error }
                failure = error
            }
            if case .hello? = frame {
                try ctl.replyHelloAck(.accept(role: .controller, software: "reference"))
                continue
            }
            if case .heartbeat? = frame { try ctl.replyHeartbeat(); continue }
            let (seq, diag) = judge(frame, failure)
            try out.withUnsafeBufferPointer {
                try ctl.replyAction(seq: seq, observationSeq: seq, timestampNs: 1, values: $0, diagnostics: diag)
            }
            answered += 1
        }
    }
}

@Suite(.serialized) struct ScriptedPlantTests {
    let spec = sampleSpec(obs: 6, act: 2)

    func injections(_ k: UInt64) -> PlantInjection {
        switch k {
        case 5: return .nonFinite(index: 2)
        case 8: return .wrongLength(count: 3)
        case 11: return .malformed
        case 14: return .oversized
        case 17: return .duplicate
        case 20: return .outOfOrder
        case 23: return .stale(ageNs: 5_000_000_000)
        default: return .normal
        }
    }

    @Test func lockstepRunReportsEveryInjectedFault() throws {
        let ctx = try ZmqContext()  // own context: its termination waits for libzmq's teardown
        let plant = try ScriptedPlant(mode: .lockstep, spec: spec, observations: "tcp://127.0.0.1:*", context: ctx)
        let ctl = try LockstepControllerEndpoint(connect: plant.observationEndpoint, context: ctx)
        let reference = ReferenceController(spec: spec)
        let server = TestThread { try reference.serveLockstep(ctl, until: 30) }
        let report = try plant.runLockstep(frames: 30, injection: injections)
        try server.join()
        #expect(report.framesSent == 30)
        #expect(report.framesExpectingAnswer == 26)   // malformed, oversized, duplicate, out-of-order excluded
        #expect(report.answered == 26 && report.unanswered == 0 && report.timeouts == 0)
        #expect(report.flagged(.nonFinite) == 1 && report.flagged(.wrongDimension) == 1)
        #expect(report.flagged(.malformed) == 1 && report.flagged(.oversized) == 1)
        #expect(report.flagged(.duplicate) == 1 && report.flagged(.outOfOrder) == 1)
        #expect(report.actions(from: .safe) == 6 && report.actions(from: .planner) == 24)
        #expect(report.outOfLimitActions == 0)
        plant.close(); ctl.close()
    }

    @Test func lockstepStepsAreAllocationFree() throws {
        let ctx = try ZmqContext()  // own context: its termination waits for libzmq's teardown
        let plant = try ScriptedPlant(mode: .lockstep, spec: spec, observations: "tcp://127.0.0.1:*", context: ctx)
        let ctl = try LockstepControllerEndpoint(connect: plant.observationEndpoint, context: ctx)
        let reference = ReferenceController(spec: spec)
        let server = TestThread { countPeerAllocations(); try reference.serveLockstep(ctl, until: 1000 + 3 * 500 + 3 * 2500) }
        _ = try plant.runLockstep(frames: 1000)                         // handshake + warm-up
        let short = try allocations(repeating: 3) { _ = try plant.runLockstep(frames: 500, handshake: false) }
        let long = try allocations(repeating: 3) { _ = try plant.runLockstep(frames: 2500, handshake: false) }
        try server.join()
        // Only the per-run report is allocated: 2000 more steps cost nothing.
        #expect(long == short)
        #expect(short < 50)
        plant.close(); ctl.close()
    }

    @Test func freeRunningRunAnswersEachFrameOnce() throws {
        let ctx = try ZmqContext()  // own context: its termination waits for libzmq's teardown
        let plant = try ScriptedPlant(mode: .freeRunning, spec: spec, observations: "tcp://127.0.0.1:*", actions: "tcp://127.0.0.1:*", context: ctx)
        let ctl = try FreeRunningControllerEndpoint(connectObservations: plant.observationEndpoint,
                                                    connectActions: plant.actionEndpoint!, context: ctx)
        let reference = ReferenceController(spec: spec)
        let stop = UnsafeMutablePointer<Bool>.allocate(capacity: 1)
        stop.pointee = false
        defer { stop.deallocate() }
        let stopFlag = UncheckedBox(stop)
        let server = TestThread {
            while !stopFlag.value.pointee {
                var frame: Frame?
                var failure: LinkError?
                do throws(LinkError) {
                    frame = try ctl.receive(timeoutMs: 20)
                    if frame == nil { continue }
                } catch {
                    guard error.faultCode != nil else { throw error }
                    failure = error
                }
                if case .hello? = frame { try ctl.sendHelloAck(.accept(role: .controller, software: "reference")); continue }
                let (seq, diag) = reference.judge(frame, failure)
                // Free-running drops duplicate and out-of-order frames instead of answering.
                if diag.fault == .duplicate || diag.fault == .outOfOrder { continue }
                try reference.out.withUnsafeBufferPointer {
                    _ = try ctl.sendAction(seq: seq, observationSeq: seq, timestampNs: 1, values: $0, diagnostics: diag)
                }
            }
        }
        // Paced well below the controller's speed; on a loaded 2-core machine a frame can
        // still be conflated away now and then, which is the mode's contract, not a loss.
        let report = try plant.runFreeRunning(frames: 40, periodNs: 10_000_000, injection: injections)
        stop.pointee = true
        try server.join()
        #expect(report.framesSent == 40 && report.framesExpectingAnswer == 36)
        #expect(report.duplicateAnswers == 0)
        #expect(report.answered + report.unanswered == 36)
        #expect(report.answered >= 32, "\(report)")
        #expect(report.flagged(.duplicate) == 0 && report.flagged(.outOfOrder) == 0)
        #expect(report.flagged(.nonFinite) <= 1 && report.flagged(.wrongDimension) <= 1)
        // Malformed/oversized frames carry no usable seq: their safe actions are unsolicited.
        #expect(report.unsolicitedActions <= 2)
        #expect(report.outOfLimitActions == 0)
        plant.close(); ctl.close()
    }

    @Test func freeRunningPlantHellosAgainAfterNoHandshakeError() throws {
        let ctx = try ZmqContext()
        let plant = try ScriptedPlant(mode: .freeRunning, spec: spec, observations: "tcp://127.0.0.1:*",
                                      actions: "tcp://127.0.0.1:*", context: ctx)
        let ctl = try FreeRunningControllerEndpoint(connectObservations: plant.observationEndpoint,
                                                    connectActions: plant.actionEndpoint!, context: ctx)
        let stop = UnsafeMutablePointer<Bool>.allocate(capacity: 1)
        stop.pointee = false
        defer { stop.deallocate() }
        let stopFlag = UncheckedBox(stop)
        let server = TestThread {
            var session = false
            let zeros: [Float] = [0, 0]
            while !stopFlag.value.pointee {
                guard let f = try ctl.receive(timeoutMs: 20) else { continue }
                switch f {
                case .hello:
                    session = true
                    try ctl.sendHelloAck(.accept(role: .controller, software: "reference"))
                case .observation(let o) where !session:
                    _ = o
                    try ctl.sendError(code: .unexpectedMessage, fatal: false, fault: .noHandshake, message: "Hello first")
                case .observation(let o):
                    let seq = o.seq
                    try zeros.withUnsafeBufferPointer {
                        _ = try ctl.sendAction(seq: seq, observationSeq: seq, timestampNs: 1, values: $0, diagnostics: .init(source: .planner))
                    }
                default: break
                }
            }
        }
        // The plant starts streaming without a handshake, as a robot restarted mid-session would.
        let report = try plant.runFreeRunning(frames: 20, periodNs: 10_000_000, handshake: false)
        stop.pointee = true
        try server.join()
        #expect(report.errors(.noHandshake) >= 1 && report.rehandshakes >= 1)
        #expect(report.answered >= 15 && report.duplicateAnswers == 0)
        plant.close(); ctl.close()
    }
}

/// Hands a pointer to another thread in a test (the test owns the memory's lifetime).
struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ v: T) { value = v }
}
