import Foundation
import IQCalibration
import IQLink
import IQPlants

/// A simulator reached through the wire protocol in lockstep mode (Proto/README.md): the
/// plant's REQ sends each observation and waits; this side (REP) answers with an action or
/// `Reset{seed}`. Used for the in-process plant (a `SimServer` on its own thread over
/// inproc://) and for any external simulator endpoint.
public final class WireEnvironment: TrainingEnvironment, @unchecked Sendable {
    // Safety: all calls come from the training thread; the in-process server runs on its own
    // thread and only talks to us through the socket.
    let endpoint: LockstepControllerEndpoint
    public let spec: PlantSpec
    public let obsDim: Int
    public let actDim: Int
    public let episodeLength: Int
    let timeoutMs: Int32
    var holding = false
    var actionSeq: UInt64 = 0
    var lastObsSeq: UInt64 = 0
    var server: SimServer?
    var serverThread: Thread?
    /// The last answer sent, re-sent when the simulator re-handshakes and repeats the frame
    /// it was answering (Proto/README.md: a simulator re-sends Hello after a late answer).
    enum LastReply { case none, action, reset(UInt64) }
    var lastReply = LastReply.none
    var lastAction: [Float]
    var answeredSeq: UInt64 = 0
    var rehandshaken = false
    /// Hellos re-acknowledged after the first (a slow trainer makes a simulator re-send it).
    public private(set) var rehandshakes = 0
    /// Accepted range of each observation channel: unbounded (finiteness only) until
    /// `check(against:)` adopts the calibration's, the ranges the runtime enforces. The
    /// simulator's announced bounds are not used: they are nominal, with no slack for rounding.
    var obsNames: [String]
    var obsLow: [Float]
    var obsHigh: [Float]
    /// Actions answered so far, for naming the step of a refused observation.
    public private(set) var stepsTaken = 0

    /// Connects to a lockstep simulator at `address` and completes the handshake. `curve`:
    /// talk only to the simulator holding that server key (the calibration's `link.security`).
    public init(connect address: String, timeoutMs: Int32 = 60_000, curve: CurveClientKeys? = nil) throws {
        do { endpoint = try LockstepControllerEndpoint(connect: address, curve: curve) } catch {
            throw TrainError.environment("cannot connect to \(address): \(error)")
        }
        self.timeoutMs = timeoutMs
        let hello: HelloMessage
        do {
            guard let f = try endpoint.receive(timeoutMs: timeoutMs) else {
                throw TrainError.environment("no Hello from \(address) within \(timeoutMs) ms (is a lockstep simulator bound there?)")
            }
            guard case .hello = f else { throw TrainError.environment("expected Hello from \(address), got \(f.kind)") }
            hello = try endpoint.receivedHello()
            try endpoint.replyHelloAck(.accept(role: .trainer, software: "iqmpc-train"))
        } catch let e as TrainError { throw e } catch {
            throw TrainError.environment("handshake with \(address) failed: \(error)")
        }
        spec = hello.spec
        obsDim = spec.obsDim
        actDim = spec.actDim
        lastAction = [Float](repeating: 0, count: spec.actDim)
        obsNames = spec.observations.map(\.name)
        obsLow = [Float](repeating: -.infinity, count: spec.obsDim)
        obsHigh = [Float](repeating: .infinity, count: spec.obsDim)
        episodeLength = Int(spec.episodeLength)
        guard episodeLength > 0 else { throw TrainError.environment("simulator at \(address) announces no episode length") }
    }

    /// Starts `task` in this process (a `SimServer` thread bound to a private inproc://
    /// address) and connects to it. Its reply timeout is effectively unlimited because the
    /// seed-phase burst of updates keeps an observation unanswered for minutes.
    public static func inProcess(task: TaskID) throws -> WireEnvironment {
        var c = SimServerConfig(task: task)
        c.mode = .lockstep
        c.observationEndpoint = "inproc://iqmpc-train-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        c.replyTimeoutMs = Int32.max
        c.software = "iqmpc-train in-process plant"
        let server = try SimServer(config: c)
        let thread = Thread { _ = try? server.run() }
        thread.stackSize = 8 << 20
        thread.start()
        let env = try WireEnvironment(connect: server.observationEndpoint)
        env.server = server
        env.serverThread = thread
        return env
    }

    /// Refuses a simulator whose spec is not the one the calibration (and so the model and
    /// the demonstrations) describe: robot id, channel names and units, and period, not
    /// just the dimensions, so that a wrong plant fails here rather than at deployment.
    public func check(against calibration: Calibration) throws {
        let problems = calibration.mismatches(with: spec, peer: "simulator", checks: [.controlPeriod])
        if !problems.isEmpty {
            throw TrainError.environment("the simulator's spec does not match the calibration: " + problems.joined(separator: "; "))
        }
        obsNames = calibration.observations.map(\.name)
        obsLow = calibration.observations.map(\.low)
        obsHigh = calibration.observations.map(\.high)
    }

    /// A re-sent Hello: the same plant must be behind it; it is acknowledged again and the
    /// frame the simulator repeats next gets the answer it missed.
    func reacknowledge() throws {
        let hello: HelloMessage
        do { hello = try endpoint.receivedHello() } catch { throw TrainError.environment("unreadable re-sent Hello: \(error)") }
        guard hello.spec == spec else {
            try? endpoint.replyHelloAck(.refuse(.specMismatch, message: "the simulator's spec changed within a training run",
                                                role: .trainer, software: "iqmpc-train"))
            throw TrainError.environment("the simulator re-sent Hello with a different spec: \(hello.spec), was \(spec)")
        }
        do { try endpoint.replyHelloAck(.accept(role: .trainer, software: "iqmpc-train")) } catch {
            throw TrainError.environment("re-acknowledging Hello failed: \(error)")
        }
        rehandshakes += 1
        rehandshaken = true
    }

    /// Re-sends the answer to frame `seq` when it is the one the simulator missed.
    func repeatAnswer(to seq: UInt64) throws -> Bool {
        guard rehandshaken, seq == answeredSeq else { return false }
        rehandshaken = false
        do {
            switch lastReply {
            case .none: return false
            case .action:
                actionSeq &+= 1
                try lastAction.withUnsafeBufferPointer { a in
                    try endpoint.replyAction(seq: actionSeq, observationSeq: seq, timestampNs: 0, values: a,
                                             diagnostics: PlanDiagnostics())
                }
            case .reset(let s):
                try endpoint.replyReset(seed: s)
            }
        } catch { throw TrainError.environment("re-sending the answer to frame \(seq) failed: \(error)") }
        return true
    }

    /// Next frame, which must be an observation; copies its values.
    func receiveObservation(into out: UnsafeMutableBufferPointer<Float>) throws -> (reward: Float?, terminal: Bool, start: Bool) {
        while true {
            let frame: Frame?
            do { frame = try endpoint.receive(timeoutMs: timeoutMs) } catch {
                throw TrainError.environment("receive failed: \(error)")
            }
            guard let frame else { throw TrainError.environment("simulator silent for \(timeoutMs) ms") }
            switch frame {
            case .observation(let o):
                if try repeatAnswer(to: o.seq) { continue }
                rehandshaken = false
                guard o.values.count == obsDim else {
                    throw TrainError.environment("observation seq \(o.seq) has \(o.values.count) values, expected \(obsDim)")
                }
                for i in 0..<obsDim { out[i] = o.values[i] }
                lastObsSeq = o.seq
                holding = true
                try admit(out, reward: o.reward, seq: o.seq)
                return (o.reward, o.terminal, o.episodeStart)
            case .heartbeat:
                try? endpoint.replyHeartbeat(role: .trainer)
            case .hello:
                try reacknowledge()
            case .shutdown:
                holding = false
                throw TrainError.environment("simulator shut the session down")
            default:
                throw TrainError.environment("unexpected \(frame.kind) frame from the simulator")
            }
        }
    }

    /// Refuses an observation the runtime would refuse (the same `ObservationAdmission`
    /// rule), and a reward that is sent but not finite. One
    /// such frame would turn every later loss into NaN, so the run stops at that frame,
    /// naming it; the plant is still owed an answer, so `close()` sends it Shutdown.
    func admit(_ values: UnsafeMutableBufferPointer<Float>, reward: Float?, seq: UInt64) throws {
        let refused = obsLow.withUnsafeBufferPointer { lo in obsHigh.withUnsafeBufferPointer { hi in
            ObservationAdmission.firstRefusal(values.baseAddress!, low: lo.baseAddress!, high: hi.baseAddress!, count: obsDim)
        } }
        let at = "observation seq \(seq) (after \(stepsTaken) env steps)"
        if let (i, reason) = refused {
            let v = values[i]
            switch reason {
            case .nonFinite:
                throw TrainError.environment("\(at): channel \(obsNames[i]) is \(v), not a finite number; refusing to train on it")
            case .outOfRange:
                throw TrainError.environment("\(at): channel \(obsNames[i]) = \(v) is outside the accepted range \(obsLow[i]) ... \(obsHigh[i]); refusing to train on it")
            }
        }
        if let reward, !reward.isFinite {
            throw TrainError.environment("\(at): reward is \(reward), not a finite number; refusing to train on it")
        }
    }

    public func reset(seed: UInt64, observation: UnsafeMutableBufferPointer<Float>) throws {
        if !holding { _ = try receiveObservation(into: observation) }
        let s = seed == 0 ? 1 : seed
        do { try endpoint.replyReset(seed: s) } catch { throw TrainError.environment("reset failed: \(error)") }
        lastReply = .reset(s)
        answeredSeq = lastObsSeq
        holding = false
        let r = try receiveObservation(into: observation)
        guard r.start else { throw TrainError.environment("simulator did not start an episode after Reset") }
    }

    public func step(action: UnsafeBufferPointer<Float>, observation: UnsafeMutableBufferPointer<Float>) throws -> (reward: Float, terminal: Bool) {
        precondition(holding, "step before reset")
        actionSeq &+= 1
        do {
            try endpoint.replyAction(seq: actionSeq, observationSeq: lastObsSeq, timestampNs: 0, values: action,
                                     diagnostics: PlanDiagnostics())
        } catch { throw TrainError.environment("sending action failed: \(error)") }
        for i in 0..<min(actDim, action.count) { lastAction[i] = action[i] }
        lastReply = .action
        answeredSeq = lastObsSeq
        holding = false
        stepsTaken += 1
        let r = try receiveObservation(into: observation)
        return (r.reward ?? .nan, r.terminal)
    }

    public func close() {
        if holding { try? endpoint.replyShutdown(reason: "iqmpc-train done"); holding = false }
        server?.stop()
        endpoint.close()
        server = nil
    }

    deinit { close() }
}
