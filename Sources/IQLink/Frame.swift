import IQProto

/// A decoded envelope. Hot-path bodies are views whose pointers point into the decoding
/// `FrameCodec`'s arena: they are valid until that codec's next `decode` and must not be
/// kept. Handshake and control bodies are read through the codec's allocating accessors
/// (`hello()`, `helloAck()`, `shutdownReason()`, `telemetry()`), which is fine off the hot path.
public enum Frame {
    case observation(ObservationView)
    case action(ActionView)
    case reset(seed: UInt64)
    case heartbeat(HeartbeatView)
    case error(ErrorView)
    case hello
    case helloAck
    case shutdown
    case telemetry

    public var kind: BodyKind {
        switch self {
        case .observation: return .observation
        case .action: return .action
        case .reset: return .reset
        case .heartbeat: return .heartbeat
        case .error: return .error
        case .hello: return .hello
        case .helloAck: return .helloAck
        case .shutdown: return .shutdown
        case .telemetry: return .telemetry
        }
    }
}

/// `iqmpc.v1.Observation` in the arena. `values.count` is within `MAX_OBS_DIM` (checked by
/// the decoder) but is NOT checked against the plant's `obsDim`, nor for NaN: that is the
/// safety supervisor's job, and it needs to see the bad values to count them.
public struct ObservationView {
    public let seq: UInt64
    public let timestampNs: UInt64
    public let values: UnsafeBufferPointer<Float>
    public let episodeStart: Bool
    public let terminal: Bool
    /// Ground-truth reward (evaluation only), `nil` unless `reward_present`.
    public let reward: Float?
    public let episode: UInt32

    init(_ o: UnsafePointer<Iqmpc__V1__Observation>) {
        let m = o.pointee
        seq = m.seq
        timestampNs = m.timestamp_ns
        values = UnsafeBufferPointer(start: m.values, count: m.n_values)
        episodeStart = m.episode_start != 0
        terminal = m.terminal != 0
        reward = m.reward_present != 0 ? m.reward : nil
        episode = m.episode
    }
}

/// `iqmpc.v1.Action` in the arena; `values.count` is within `MAX_ACT_DIM`.
public struct ActionView {
    public let seq: UInt64
    public let observationSeq: UInt64
    public let timestampNs: UInt64
    public let values: UnsafeBufferPointer<Float>
    /// Defaults (all zero) when the sender left diagnostics out.
    public let diagnostics: PlanDiagnostics

    init(_ a: UnsafePointer<Iqmpc__V1__Action>) {
        let m = a.pointee
        seq = m.seq
        observationSeq = m.observation_seq
        timestampNs = m.timestamp_ns
        values = UnsafeBufferPointer(start: m.values, count: m.n_values)
        if let d = m.diagnostics?.pointee {
            diagnostics = PlanDiagnostics(source: ActionSource(wire: d.source), iterations: d.iterations,
                                          planTimeUs: d.plan_time_us, deadlineMissed: d.deadline_missed != 0,
                                          fault: FaultCode(wire: d.fault))
        } else {
            diagnostics = PlanDiagnostics()
        }
    }
}

/// `iqmpc.v1.Heartbeat`.
public struct HeartbeatView: Equatable, Sendable {
    public let timestampNs: UInt64
    public let role: Role
}

/// `iqmpc.v1.Error` in the arena. `message` copies the text (allocates); read
/// `messagePointer` on the hot path.
public struct ErrorView {
    public let code: ErrorCode
    public let fatal: Bool
    public let fault: FaultCode
    public let messagePointer: UnsafePointer<CChar>?

    init(_ e: UnsafePointer<Iqmpc__V1__Error>) {
        let m = e.pointee
        code = ErrorCode(wire: m.code)
        fatal = m.fatal != 0
        fault = FaultCode(wire: m.fault)
        messagePointer = m.message.map { UnsafePointer($0) }
    }

    public var message: String { messagePointer.map { String(cString: $0) } ?? "" }
}
