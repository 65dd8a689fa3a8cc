import CAllocCounter
import Foundation
import Testing
@testable import IQLink

@Suite(.serialized) struct EndpointTests {
    /// A controller that accepts `expected`, answers each observation with an action whose
    /// values are the first act-dim observation values negated, and sends Shutdown after
    /// `steps` observations (or Reset at `resetAt`).
    static func runLockstepController(_ ctl: LockstepControllerEndpoint, expected: PlantSpec, steps: Int,
                                      resetAt: UInt64? = nil) throws {
        guard case .hello = try ctl.receive(timeoutMs: 5000) else { throw LinkError.timeout }
        let hello = try ctl.receivedHello()
        if let why = hello.spec.mismatchSummary(against: expected) {
            try ctl.replyHelloAck(.refuse(.specMismatch, message: why, role: .controller, software: "test"))
            return
        }
        try ctl.replyHelloAck(.accept(role: .controller, software: "test"))
        var answered = 0
        var out = [Float](repeating: 0, count: expected.actDim)
        while answered < steps {
            guard let frame = try ctl.receive(timeoutMs: 5000) else { throw LinkError.timeout }
            guard case .observation(let o) = frame else { throw LinkError.unexpectedBody(expected: .observation, got: frame.kind) }
            answered += 1
            if answered == steps {
                try ctl.replyShutdown(reason: "done")
                break
            }
            if o.seq == resetAt { try ctl.replyReset(seed: 1234); continue }
            for i in 0..<out.count { out[i] = -o.values[i] }
            try out.withUnsafeBufferPointer {
                try ctl.replyAction(seq: o.seq + 1000, observationSeq: o.seq, timestampNs: linkMonotonicNs(), values: $0,
                                    diagnostics: PlanDiagnostics(source: .planner, iterations: 6))
            }
        }
        // The plant's final Heartbeat.
        guard case .heartbeat = try ctl.receive(timeoutMs: 5000) else { throw LinkError.timeout }
    }

    @Test(arguments: ["tcp://127.0.0.1:*", "inproc://lockstep-basic"])
    func lockstepSessionRunsActionsResetAndShutdown(_ address: String) throws {
        let ctx = try ZmqContext()  // own context: its termination waits for libzmq's teardown
        let spec = sampleSpec()
        let plant = try LockstepPlantEndpoint(bind: address, spec: spec, software: "test-sim", context: ctx)
        let ctl = try LockstepControllerEndpoint(connect: plant.endpoint, context: ctx)
        let peer = TestThread { try Self.runLockstepController(ctl, expected: spec, steps: 20, resetAt: 5) }
        let ack = try plant.handshake()
        #expect(ack.accepted && ack.role == .controller)
        var values: [Float] = [0.5, -0.25, 1, 2]
        var sawReset = false, sawShutdown = false
        for seq in UInt64(1)...20 {
            values[0] = Float(seq)
            let frame = try values.withUnsafeBufferPointer {
                try plant.exchange(seq: seq, timestampNs: linkMonotonicNs(), values: $0, episodeStart: seq == 1)
            }
            switch frame {
            case .action(let a):
                #expect(a.observationSeq == seq && Array(a.values) == [-Float(seq), 0.25])
                #expect(a.diagnostics.source == .planner)
            case .reset(let seed): sawReset = seq == 5 && seed == 1234
            case .shutdown:
                sawShutdown = seq == 20
                try plant.acknowledgeShutdown()
            default: Issue.record("unexpected \(frame.kind)")
            }
        }
        try peer.join()
        #expect(sawReset && sawShutdown)
        plant.close(); ctl.close()
    }

    /// The lockstep queue warm-up: every Heartbeat request answered, then the session goes on
    /// as usual; against a controller that does not answer it stops at the first request.
    @Test func lockstepQueueWarmUpIsAnsweredHeartbeats() throws {
        let ctx = try ZmqContext()  // own context: its termination waits for libzmq's teardown
        let plant = try LockstepPlantEndpoint(bind: "tcp://127.0.0.1:*", spec: sampleSpec(), software: "sim", context: ctx)
        let ctl = try LockstepControllerEndpoint(connect: plant.endpoint, context: ctx)
        let peer = TestThread {
            guard case .hello = try ctl.receive(timeoutMs: 5000) else { throw LinkError.timeout }
            try ctl.replyHelloAck(.accept(role: .controller, software: "test"))
            for _ in 0..<LockstepPlantEndpoint.queueWarmUpRequests {
                guard case .heartbeat = try ctl.receive(timeoutMs: 5000) else { throw LinkError.timeout }
                try ctl.replyHeartbeat()
            }
            // Then a controller that stops answering Heartbeats: the warm-up gives up.
            guard case .heartbeat = try ctl.receive(timeoutMs: 5000) else { throw LinkError.timeout }
        }
        try plant.handshake()
        #expect(try plant.warmUpQueues() == LockstepPlantEndpoint.queueWarmUpRequests)
        #expect(try plant.warmUpQueues(timeoutMs: 200) == 0)
        try peer.join()
        plant.close(); ctl.close()
    }

    @Test func lockstepRefusesAMismatchedSpecWithReasons() throws {
        let ctx = try ZmqContext()  // own context: its termination waits for libzmq's teardown
        let plant = try LockstepPlantEndpoint(bind: "tcp://127.0.0.1:*", spec: sampleSpec(obs: 5), software: "sim", context: ctx)
        let ctl = try LockstepControllerEndpoint(connect: plant.endpoint, context: ctx)
        let peer = TestThread { try Self.runLockstepController(ctl, expected: sampleSpec(obs: 4), steps: 1) }
        let refusal = #expect(throws: LinkError.self) { try plant.handshake() }
        guard case .handshakeRefused(let code, let message)? = refusal else {
            Issue.record("expected a refusal, got \(String(describing: refusal))"); return
        }
        #expect(code == .specMismatch)
        #expect(message.contains("obsDim: plant 5, expected 4"))
        try peer.join()
        plant.close(); ctl.close()
    }

    @Test func refusedFramesStillGetTheirLockstepReply() throws {
        let ctx = try ZmqContext()  // own context: its termination waits for libzmq's teardown
        let spec = sampleSpec()
        let plant = try LockstepPlantEndpoint(bind: "tcp://127.0.0.1:*", spec: spec, software: "sim", context: ctx)
        let ctl = try LockstepControllerEndpoint(connect: plant.endpoint, context: ctx)
        let zeros = [Float](repeating: 0, count: spec.actDim)
        let peer = TestThread {
            guard case .hello = try ctl.receive(timeoutMs: 5000) else { throw LinkError.timeout }
            try ctl.replyHelloAck(.accept(role: .controller, software: "t"))
            for expected in [LinkError.oversized(byteCount: 70_000, limit: LinkBounds.maxControlBytes),
                             LinkError.malformed(byteCount: 3)] {
                do throws(LinkError) {
                    _ = try ctl.receive(timeoutMs: 5000)
                    Issue.record("frame should be refused")
                } catch {
                    #expect(error == expected)
                    #expect(ctl.awaitingReply)
                    try zeros.withUnsafeBufferPointer {
                        try ctl.replyAction(seq: 1, observationSeq: 0, timestampNs: 1, values: $0,
                                            diagnostics: .init(source: .safe, fault: error.faultCode ?? .none))
                    }
                    #expect(!ctl.awaitingReply)
                }
            }
        }
        try plant.handshake()
        let huge = [UInt8](repeating: 0x55, count: 70_000)
        guard case .action(let a) = try huge.withUnsafeBytes({ try plant.exchangeRaw($0) }) else { Issue.record("kind"); return }
        #expect(a.diagnostics.fault == .oversized && a.diagnostics.source == .safe)
        let garbage: [UInt8] = [0xff, 0xff, 0xff]
        guard case .action(let b) = try garbage.withUnsafeBytes({ try plant.exchangeRaw($0) }) else { Issue.record("kind"); return }
        #expect(b.diagnostics.fault == .malformed)
        try peer.join()
        plant.close(); ctl.close()
    }

    /// A connected controller that does not read while the plant keeps re-sending: every
    /// frame it reads later must be intact (the send ring was not overwritten under libzmq).
    @Test(arguments: ["inproc://stuck", "tcp://127.0.0.1:*"])
    func stuckControllerNeverSeesOverwrittenFrames(_ address: String) throws {
        let ctx = try ZmqContext()  // own context: its termination waits for libzmq's teardown
        let spec = sampleSpec()
        let plant = try LockstepPlantEndpoint(bind: address, spec: spec, software: "sim", context: ctx)
        let ctl = try LockstepControllerEndpoint(connect: plant.endpoint, context: ctx)
        #expect(throws: LinkError.timeout) { try plant.handshake(attemptTimeoutMs: 20, attempts: 12) }
        let one: [Float] = [1, 2, 3, 4]
        for _ in 0..<6 {
            _ = try? one.withUnsafeBufferPointer { try plant.exchange(seq: 9, timestampNs: 1, values: $0, timeoutMs: 10) }
            _ = try? plant.handshake(attemptTimeoutMs: 10, attempts: 1)
        }
        var hellos = 0, observations = 0
        while let f = try ctl.receive(timeoutMs: 100) {
            switch f {
            case .hello:
                #expect(try ctl.receivedHello().spec == spec)
                hellos += 1
            case .observation(let o):
                #expect(o.seq == 9 && Array(o.values) == one)
                observations += 1
            default: Issue.record("unexpected \(f.kind)")
            }
            try ctl.replyHeartbeat()
        }
        #expect(hellos >= 1)
        plant.close(); ctl.close()
    }

    @Test func lockstepPlantRehandshakesWithARestartedController() throws {
        let ctx = try ZmqContext()  // own context: its termination waits for libzmq's teardown
        let spec = sampleSpec()
        let plant = try LockstepPlantEndpoint(bind: "tcp://127.0.0.1:*", spec: spec, software: "sim", context: ctx)
        // Nobody is listening: bounded retries, then a timeout (never a hang).
        #expect(throws: LinkError.timeout) { try plant.handshake(attemptTimeoutMs: 30, attempts: 3) }
        // A controller that answers the handshake and one step, then dies without replying.
        let first = try LockstepControllerEndpoint(connect: plant.endpoint, context: ctx)
        let dying = TestThread {
            guard case .hello = try first.receive(timeoutMs: 5000) else { throw LinkError.timeout }
            try first.replyHelloAck(.accept(role: .controller, software: "first"))
            guard case .observation = try first.receive(timeoutMs: 5000) else { throw LinkError.timeout }
            first.close()
        }
        try plant.handshake(attemptTimeoutMs: 200, attempts: 25)
        let one: [Float] = [1, 2, 3, 4]
        #expect(throws: LinkError.timeout) {
            _ = try one.withUnsafeBufferPointer { try plant.exchange(seq: 1, timestampNs: 1, values: $0, timeoutMs: 300) }
        }
        try dying.join()
        // A new controller: the plant's re-sent Hello (REQ_RELAXED) opens a new session.
        let second = try LockstepControllerEndpoint(connect: plant.endpoint, context: ctx)
        let peer = TestThread { try Self.runLockstepController(second, expected: spec, steps: 3) }
        let ack = try plant.handshake(attemptTimeoutMs: 200, attempts: 25)
        #expect(ack.accepted)
        for seq in UInt64(2)...4 {
            let f = try one.withUnsafeBufferPointer { try plant.exchange(seq: seq, timestampNs: 1, values: $0) }
            if case .shutdown = f { try plant.acknowledgeShutdown() }
        }
        try peer.join()
        plant.close(); second.close()
    }

    @Test func lockstepStepsDoNotAllocateOnEitherSide() throws {
        let ctx = try ZmqContext()  // own context: its termination waits for libzmq's teardown
        let spec = sampleSpec(obs: 64, act: 8)
        let plant = try LockstepPlantEndpoint(bind: "tcp://127.0.0.1:*", spec: spec, software: "sim", context: ctx)
        let ctl = try LockstepControllerEndpoint(connect: plant.endpoint, context: ctx)
        let steps = 4001   // 1000 warm-up, three measured windows of 1000, the final Shutdown
        let peer = TestThread { countPeerAllocations(); try Self.runLockstepController(ctl, expected: spec, steps: steps) }
        try plant.handshake()
        var values = [Float](repeating: 0.5, count: 64)
        var answered = 0
        func step(_ seq: Int) throws {
            values[1] = Float(seq)
            let frame = try values.withUnsafeBufferPointer { try plant.exchange(seq: UInt64(seq), timestampNs: 1, values: $0) }
            if case .action(let a) = frame, a.observationSeq == UInt64(seq) { answered += 1 }
        }
        for seq in 1...1000 { try step(seq) }
        // Both peers are in this process: the controller thread counts in the same group.
        var next = 1001
        let n = try allocations(repeating: 3) { for _ in 0..<1000 { try step(next); next += 1 } }
        _ = try values.withUnsafeBufferPointer { try plant.exchange(seq: UInt64(steps), timestampNs: 1, values: $0) }
        try plant.acknowledgeShutdown()
        try peer.join()
        #expect(answered == steps - 1)
        #expect(n == 0)
        plant.close(); ctl.close()
    }

    @Test(arguments: ["tcp://127.0.0.1:*", "inproc://free"])
    func freeRunningHandshakeStreamAndLatestOnly(_ address: String) throws {
        let ctx = try ZmqContext()  // own context: its termination waits for libzmq's teardown
        let spec = sampleSpec()
        let obsAddr = address.hasPrefix("tcp") ? address : address + "-obs"
        let actAddr = address.hasPrefix("tcp") ? address : address + "-act"
        let plant = try FreeRunningPlantEndpoint(bindObservations: obsAddr, bindActions: actAddr, spec: spec, software: "robot", context: ctx)
        let ctl = try FreeRunningControllerEndpoint(connectObservations: plant.observationEndpoint,
                                                    connectActions: plant.actionEndpoint, context: ctx)
        let handshaker = TestThread {
            // Hellos arrive every 100 ms until acknowledged.
            while true {
                guard let f = try ctl.receive(timeoutMs: 5000) else { throw LinkError.timeout }
                if case .hello = f { break }
            }
            #expect(try ctl.receivedHello().spec == spec)
            try ctl.sendHelloAck(.accept(role: .controller, software: "rt"))
        }
        let ack = try plant.handshake(timeoutMs: 5000)
        #expect(ack.accepted)
        try handshaker.join()
        // Drain Hellos still in flight.
        while try ctl.receive(timeoutMs: 50) != nil {}

        // The controller is busy: the plant pushes 30 frames; only the newest is kept.
        var lastSent: UInt64 = 0
        for seq in UInt64(1)...30 {
            let v: [Float] = [Float(seq), 0, 0, 0]
            if try v.withUnsafeBufferPointer({ try plant.pushObservation(seq: seq, timestampNs: linkMonotonicNs(), values: $0) }) {
                lastSent = seq
            }
        }
        Thread.sleep(forTimeInterval: 0.2)
        guard case .observation(let o) = try ctl.receive(timeoutMs: 2000) else { Issue.record("no frame"); return }
        #expect(o.seq == lastSent && o.values[0] == Float(lastSent))
        #expect(try ctl.receive(timeoutMs: 50) == nil)

        // Actions flow back and are matched by observation_seq.
        let act: [Float] = [0.5, -0.5]
        try act.withUnsafeBufferPointer {
            _ = try ctl.sendAction(seq: 1, observationSeq: o.seq, timestampNs: 1, values: $0, diagnostics: .init(source: .safe, fault: .stale))
        }
        guard case .action(let a) = try plant.receive(timeoutMs: 2000) else { Issue.record("no action"); return }
        #expect(a.observationSeq == lastSent && Array(a.values) == act && a.diagnostics.fault == .stale)
        // Error frames travel too (e.g. an observation before the handshake).
        _ = try ctl.sendError(code: .unexpectedMessage, fatal: false, fault: .noHandshake, message: "handshake first")
        guard case .error(let e) = try plant.receive(timeoutMs: 2000) else { Issue.record("no error"); return }
        #expect(e.fault == .noHandshake && e.message == "handshake first")
        plant.close(); ctl.close()
    }

    @Test func freeRunningStepsDoNotAllocateOnEitherSide() throws {
        let ctx = try ZmqContext()  // own context: its termination waits for libzmq's teardown
        let spec = sampleSpec(obs: 32, act: 4)
        let plant = try FreeRunningPlantEndpoint(bindObservations: "tcp://127.0.0.1:*", bindActions: "tcp://127.0.0.1:*",
                                                 spec: spec, software: "robot", context: ctx)
        let ctl = try FreeRunningControllerEndpoint(connectObservations: plant.observationEndpoint,
                                                    connectActions: plant.actionEndpoint, context: ctx)
        let steps = 4000   // 1000 warm-up, three measured windows of 1000
        // The controller answers every frame it sees until it sees seq == steps.
        let peer = TestThread {
            countPeerAllocations()
            let act = [Float](repeating: 0.1, count: 4)
            while true {
                guard let f = try ctl.receive(timeoutMs: 5000) else { throw LinkError.timeout }
                switch f {
                case .hello: try ctl.sendHelloAck(.accept(role: .controller, software: "rt"))
                case .observation(let o):
                    let seq = o.seq
                    try act.withUnsafeBufferPointer {
                        _ = try ctl.sendAction(seq: seq, observationSeq: seq, timestampNs: 1, values: $0, diagnostics: .init(source: .planner))
                    }
                    if seq == UInt64(steps) { return }
                default: break
                }
            }
        }
        try plant.handshake(timeoutMs: 5000)
        let values = [Float](repeating: 0.25, count: 32)
        var matched = 0
        /// Push, then wait for the matching action (the robot discards others).
        func step(_ seq: Int) throws {
            _ = try values.withUnsafeBufferPointer { try plant.pushObservation(seq: UInt64(seq), timestampNs: 1, values: $0) }
            while let f = try plant.receive(timeoutMs: 2000) {
                if case .action(let a) = f, a.observationSeq == UInt64(seq) { matched += 1; return }
            }
        }
        for seq in 1...1000 { try step(seq) }
        var next = 1001
        let n = try allocations(repeating: 3) { for _ in 0..<1000 { try step(next); next += 1 } }
        try peer.join()
        #expect(matched == steps)
        #expect(n == 0)
        plant.close(); ctl.close()
    }

    @Test func slowInprocTelemetrySubscriberReadsIntactSamples() throws {
        let ctx = try ZmqContext()  // own context: its termination waits for libzmq's teardown
        let publisher = try TelemetryPublisher(bind: "inproc://telemetry-slow", context: ctx)
        let subscriber = try TelemetrySubscriber(connect: "inproc://telemetry-slow", context: ctx)
        var sample = TelemetrySample()
        for i in 0..<1000 {
            sample.step = UInt64(i); sample.planNs = UInt64(i) * 3
            try publisher.publish(sample)
        }
        var last: UInt64?
        var count = 0
        while let t = try subscriber.receive(timeoutMs: 50) {
            #expect(t.planNs == t.step * 3)
            if let last { #expect(t.step > last) }
            last = t.step
            count += 1
        }
        #expect(count > 0 && count <= 80)
        publisher.close(); subscriber.close()
    }

    @Test func telemetryReachesSubscribersWithoutAllocating() throws {
        let ctx = try ZmqContext()  // own context: its termination waits for libzmq's teardown
        var sample = TelemetrySample()
        // No subscriber at all (measured first: a live subscriber's I/O thread would count too).
        let lonely = try TelemetryPublisher(bind: "tcp://127.0.0.1:*", context: ctx)
        for _ in 0..<1000 { try lonely.publish(sample) }
        #expect(try allocations(repeating: 3) { for _ in 0..<2000 { try lonely.publish(sample) } } == 0)
        lonely.close()
        let publisher = try TelemetryPublisher(bind: "tcp://127.0.0.1:*", context: ctx)
        let subscriber = try TelemetrySubscriber(connect: publisher.endpoint, context: ctx)
        sample.planNs = 12_345; sample.source = .policyPrior; sample.counters.stale = 3
        // Slow joiner: publish until the subscription is live.
        var got: TelemetrySample?
        for step in 0..<200 where got == nil {
            sample.step = UInt64(step)
            try publisher.publish(sample)
            got = try subscriber.receive(timeoutMs: 20)
        }
        #expect(got?.planNs == 12_345 && got?.counters.stale == 3 && got?.source == .policyPrior)
        publisher.close(); subscriber.close()
    }
}
