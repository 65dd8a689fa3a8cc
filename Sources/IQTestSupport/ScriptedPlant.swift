#if canImport(Glibc)
import Glibc
#endif
import IQLink

/// What a `ScriptedPlant` does to one frame: the bad inputs a controller must survive.
public enum PlantInjection: Sendable, Equatable {
    case normal
    /// values[index] = NaN.
    case nonFinite(index: Int)
    /// `count` values instead of obsDim (at most MAX_OBS_DIM; beyond that use `oversized`).
    case wrongLength(count: Int)
    /// Bytes that do not parse as an Envelope.
    case malformed
    /// A well-formed Observation envelope padded past MAX_FRAME_BYTES.
    case oversized
    /// Re-sends the previous seq.
    case duplicate
    /// A seq lower than the previous one.
    case outOfOrder
    /// A timestamp `ageNs` in the past.
    case stale(ageNs: UInt64)
    /// A value outside its channel's [low, high] (by 10x the span).
    case outOfRange(index: Int)
    /// Free-running only: sends nothing for `ms` (the controller's watchdog should fire).
    case silence(ms: Int)

    /// Frames the controller can attribute (it knows their seq) and must answer.
    var expectsAnswer: Bool {
        switch self {
        case .normal, .nonFinite, .wrongLength, .stale, .outOfRange: return true
        default: return false
        }
    }
}

/// What a scripted run observed, for tests to assert on.
public struct ScriptedPlantReport: Sendable, Equatable {
    /// Observation frames sent (including injected ones).
    public var framesSent = 0
    /// Frames the controller could attribute (see `PlantInjection.expectsAnswer`).
    public var framesExpectingAnswer = 0
    /// Actions (or, lockstep, Resets) answering the frame just sent / a sent seq.
    public var answered = 0
    /// Expected answers that never came.
    public var unanswered = 0
    /// Free-running: actions for a seq that was already answered (must stay 0).
    public var duplicateAnswers = 0
    /// Actions with observation_seq 0 (watchdog, shutdown) or an unknown seq.
    public var unsolicitedActions = 0
    /// Actions by `ActionSource.rawValue`.
    public var actionsBySource = [Int](repeating: 0, count: ActionSource.allCases.count)
    /// Actions flagged with each `FaultCode.rawValue` in their diagnostics.
    public var faultsFlagged = [Int](repeating: 0, count: FaultCode.allCases.count)
    /// Actions with a non-finite value or outside the spec's actuator limits (must stay 0).
    public var outOfLimitActions = 0
    /// Error frames received, by `FaultCode.rawValue`.
    public var errorsByFault = [Int](repeating: 0, count: FaultCode.allCases.count)
    public var resets = 0
    public var shutdownReceived = false
    /// Lockstep: reply timeouts (each followed by a re-handshake).
    public var timeouts = 0
    /// Free-running: Hellos re-sent after an `Error{FAULT_NO_HANDSHAKE}`.
    public var rehandshakes = 0
    /// Largest observation-to-answer time seen, nanoseconds.
    public var maxAnswerNs: UInt64 = 0

    public init() {}
    public func flagged(_ f: FaultCode) -> Int { faultsFlagged[Int(f.rawValue)] }
    public func actions(from s: ActionSource) -> Int { actionsBySource[Int(s.rawValue)] }
    public func errors(_ f: FaultCode) -> Int { errorsByFault[Int(f.rawValue)] }
}

/// A plant that drives a controller over the real protocol from a script: the test peer
/// for runtime and trainer tests. It binds like a simulator or robot would (lockstep: REQ;
/// free-running: PUSH + PULL), handshakes, sends `frames` observations with optional
/// injected faults, checks every answer (matching seq, diagnostics, actuator limits) and
/// returns a report. Steady-state runs are allocation-free (reports use fixed arrays,
/// values are generated in place), so it can share a process with an allocation test of
/// the controller; injected faults and re-handshakes may allocate.
///
/// Observation values are smooth, deterministic functions of seq inside each channel's
/// bounds unless `values` is given. One thread runs it (`@unchecked Sendable` so it can be
/// handed to that thread).
public final class ScriptedPlant: @unchecked Sendable {
    public let spec: PlantSpec
    public let mode: LinkMode
    private var lockstep: LockstepPlantEndpoint?
    private var freeRunning: FreeRunningPlantEndpoint?
    /// Endpoints the controller connects to (the plant binds them).
    public let observationEndpoint: String
    public let actionEndpoint: String?
    /// Fills the observation for a seq; defaults to `defaultValues`.
    public var values: (UInt64, UnsafeMutableBufferPointer<Float>) -> Void
    /// The reward sent with a seq's observation; none by default.
    public var reward: (UInt64) -> Float? = { _ in nil }
    private let buffer: UnsafeMutableBufferPointer<Float>
    private let scratch: UnsafeMutableRawBufferPointer
    private let limits: [(Float, Float)]

    /// Binds; `actions` is required for free-running. Use "tcp://127.0.0.1:*" for ephemeral ports.
    public init(mode: LinkMode, spec: PlantSpec, observations: String, actions: String? = nil,
                software: String = "iqlink scripted plant", context: ZmqContext = .shared) throws(LinkError) {
        self.spec = spec
        self.mode = mode
        switch mode {
        case .lockstep:
            let e = try LockstepPlantEndpoint(bind: observations, spec: spec, role: .simulator, software: software, context: context)
            lockstep = e
            observationEndpoint = e.endpoint
            actionEndpoint = nil
        default:
            guard let actions else { throw .invalidSpec("a free-running plant needs an action endpoint") }
            let e = try FreeRunningPlantEndpoint(bindObservations: observations, bindActions: actions, spec: spec,
                                                 role: .robot, software: software, context: context)
            freeRunning = e
            observationEndpoint = e.observationEndpoint
            actionEndpoint = e.actionEndpoint
        }
        buffer = .allocate(capacity: LinkBounds.maxObsDim)
        buffer.initialize(repeating: 0)
        scratch = .allocate(byteCount: LinkBounds.maxControlBytes, alignment: 16)
        scratch.initializeMemory(as: UInt8.self, repeating: 0)
        limits = spec.actions.map { ($0.low, $0.high) }
        let channels = spec.observations
        values = { seq, out in ScriptedPlant.defaultValues(channels, seq, out) }
    }

    deinit {
        close()
        buffer.deallocate()
        scratch.deallocate()
    }

    public func close() {
        lockstep?.close()
        freeRunning?.close()
    }

    /// Mid-range plus a slow sinusoid at 40% of each channel's half-span.
    public static func defaultValues(_ channels: [PlantSpec.Channel], _ seq: UInt64, _ out: UnsafeMutableBufferPointer<Float>) {
        for i in 0..<min(channels.count, out.count) {
            let c = channels[i]
            let mid = (c.low + c.high) / 2, half = (c.high - c.low) / 2
            out[i] = mid + 0.4 * half * sinf(Float(seq % 10_000) * 0.05 + Float(i))
        }
    }

    // MARK: Lockstep

    /// Handshakes, then sends `frames` observations (seq 1...), one per answer. A Reset
    /// starts a new episode (next frame has episode_start); a Shutdown ends the run early.
    /// A reply timeout counts as unanswered and is followed by a re-handshake.
    public func runLockstep(frames: Int, timeoutMs: Int32 = 2000, handshake: Bool = true,
                            injection: (UInt64) -> PlantInjection = { _ in .normal }) throws(LinkError) -> ScriptedPlantReport {
        guard let e = lockstep else { throw .invalidSpec("plant is not in lockstep mode") }
        var report = ScriptedPlantReport()
        if handshake { try e.handshake(attemptTimeoutMs: 500, attempts: 40) }
        var seq: UInt64 = 0
        var episodeStart = true
        for k in 1...max(frames, 1) {
            let inj = injection(UInt64(k))
            let sentSeq = nextSeq(&seq, inj)
            let t0 = linkMonotonicNs()
            let bytes = try encode(seq: sentSeq, injection: inj, episodeStart: episodeStart, now: t0, codec: e.codec)
            episodeStart = false
            report.framesSent += 1
            if inj.expectsAnswer { report.framesExpectingAnswer += 1 }
            let frame: Frame
            do throws(LinkError) {
                frame = try e.exchangeRaw(bytes, timeoutMs: timeoutMs)
            } catch .timeout {
                report.timeouts += 1
                if inj.expectsAnswer { report.unanswered += 1 }
                try e.handshake(attemptTimeoutMs: 500, attempts: 40)
                episodeStart = true
                continue
            }
            let answerNs = linkMonotonicNs() - t0
            switch frame {
            case .action(let a):
                record(a, &report)
                if inj.expectsAnswer {
                    if a.observationSeq == sentSeq { report.answered += 1 } else { report.unanswered += 1 }
                }
                if answerNs > report.maxAnswerNs { report.maxAnswerNs = answerNs }
            case .reset:
                report.resets += 1
                if inj.expectsAnswer { report.answered += 1 }
                episodeStart = true
            case .shutdown:
                report.shutdownReceived = true
                if inj.expectsAnswer { report.answered += 1 }
                try e.acknowledgeShutdown()
                return report
            case .error(let err):
                report.errorsByFault[Int(err.fault.rawValue)] += 1
                if inj.expectsAnswer { report.unanswered += 1 }
            default:
                if inj.expectsAnswer { report.unanswered += 1 }
            }
        }
        return report
    }

    // MARK: Free-running

    /// Handshakes (Hello every 100 ms), then pushes `frames` observations every `periodNs`,
    /// collecting actions in between and for `graceMs` after the last frame. Each sent seq
    /// may be answered at most once; with a conflating controller skipped frames stay
    /// unanswered, so tests that need every frame answered pace the plant slower than the
    /// controller.
    public func runFreeRunning(frames: Int, periodNs: UInt64, graceMs: Int = 300, handshake: Bool = true,
                               injection: (UInt64) -> PlantInjection = { _ in .normal }) throws(LinkError) -> ScriptedPlantReport {
        guard let e = freeRunning else { throw .invalidSpec("plant is not in free-running mode") }
        var report = ScriptedPlantReport()
        if handshake { try e.handshake(timeoutMs: 10_000) }
        // Per-seq state: 0 never sent/ignored, 1 awaiting an answer, 2 answered.
        var state = [UInt8](repeating: 0, count: frames + 2)
        var sentAt = [UInt64](repeating: 0, count: frames + 2)
        var seq: UInt64 = 0
        var next = linkMonotonicNs()
        for k in 1...max(frames, 1) {
            let inj = injection(UInt64(k))
            if case .silence(let ms) = inj {
                try drain(e, until: linkMonotonicNs() + UInt64(ms) * 1_000_000, &state, &sentAt, &report)
                next = linkMonotonicNs()
                continue
            }
            let sentSeq = nextSeq(&seq, inj)
            let now = linkMonotonicNs()
            let bytes = try encode(seq: sentSeq, injection: inj, episodeStart: k == 1, now: now, codec: e.codec)
            if try e.pushRaw(bytes) {
                report.framesSent += 1
                if inj.expectsAnswer, Int(sentSeq) < state.count, state[Int(sentSeq)] == 0 {
                    state[Int(sentSeq)] = 1
                    sentAt[Int(sentSeq)] = now
                    report.framesExpectingAnswer += 1
                }
            }
            next += periodNs
            let refusedBefore = report.errors(.noHandshake)
            try drain(e, until: next, &state, &sentAt, &report)
            if report.errors(.noHandshake) != refusedBefore {
                // The controller lost (or never had) the session: Hello again (Proto/README.md).
                report.rehandshakes += 1
                try e.handshake(timeoutMs: 10_000)
                next = linkMonotonicNs()
            }
        }
        try drain(e, until: linkMonotonicNs() + UInt64(graceMs) * 1_000_000, &state, &sentAt, &report)
        for s in state where s == 1 { report.unanswered += 1 }
        return report
    }

    private func drain(_ e: FreeRunningPlantEndpoint, until deadline: UInt64, _ state: inout [UInt8],
                       _ sentAt: inout [UInt64], _ report: inout ScriptedPlantReport) throws(LinkError) {
        while true {
            let now = linkMonotonicNs()
            if now >= deadline { return }
            let waitMs = Int32(min((deadline - now + 999_999) / 1_000_000, 1000))
            guard let frame = try e.receive(timeoutMs: max(waitMs, 1)) else { continue }
            switch frame {
            case .action(let a):
                record(a, &report)
                let s = Int(a.observationSeq)
                if a.observationSeq == 0 || s >= state.count || state[s] == 0 {
                    report.unsolicitedActions += 1
                } else if state[s] == 2 {
                    report.duplicateAnswers += 1
                } else {
                    state[s] = 2
                    report.answered += 1
                    let dt = linkMonotonicNs() - sentAt[s]
                    if dt > report.maxAnswerNs { report.maxAnswerNs = dt }
                }
            case .error(let err):
                report.errorsByFault[Int(err.fault.rawValue)] += 1
            default:
                break
            }
        }
    }

    // MARK: Frame construction

    private func nextSeq(_ seq: inout UInt64, _ inj: PlantInjection) -> UInt64 {
        switch inj {
        case .duplicate: return max(seq, 1)
        case .outOfOrder: return seq > 2 ? seq - 2 : 0
        default:
            seq += 1
            return seq
        }
    }

    private func encode(seq: UInt64, injection: PlantInjection, episodeStart: Bool, now: UInt64,
                        codec: FrameCodec) throws(LinkError) -> UnsafeRawBufferPointer {
        let dim = spec.obsDim
        values(seq, UnsafeMutableBufferPointer(rebasing: buffer[0..<dim]))
        var count = dim
        var timestamp = now
        switch injection {
        case .nonFinite(let i): buffer[min(max(i, 0), dim - 1)] = .nan
        case .wrongLength(let n):
            count = min(max(n, 0), LinkBounds.maxObsDim)
            for i in dim..<max(dim, count) { buffer[i] = 0 }
        case .stale(let age): timestamp = now > age ? now - age : 0
        case .outOfRange(let i):
            let c = spec.observations[min(max(i, 0), dim - 1)]
            buffer[min(max(i, 0), dim - 1)] = c.high + 10 * max(c.high - c.low, 1)
        case .malformed:
            let garbage: [UInt8] = [0x1a, 0x7f, 0xff, 0xff, 0x08]
            for (i, b) in garbage.enumerated() { scratch[i] = b }
            return UnsafeRawBufferPointer(rebasing: scratch[0..<garbage.count])
        case .oversized:
            return oversizedFrame(seq: seq, timestamp: now)
        default: break
        }
        return try codec.encodeObservation(seq: seq, timestampNs: timestamp,
                                           values: UnsafeBufferPointer(rebasing: buffer[0..<count]),
                                           episodeStart: episodeStart, reward: reward(seq))
    }

    /// Envelope{observation{seq, timestamp, unknown field 15 of MAX_FRAME_BYTES bytes}}.
    private func oversizedFrame(seq: UInt64, timestamp: UInt64) -> UnsafeRawBufferPointer {
        var n = 0
        func put(_ b: UInt8) { scratch[n] = b; n += 1 }
        func varint(_ v: UInt64) { var x = v; repeat { let b = UInt8(x & 0x7f); x >>= 7; put(x == 0 ? b : b | 0x80) } while x != 0 }
        let pad = LinkBounds.maxFrameBytes
        var inner = 0
        for v in [seq, timestamp] { inner += 1; var x = v; repeat { inner += 1; x >>= 7 } while x != 0 }
        inner += 1 + 2 + pad  // tag 15 (1 byte), length varint (2 bytes for 4096), payload
        put(0x1a); varint(UInt64(inner))
        put(0x08); varint(seq)
        put(0x10); varint(timestamp)
        put(0x7a); varint(UInt64(pad))
        for _ in 0..<pad { put(0x55) }
        return UnsafeRawBufferPointer(rebasing: scratch[0..<n])
    }

    private func record(_ a: ActionView, _ report: inout ScriptedPlantReport) {
        report.actionsBySource[Int(a.diagnostics.source.rawValue)] += 1
        report.faultsFlagged[Int(a.diagnostics.fault.rawValue)] += 1
        var bad = a.values.count != limits.count
        if !bad {
            for i in 0..<limits.count {
                let v = a.values[i]
                if !v.isFinite || v < limits[i].0 || v > limits[i].1 { bad = true }
            }
        }
        if bad { report.outOfLimitActions += 1 }
    }
}
