import Foundation
import IQLink
import Synchronization

/// How the simulator pairs with its controller (Proto/README.md "Modes").
public enum SimMode: String, Sendable, CaseIterable {
    /// REQ bound on the observation endpoint; the plant waits for every answer.
    case lockstep
    /// PUSH (observations) + PULL (actions) bound; the plant steps at a fixed period.
    case realtime
}

public struct SimServerConfig: Sendable {
    public var task: TaskID
    public var mode: SimMode = .lockstep
    public var observationEndpoint = "tcp://127.0.0.1:5701"
    /// Real-time mode only.
    public var actionEndpoint = "tcp://127.0.0.1:5702"
    /// Real-time period in milliseconds; nil = the task's control period. (Lockstep ignores it.)
    public var periodMs: Double?
    /// Seed of the first episode; later episodes use seed + 1, + 2, … unless the controller
    /// answers `Reset{seed}`.
    public var seed: UInt64 = 1
    /// Stop after this many completed episodes (0 = run until Shutdown or `stop()`).
    public var episodes = 0
    public var faults = FaultConfig()
    /// Lockstep: re-handshake (re-send Hello, then the frame) when an answer takes longer
    /// than this; 0 or less waits for ever (a trainer that updates for minutes between
    /// steps; `stop()` then takes effect only after the next answer).
    public var replyTimeoutMs: Int32 = 5000
    /// Lockstep: run the queue warm-up (128 Heartbeat requests) after each accepted handshake,
    /// so a controller's steps allocate nothing from the first (Proto/README.md). Off by default:
    /// a controller that does not answer Heartbeats would see them where it expects observations.
    public var queueWarmUp = false
    /// Real time: apply zero command after this many periods without a fresh action.
    public var actionTimeoutPeriods = 5
    /// Attach the ground-truth reward (evaluation only) to observations.
    public var sendReward = true
    public var software = "iqmpc-sim 0.1"
    /// Real time only: record every frame sent and the action answering it (evaluation).
    public var recordPath: String?
    /// CURVE: the simulator is the server; only the listed controller keys get a session.
    public var curve: CurveServerKeys?
    /// Called (on the ZAP handler's thread) once per refused client key.
    public var onRefusal: @Sendable (ZapRefusal) -> Void = { r in
        FileHandle.standardError.write(Data("iqmpc-sim: \(r)\n".utf8))
    }

    public init(task: TaskID) { self.task = task }
}

/// What happened in a session.
public struct SimSessionReport: Sendable {
    /// Returns of completed episodes, in order.
    public var episodeReturns: [Double] = []
    public var framesSent = 0
    public var actionsApplied = 0
    /// Actions refused by the plant: wrong dimension, non-finite, or (real time) late,
    /// duplicate or out of order.
    public var actionsRefused = 0
    public var handshakes = 0
    /// Real time: ticks that started late by more than one period.
    public var overruns = 0
    public var faults = FaultCounters()
    public var endReason = ""
}

/// The simulator side of the wire protocol for one task: binds its sockets in `init`
/// (so a caller can connect right after, also over inproc:// in the same `ZmqContext`),
/// then `run()` serves until the controller sends Shutdown, `episodes` episodes are done,
/// or `stop()` is called from another thread. The step loop allocates nothing (returns are
/// appended once per episode into reserved capacity).
///
/// In-process use (trainer): `let s = try SimServer(config: c)`; start a thread running
/// `s.run()`; connect a `LockstepControllerEndpoint` to `s.observationEndpoint`.
public final class SimServer: @unchecked Sendable {
    // @unchecked: all mutable state is touched only by the thread in `run()`; `stop()`
    // writes an atomic.
    public let config: SimServerConfig
    public let plant: Plant
    public let faults: FaultInjector
    private let delay: ActionDelayLine
    private let lockstep: LockstepPlantEndpoint?
    private let freeRunning: FreeRunningPlantEndpoint?
    private let stopRequested = Atomic<Bool>(false)
    /// Resolved endpoints (wildcard ports filled in).
    public let observationEndpoint: String
    public let actionEndpoint: String?

    private let obs: UnsafeMutablePointer<Float>
    private let sent: UnsafeMutablePointer<Float>
    private let previous: UnsafeMutablePointer<Float>
    private let command: UnsafeMutablePointer<Float>
    private let applied: UnsafeMutablePointer<Float>
    private let zeros: UnsafeMutablePointer<Float>
    private var report = SimSessionReport()
    private var recorder: SessionRecorder?

    public init(config: SimServerConfig, context: ZmqContext = .shared) throws {
        try config.faults.validate()
        if let p = config.periodMs, !(p > 0 && p.isFinite) { throw PlantError.badArgument("--period-ms must be > 0, got \(p)") }
        guard config.episodes >= 0 else { throw PlantError.badArgument("--episodes must be >= 0") }
        self.config = config
        plant = try Plant(task: config.task)
        let spec = plant.info.plantSpec
        faults = FaultInjector(config: config.faults, obsDim: plant.info.obsDim)
        delay = ActionDelayLine(delay: config.faults.actionDelaySteps, actDim: plant.info.actDim)
        switch config.mode {
        case .lockstep:
            let e = try LockstepPlantEndpoint(bind: config.observationEndpoint, spec: spec, role: .simulator,
                                              software: config.software, context: context,
                                              curve: config.curve, onRefusal: config.onRefusal)
            lockstep = e; freeRunning = nil
            observationEndpoint = e.endpoint; actionEndpoint = nil
        case .realtime:
            let e = try FreeRunningPlantEndpoint(bindObservations: config.observationEndpoint,
                                                 bindActions: config.actionEndpoint, spec: spec, role: .simulator,
                                                 software: config.software, context: context,
                                                 curve: config.curve, onRefusal: config.onRefusal)
            lockstep = nil; freeRunning = e
            observationEndpoint = e.observationEndpoint; actionEndpoint = e.actionEndpoint
        }
        let o = plant.info.obsDim, a = plant.info.actDim
        obs = .allocate(capacity: o); sent = .allocate(capacity: o); previous = .allocate(capacity: o)
        command = .allocate(capacity: a); applied = .allocate(capacity: a); zeros = .allocate(capacity: a)
        for p in [obs, sent, previous] { p.initialize(repeating: 0, count: o) }
        for p in [command, applied, zeros] { p.initialize(repeating: 0, count: a) }
        report.episodeReturns.reserveCapacity(max(config.episodes, 1024))
    }

    deinit {
        lockstep?.close(); freeRunning?.close()
        for p in [obs, sent, previous, command, applied, zeros] { p.deallocate() }
    }

    /// Client handshakes refused by CURVE authentication (unknown keys), all sockets.
    public var refusedClients: UInt64 {
        (lockstep?.socket.refusedClients ?? 0) + (freeRunning.map { $0.observationSocket.refusedClients + $0.actionSocket.refusedClients } ?? 0)
    }

    /// Asks `run()` to return at its next check (within one exchange timeout or period).
    public func stop() { stopRequested.store(true, ordering: .relaxed) }
    var stopping: Bool { stopRequested.load(ordering: .relaxed) }

    /// Serves until Shutdown, the episode budget, or `stop()`. Throws on a refused
    /// handshake (spec mismatch: the simulator then exits) or a socket failure.
    public func run() throws -> SimSessionReport {
        report = SimSessionReport()
        report.episodeReturns.reserveCapacity(max(config.episodes, 1024))
        switch config.mode {
        case .lockstep: try runLockstep()
        case .realtime:
            if let path = config.recordPath {
                recorder = try SessionRecorder(path: path, spec: plant.info.plantSpec, seed: config.seed,
                                               source: config.software + " serve --mode realtime")
            }
            defer { try? recorder?.close(); recorder = nil }
            try runRealtime()
        }
        report.faults = faults.counters
        return report
    }

    // MARK: shared helpers

    var nextSeed: UInt64 = 0
    var episodeReturn = 0.0

    func startEpisode(seed: UInt64?) {
        let s: UInt64
        if let seed, seed != 0 { s = seed } else { s = nextSeed; nextSeed &+= 1 }
        plant.reset(seed: s)
        delay.reset()
        command.update(from: zeros, count: plant.info.actDim)
        episodeReturn = 0
    }

    /// True when the episode budget is exhausted.
    func finishEpisode() -> Bool {
        report.episodeReturns.append(episodeReturn)
        return config.episodes > 0 && report.episodeReturns.count >= config.episodes
    }

    /// Copies a received action into `command` if it is well formed; counts it otherwise.
    func accept(_ values: UnsafeBufferPointer<Float>) -> Bool {
        let n = plant.info.actDim
        guard values.count == n else { report.actionsRefused += 1; return false }
        for i in 0..<n where !values[i].isFinite { report.actionsRefused += 1; return false }
        for i in 0..<n { command[i] = values[i] }
        return true
    }

    /// One control step with `command` through the delay line.
    func stepPlant(_ cmd: UnsafeMutablePointer<Float>) {
        delay.push(cmd, output: applied)
        episodeReturn += plant.step(physical: applied)
        report.actionsApplied += 1
    }

    func sleepMs(_ ms: Int) { if ms > 0 { usleep(UInt32(ms) * 1000) } }

    // MARK: lockstep

    private func handshakeLockstep(_ e: LockstepPlantEndpoint) throws -> Bool {
        while !stopping {
            do throws(LinkError) {
                try e.handshake(attemptTimeoutMs: 250, attempts: 1)
                report.handshakes += 1
                if config.queueWarmUp { try e.warmUpQueues() }
                return true
            } catch {
                if error != .timeout { throw error }
            }
        }
        return false
    }

    private func runLockstep() throws {
        guard let e = lockstep else { return }
        let replyTimeout: Int32 = config.replyTimeoutMs > 0 ? config.replyTimeoutMs : -1
        let o = plant.info.obsDim
        nextSeed = config.seed
        var seq: UInt64 = 0, previousSeq: UInt64 = 0, havePrevious = false
        var episodeStart = true
        startEpisode(seed: nil)
        guard try handshakeLockstep(e) else { report.endReason = "stopped"; return }
        let span = { (p: UnsafeMutablePointer<Float>) in UnsafeBufferPointer(start: p, count: o) }

        /// Sends an extra (duplicate or reordered) frame; its answer is discarded unless it
        /// ends the session. Returns true on Shutdown.
        func sideExchange(_ values: UnsafeMutablePointer<Float>, _ s: UInt64) throws -> Bool {
            let result: Result<Frame, LinkError>
            do throws(LinkError) {
                result = .success(try e.exchange(seq: s, timestampNs: linkMonotonicNs(), values: span(values),
                                                 episode: plant.episode, timeoutMs: replyTimeout))
            } catch {
                result = .failure(error)
            }
            switch result {
            case .success(let f):
                report.framesSent += 1
                if case .shutdown = f { try e.acknowledgeShutdown(); return true }
            case .failure(let err):
                if err == .timeout { _ = try handshakeLockstep(e) } else if err.faultCode == nil { throw err }
            }
            return false
        }

        while !stopping {
            let terminal = plant.isTerminal
            let reward: Float? = (plant.stepIndex > 0 && config.sendReward) ? Float(plant.lastReward) : nil
            plant.observe(into: obs)
            seq &+= 1
            if !episodeStart && !terminal && faults.shouldDrop() {
                stepPlant(command)   // the controller never sees this frame: hold the last command
                continue
            }
            sleepMs(faults.stallMs())
            sent.update(from: obs, count: o)
            faults.corrupt(sent)
            var frame: Frame?
            while true {
                let result: Result<Frame, LinkError>
                do throws(LinkError) {
                    result = .success(try e.exchange(seq: seq, timestampNs: linkMonotonicNs(), values: span(sent),
                                                     episodeStart: episodeStart, terminal: terminal, reward: reward,
                                                     episode: plant.episode, timeoutMs: replyTimeout))
                } catch {
                    result = .failure(error)
                }
                if case .success(let f) = result { frame = f; report.framesSent += 1; break }
                guard case .failure(let err) = result else { break }
                if err == .timeout {
                    // The controller went away: pick the session up again, resend the frame.
                    guard try handshakeLockstep(e) else { report.endReason = "stopped"; return }
                } else if err.faultCode != nil {
                    frame = nil   // garbled answer: counted below, treated as no action
                    break
                } else {
                    throw err
                }
            }
            episodeStart = false
            var resetSeed: UInt64? = nil
            switch frame {
            case .action(let a)?:
                if !accept(a.values) { command.update(from: zeros, count: plant.info.actDim) }
            case .reset(let s)?:
                resetSeed = s
            case .shutdown?:
                try e.acknowledgeShutdown()
                report.endReason = "controller sent Shutdown"
                return
            case .error(let err)? where err.fatal:
                report.endReason = "controller sent a fatal error: \(err.message)"
                return
            case .error(let err)? where err.fault == .noHandshake:
                // The controller lost the session (it restarted): say Hello again, and
                // the controller answers the next frame.
                report.actionsRefused += 1
                guard try handshakeLockstep(e) else { report.endReason = "stopped"; return }
            default:
                report.actionsRefused += 1
            }
            if faults.shouldDuplicate(), try sideExchange(sent, seq) { report.endReason = "controller sent Shutdown"; return }
            if havePrevious, faults.shouldReorder(), try sideExchange(previous, previousSeq) {
                report.endReason = "controller sent Shutdown"; return
            }
            previous.update(from: sent, count: o); previousSeq = seq; havePrevious = true
            if let s = resetSeed {
                if plant.stepIndex > 0, finishEpisode() { try endLockstep(e); return }
                startEpisode(seed: s)
                episodeStart = true
            } else if terminal {
                if finishEpisode() { try endLockstep(e); return }
                startEpisode(seed: nil)
                episodeStart = true
            } else {
                stepPlant(command)
            }
        }
        report.endReason = "stopped"
    }

    /// Episode budget reached: tell the controller (Shutdown request, answer awaited briefly).
    private func endLockstep(_ e: LockstepPlantEndpoint) throws {
        report.endReason = "completed \(report.episodeReturns.count) episodes"
        let bytes = try e.codec.encodeShutdown(reason: "iqmpc-sim: episode budget reached")
        try e.socket.send(bytes)
        _ = try? e.socket.pollReadable(timeoutMs: 500)
    }

    // MARK: real time

    private func handshakeFree(_ e: FreeRunningPlantEndpoint) throws -> Bool {
        while !stopping {
            do throws(LinkError) {
                try e.handshake(timeoutMs: 500, helloIntervalMs: 100)
                report.handshakes += 1
                return true
            } catch {
                if error != .timeout { throw error }
            }
        }
        return false
    }

    /// The episode budget is spent right after the terminal frame went out: wait up to two
    /// periods for its answer so the last frame is answered (and recorded) like every other.
    private func awaitFinalAnswer(_ e: FreeRunningPlantEndpoint, seq: UInt64, periodNs: UInt64) throws {
        let end = linkMonotonicNs() &+ 2 &* periodNs
        while linkMonotonicNs() < end {
            let waitMs = Int32(max(1, (end &- linkMonotonicNs()) / 1_000_000))
            let frame: Frame?
            do throws(LinkError) { frame = try e.receive(timeoutMs: waitMs) } catch {
                if error.faultCode == nil { throw error }
                continue
            }
            if case .action(let a)? = frame, a.observationSeq == seq {
                if accept(a.values) { try recorder?.answered(a) }
                return
            }
        }
    }

    private func runRealtime() throws {
        guard let e = freeRunning else { return }
        let o = plant.info.obsDim
        let periodNs = UInt64(((config.periodMs ?? plant.info.controlPeriod * 1000) * 1e6).rounded())
        let span = { (p: UnsafeMutablePointer<Float>) in UnsafeBufferPointer(start: p, count: o) }
        nextSeed = config.seed
        startEpisode(seed: nil)
        guard try handshakeFree(e) else { report.endReason = "stopped"; return }
        var seq: UInt64 = 0, lastAnswered: UInt64 = 0, previousSeq: UInt64 = 0, havePrevious = false
        var tick = 0, lastActionTick = Int.min / 2
        var episodeStart = true
        var next = linkMonotonicNs()
        while !stopping {
            // Take actions until the next tick.
            while true {
                let now = linkMonotonicNs()
                if now >= next { break }
                let waitMs = Int32(max(1, (next - now) / 1_000_000))
                let result: Result<Frame?, LinkError>
                do throws(LinkError) { result = .success(try e.receive(timeoutMs: waitMs)) } catch { result = .failure(error) }
                let frame: Frame
                switch result {
                case .success(let f?): frame = f
                case .success(nil): continue
                case .failure(let err):
                    if err.faultCode == nil { throw err }
                    report.actionsRefused += 1
                    continue
                }
                switch frame {
                case .action(let a):
                    // Only an answer to a frame not yet answered, newer than the last one.
                    if a.observationSeq > lastAnswered && a.observationSeq <= seq && accept(a.values) {
                        lastAnswered = a.observationSeq
                        lastActionTick = tick
                        try recorder?.answered(a)
                    } else {
                        report.actionsRefused += 1
                    }
                case .error(let err):
                    if err.fatal { report.endReason = "controller sent a fatal error: \(err.message)"; return }
                    if err.fault == .noHandshake {
                        guard try handshakeFree(e) else { report.endReason = "stopped"; return }
                        next = linkMonotonicNs()
                    }
                case .shutdown:
                    report.endReason = "controller sent Shutdown"
                    return
                default:
                    break
                }
            }
            let now = linkMonotonicNs()
            next &+= periodNs
            if now > next { report.overruns += 1; next = now &+ periodNs }
            tick += 1
            if !episodeStart {
                if tick - lastActionTick > config.actionTimeoutPeriods { command.update(from: zeros, count: plant.info.actDim) }
                stepPlant(command)
            }
            sleepMs(faults.stallMs())
            let terminal = plant.isTerminal
            let reward: Float? = (plant.stepIndex > 0 && config.sendReward) ? Float(plant.lastReward) : nil
            plant.observe(into: obs)
            seq &+= 1
            if episodeStart || terminal || !faults.shouldDrop() {
                sent.update(from: obs, count: o)
                faults.corrupt(sent)
                let reorder = havePrevious && faults.shouldReorder()
                let sentNs = linkMonotonicNs()
                try e.pushObservation(seq: seq, timestampNs: sentNs, values: span(sent),
                                      episodeStart: episodeStart, terminal: terminal, reward: reward,
                                      episode: plant.episode)
                report.framesSent += 1
                try recorder?.sent(ObservationRecord(seq: seq, timestampNs: sentNs, values: Array(span(sent)),
                                                     episodeStart: episodeStart, terminal: terminal,
                                                     reward: reward, episode: plant.episode))
                if faults.shouldDuplicate() {
                    try e.pushObservation(seq: seq, timestampNs: linkMonotonicNs(), values: span(sent),
                                          episodeStart: episodeStart, terminal: terminal, reward: reward,
                                          episode: plant.episode)
                    report.framesSent += 1
                }
                if reorder {
                    try e.pushObservation(seq: previousSeq, timestampNs: linkMonotonicNs(), values: span(previous),
                                          episode: plant.episode)
                    report.framesSent += 1
                }
                previous.update(from: sent, count: o); previousSeq = seq; havePrevious = true
            }
            episodeStart = false
            if terminal {
                if finishEpisode() {
                    try awaitFinalAnswer(e, seq: seq, periodNs: periodNs)
                    report.endReason = "completed \(report.episodeReturns.count) episodes"
                    return
                }
                startEpisode(seed: nil)
                episodeStart = true
            }
        }
        report.endReason = "stopped"
    }
}
