import CAllocCounter
import Foundation
import IQLink
import Testing
@testable import IQPlants

/// Runs a server on its own thread and hands back its report.
final class ServerThread: @unchecked Sendable {
    // @unchecked: `result` is written once by the server thread before `done` is signalled
    // and read only after waiting on it.
    let server: SimServer
    private var result: Result<SimSessionReport, Error>?
    private let done = DispatchSemaphore(value: 0)

    /// `allocationGroup`: the server thread counts its heap use there (CAllocCounter).
    init(_ server: SimServer, allocationGroup: Int32 = 0) {
        self.server = server
        let t = Thread { [self] in
            iq_alloc_group_join(allocationGroup)
            result = Result { try server.run() }
            done.signal()
        }
        t.start()
    }

    func join(timeoutSeconds: Double = 30) throws -> SimSessionReport {
        if done.wait(timeout: .now() + timeoutSeconds) == .timedOut {
            server.stop()
            _ = done.wait(timeout: .now() + 10)
            throw PlantError.badArgument("server did not finish in time")
        }
        return try result!.get()
    }
}

func tempEndpoint(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("iqplants-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return "ipc://\(dir.path)/\(name)"
}

/// An observation-only pendulum controller (energy pumping, PD near the top) in physical
/// units: the kind of peer the runtime is, without the world model.
func pendulumTorque(_ o: UnsafeBufferPointer<Float>) -> Float {
    let th = Double(atan2(o[1], o[0])), w = Double(o[2])
    let inertia = 0.25064, mgl = 4.905
    var u: Double
    if abs(th) < 0.3 && abs(w) < 3 {
        u = -(8 * th + 1.5 * w)
    } else {
        let e = 0.5 * inertia * w * w + mgl * (cos(th) - 1)
        u = 20 * (0.1 - e) * w
    }
    return Float(min(max(u, -1), 1))
}

@Suite(.serialized) struct ServerTests {
    /// `serve` in lockstep drives a full episode with a Swift controller peer over ipc://:
    /// handshake, 501 observations (first flagged start, last terminal), 500 rewards, and
    /// the episode budget ends the session with Shutdown.
    @Test func lockstepFullEpisodeWithControllerPeer() throws {
        var c = SimServerConfig(task: .pendulumSwingup)
        c.observationEndpoint = tempEndpoint("sim")
        c.episodes = 1
        c.seed = 4
        let server = try SimServer(config: c)
        let thread = ServerThread(server)
        let ctl = try LockstepControllerEndpoint(connect: server.observationEndpoint)
        defer { ctl.close() }
        guard case .hello? = try ctl.receive(timeoutMs: 5000) else { Issue.record("no Hello"); return }
        let hello = try ctl.receivedHello()
        #expect(hello.spec == TaskKernels.info(.pendulumSwingup).plantSpec)
        #expect(hello.mode == .lockstep)
        try ctl.replyHelloAck(.accept(role: .controller, software: "test"))
        var observations = 0, rewards = 0, starts = 0, terminals = 0, lastSeq: UInt64 = 0
        var rewardSum = 0.0, actionSeq: UInt64 = 0
        var action: [Float] = [0]
        loop: while true {
            guard let f = try ctl.receive(timeoutMs: 5000) else { Issue.record("controller timed out"); break }
            switch f {
            case .observation(let o):
                observations += 1
                #expect(o.seq > lastSeq)
                lastSeq = o.seq
                if o.episodeStart { starts += 1 }
                if o.terminal { terminals += 1 }
                if let r = o.reward { rewards += 1; rewardSum += Double(r) }
                action[0] = pendulumTorque(o.values)
                actionSeq += 1
                try action.withUnsafeBufferPointer {
                    try ctl.replyAction(seq: actionSeq, observationSeq: o.seq, timestampNs: linkMonotonicNs(),
                                        values: $0, diagnostics: PlanDiagnostics(source: .planner))
                }
            case .shutdown:
                try ctl.replyHeartbeat()
                break loop
            default:
                Issue.record("unexpected \(f.kind)")
                break loop
            }
        }
        let report = try thread.join()
        #expect(observations == 501)
        #expect(starts == 1 && terminals == 1)
        #expect(rewards == 500)
        #expect(report.episodeReturns.count == 1)
        #expect(abs(report.episodeReturns[0] - rewardSum) < 1e-3)
        #expect(report.episodeReturns[0] > 200, "observation-only controller return \(report.episodeReturns[0])")
        #expect(report.actionsApplied == 500 && report.actionsRefused == 0)
    }

    /// The served step loop (simulator thread) and the peer's receive/reply allocate
    /// nothing in steady state: counted over the server thread and this one (an allocation
    /// group; other threads cannot land in it), flat over 300 steps.
    @Test func lockstepStepLoopAllocatesNothing() throws {
        let group = iq_alloc_group_create()
        let previous = iq_alloc_group_current()
        iq_alloc_group_join(group)
        defer { iq_alloc_group_join(previous) }
        var c = SimServerConfig(task: .cheetahRun)
        // TCP, as deployed: over inproc the sender also signals the peer through libzmq's
        // command queue, which grows now and then (a 16-command chunk, posix_memalign on the
        // sending thread, measured once in ~3 runs of this window): Sources/IQLink/README.md.
        c.observationEndpoint = "tcp://127.0.0.1:*"
        c.episodes = 1
        c.faults.observationNoise = 0.01
        c.faults.actionDelaySteps = 2
        let server = try SimServer(config: c)
        let thread = ServerThread(server, allocationGroup: group)
        let ctl = try LockstepControllerEndpoint(connect: server.observationEndpoint)
        defer { ctl.close() }
        guard case .hello? = try ctl.receive(timeoutMs: 5000) else { Issue.record("no Hello"); return }
        try ctl.replyHelloAck(.accept(role: .controller, software: "test"))
        let action = UnsafeMutableBufferPointer<Float>.allocate(capacity: 6)
        action.initialize(repeating: 0)
        defer { action.deallocate() }
        var n = 0, before: UInt64 = 0, after: UInt64 = 0
        loop: while let f = try ctl.receive(timeoutMs: 5000) {
            switch f {
            case .observation(let o):
                n += 1
                if n == 100 { before = iq_alloc_group_count(group) }
                if n == 400 { after = iq_alloc_group_count(group) }
                for i in 0..<6 { action[i] = 10 * sin(Float(o.seq) * 0.1 + Float(i)) }
                try ctl.replyAction(seq: o.seq, observationSeq: o.seq, timestampNs: 0, values: UnsafeBufferPointer(action),
                                    diagnostics: PlanDiagnostics())
            case .shutdown:
                try ctl.replyHeartbeat()
                break loop
            default:
                break loop
            }
        }
        _ = try thread.join()
        #expect(n == 501)
        #expect(after - before == 0, "\(after - before) allocations over 300 served steps")
        let probe = iq_alloc_group_count(group)
        iq_alloc_probe()
        #expect(iq_alloc_group_count(group) > probe, "positive control")
    }

    /// Reset{seed} restarts the episode from that seed: same seed, same first observation.
    @Test func lockstepResetUsesTheControllersSeed() throws {
        var c = SimServerConfig(task: .reacher)
        c.observationEndpoint = tempEndpoint("sim")
        let server = try SimServer(config: c)
        let thread = ServerThread(server)
        let ctl = try LockstepControllerEndpoint(connect: server.observationEndpoint)
        defer { ctl.close() }
        guard case .hello? = try ctl.receive(timeoutMs: 5000) else { Issue.record("no Hello"); return }
        try ctl.replyHelloAck(.accept(role: .controller, software: "test"))
        var firsts: [[Float]] = []
        let zero: [Float] = [0, 0]
        for i in 0..<6 {
            guard case .observation(let o)? = try ctl.receive(timeoutMs: 5000) else { Issue.record("no observation"); return }
            if o.episodeStart { firsts.append(Array(o.values)) }
            if i == 1 || i == 3 { try ctl.replyReset(seed: 77) } else {
                try zero.withUnsafeBufferPointer { try ctl.replyAction(seq: UInt64(i + 1), observationSeq: o.seq, timestampNs: 0, values: $0, diagnostics: PlanDiagnostics()) }
            }
        }
        guard case .observation? = try ctl.receive(timeoutMs: 5000) else { Issue.record("no observation"); return }
        try ctl.replyShutdown(reason: "test done")
        let report = try thread.join()
        #expect(report.endReason == "controller sent Shutdown")
        #expect(firsts.count == 3)
        #expect(firsts[1] == firsts[2], "Reset{77} twice must give the same initial state")
        #expect(firsts[0] != firsts[1])
    }

    /// Injected faults are visible to the controller exactly as counted: seq gaps for
    /// drops, repeated seqs for duplicates, older seqs for reorders, all-NaN frames.
    @Test func lockstepFaultsReachTheController() throws {
        var c = SimServerConfig(task: .cartpoleSwingup)
        c.observationEndpoint = tempEndpoint("sim")
        c.episodes = 1
        c.faults.dropProbability = 0.05
        c.faults.duplicateProbability = 0.05
        c.faults.reorderProbability = 0.05
        c.faults.nanBurstProbability = 0.01
        c.faults.nanBurstLength = 3
        c.faults.seed = 12
        let server = try SimServer(config: c)
        let thread = ServerThread(server)
        let ctl = try LockstepControllerEndpoint(connect: server.observationEndpoint)
        defer { ctl.close() }
        guard case .hello? = try ctl.receive(timeoutMs: 5000) else { Issue.record("no Hello"); return }
        try ctl.replyHelloAck(.accept(role: .controller, software: "test"))
        var highest: UInt64 = 0, gaps = 0, duplicates = 0, older = 0, nanFrames = 0
        let zero: [Float] = [0]
        loop: while let f = try ctl.receive(timeoutMs: 5000) {
            switch f {
            case .observation(let o):
                if o.seq == highest { duplicates += 1 } else if o.seq < highest { older += 1 } else {
                    gaps += Int(o.seq - highest - 1)
                    highest = o.seq
                }
                if o.values.allSatisfy({ $0.isNaN }) { nanFrames += 1 }
                try zero.withUnsafeBufferPointer { try ctl.replyAction(seq: 1, observationSeq: o.seq, timestampNs: 0, values: $0, diagnostics: PlanDiagnostics()) }
            case .shutdown:
                try ctl.replyHeartbeat()
                break loop
            default:
                break loop
            }
        }
        let r = try thread.join()
        #expect(r.faults.dropped > 0 && r.faults.duplicated > 0 && r.faults.reordered > 0 && r.faults.nanFrames > 0)
        #expect(gaps == r.faults.dropped)
        #expect(duplicates == r.faults.duplicated)
        #expect(older == r.faults.reordered)
        // Duplicates and reorders re-send frames that may themselves be NaN.
        #expect(nanFrames >= r.faults.nanFrames)
        #expect(r.episodeReturns.count == 1)
    }

    /// Real-time mode: observations at a fixed period, actions matched by observation_seq.
    @Test func realtimeServesAtItsPeriod() throws {
        var c = SimServerConfig(task: .pendulumSwingup)
        c.mode = .realtime
        c.observationEndpoint = tempEndpoint("obs")
        c.actionEndpoint = tempEndpoint("act")
        c.periodMs = 2
        c.episodes = 1
        let server = try SimServer(config: c)
        let thread = ServerThread(server)
        let ctl = try FreeRunningControllerEndpoint(connectObservations: server.observationEndpoint,
                                                    connectActions: server.actionEndpoint!)
        defer { ctl.close() }
        var helloSeen = false, observations = 0, terminal = false, seq: UInt64 = 0
        var action: [Float] = [0]
        let start = Date()
        while !terminal && Date().timeIntervalSince(start) < 20 {
            guard let f = try ctl.receive(timeoutMs: 1000) else { continue }
            switch f {
            case .hello:
                helloSeen = true
                try ctl.sendHelloAck(.accept(role: .controller, software: "test"))
            case .observation(let o):
                observations += 1
                terminal = o.terminal
                action[0] = pendulumTorque(o.values)
                seq += 1
                try action.withUnsafeBufferPointer {
                    try ctl.sendAction(seq: seq, observationSeq: o.seq, timestampNs: linkMonotonicNs(), values: $0,
                                       diagnostics: PlanDiagnostics(source: .planner))
                }
            default:
                break
            }
        }
        let report = try thread.join()
        #expect(helloSeen && terminal)
        #expect(report.episodeReturns.count == 1)
        #expect(observations > 250, "conflation may skip some of 501 frames, not most: \(observations)")
        #expect(report.actionsApplied == 500)
        #expect(report.episodeReturns[0] > 150, "return \(report.episodeReturns[0])")
    }

    /// A controller that refuses the spec ends the session with a clear error.
    @Test func refusedHandshakeIsAnError() throws {
        var c = SimServerConfig(task: .reacher)
        c.observationEndpoint = tempEndpoint("sim")
        let server = try SimServer(config: c)
        let thread = ServerThread(server)
        let ctl = try LockstepControllerEndpoint(connect: server.observationEndpoint)
        defer { ctl.close() }
        guard case .hello? = try ctl.receive(timeoutMs: 5000) else { Issue.record("no Hello"); return }
        try ctl.replyHelloAck(.refuse(.specMismatch, message: "obsDim: plant 8, expected 3", role: .controller, software: "test"))
        #expect(throws: LinkError.self) { try thread.join() }
    }

    @Test func badFaultSettingsAreRejected() {
        var c = SimServerConfig(task: .reacher)
        c.observationEndpoint = tempEndpoint("sim")
        c.faults.dropProbability = 1.5
        #expect(throws: PlantError.self) { try SimServer(config: c) }
    }
}
