import Foundation
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

    /// Connects to a lockstep simulator at `address` and completes the handshake.
    public init(connect address: String, timeoutMs: Int32 = 60_000) throws {
        do { endpoint = try LockstepControllerEndpoint(connect: address) } catch {
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
                guard o.values.count == obsDim else {
                    throw TrainError.environment("observation seq \(o.seq) has \(o.values.count) values, expected \(obsDim)")
                }
                for i in 0..<obsDim { out[i] = o.values[i] }
                lastObsSeq = o.seq
                holding = true
                return (o.reward, o.terminal, o.episodeStart)
            case .heartbeat:
                try? endpoint.replyHeartbeat(role: .trainer)
            case .shutdown:
                holding = false
                throw TrainError.environment("simulator shut the session down")
            default:
                throw TrainError.environment("unexpected \(frame.kind) frame from the simulator")
            }
        }
    }

    public func reset(seed: UInt64, observation: UnsafeMutableBufferPointer<Float>) throws {
        if !holding { _ = try receiveObservation(into: observation) }
        do { try endpoint.replyReset(seed: seed == 0 ? 1 : seed) } catch { throw TrainError.environment("reset failed: \(error)") }
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
        holding = false
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
