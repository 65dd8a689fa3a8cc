import IQProto
import CProtobufC

/// Decodes and encodes `iqmpc.v1.Envelope` frames without touching the heap.
///
/// API (the shape the runtime, plants and trainer rely on):
/// - `decode(_ bytes:) throws(LinkError) -> Frame` unpacks into this codec's arena (a bump
///   allocator over memory reserved at init) and returns typed views. Views point into the
///   arena and are valid until the next `decode`. Size rules: more than `MAX_CONTROL_BYTES`
///   is oversized; an Observation/Action/Heartbeat/Error envelope over `MAX_FRAME_BYTES` is
///   oversized; `Observation.values` over `MAX_OBS_DIM` or `Action.values` over `MAX_ACT_DIM`
///   is `dimensionOutOfBounds`. Nothing is ever truncated.
/// - `hello()`, `helloAck()`, `shutdownReason()`, `telemetry()` read the last decoded control
///   body into Swift values (these allocate; handshake/control only).
/// - `encodeObservation/Action/Heartbeat/Error/Reset/Shutdown/Telemetry(...)` pack into the
///   codec's own buffer and return the bytes (valid until the next encode); the static
///   `FrameEncoder` functions do the same into a caller buffer. Hot-path encoders never
///   allocate; `encodeHello`/`encodeHelloAck` do.
///
/// Allocation trap for callers: catch with `do throws(LinkError) { … } catch { … }`. A
/// plain `do { … } catch` erases the error to `any Error`, which boxes it on the heap.
/// (Under Swift Testing every throw also allocates through its backtrace hook; see
/// `ThrowHooks.suspended` in IQTestSupport for measuring fault paths in tests.)
///
/// One codec per thread: it is a mutable scratch object. `@unchecked Sendable` so that it
/// can be handed to the thread that owns it; it must not be used from two at once.
public final class FrameCodec: @unchecked Sendable {
    /// Default arena: enough for any `MAX_CONTROL_BYTES` message of ordinary shape, and
    /// ~500x a hot frame, so that only hostile inputs hit `arenaExhausted`.
    public static let defaultArenaBytes = 2 << 20

    private let arenaMemory: UnsafeMutableRawPointer
    private let arena: UnsafeMutablePointer<IqmpcArena>
    private let arenaBytes: Int
    private var envelope: UnsafeMutablePointer<Iqmpc__V1__Envelope>?
    private let packBuffer: UnsafeMutableRawBufferPointer
    /// The bytes of the last decode (the caller's buffer): the control-body accessors,
    /// called right after `decode`, re-check them for NUL bytes inside strings.
    private var lastBytes: UnsafeRawPointer?
    private var lastCount = 0

    public init(arenaBytes: Int = FrameCodec.defaultArenaBytes) {
        self.arenaBytes = arenaBytes
        arenaMemory = UnsafeMutableRawPointer.allocate(byteCount: arenaBytes, alignment: 64)
        // Touch every page now so that mlockall and the first decode see no page faults.
        arenaMemory.initializeMemory(as: UInt8.self, repeating: 0, count: arenaBytes)
        arena = .allocate(capacity: 1)
        iqmpc_arena_init(arena, arenaMemory, arenaBytes)
        packBuffer = .allocate(byteCount: LinkBounds.maxControlBytes, alignment: 64)
        packBuffer.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit {
        arenaMemory.deallocate()
        arena.deallocate()
        packBuffer.deallocate()
    }

    /// Largest arena use seen so far (for sizing reports).
    public var arenaHighWater: Int { arena.pointee.high_water }

    // MARK: Decode

    public func decode(_ bytes: UnsafeRawBufferPointer) throws(LinkError) -> Frame {
        try decode(bytes.baseAddress, count: bytes.count)
    }

    public func decode(_ bytes: UnsafeRawPointer?, count: Int) throws(LinkError) -> Frame {
        envelope = nil
        lastBytes = bytes
        lastCount = count
        if count > LinkBounds.maxControlBytes {
            throw .oversized(byteCount: count, limit: LinkBounds.maxControlBytes)
        }
        iqmpc_arena_reset(arena)
        let refusedBefore = arena.pointee.exhausted
        // protobuf-c never reads `data` when len is 0, but wants a non-NULL pointer.
        let data = (bytes ?? UnsafeRawPointer(arenaMemory)).assumingMemoryBound(to: UInt8.self)
        guard let env = iqmpc__v1__envelope__unpack(&arena.pointee.allocator, count, data) else {
            if arena.pointee.exhausted != refusedBefore {
                throw .arenaExhausted(byteCount: count, arenaBytes: arenaBytes)
            }
            throw .malformed(byteCount: count)
        }
        envelope = env
        let kind = BodyKind(rawValue: env.pointee.body_case.rawValue) ?? .none
        if kind.isHotFrame && count > LinkBounds.maxFrameBytes {
            throw .oversized(byteCount: count, limit: LinkBounds.maxFrameBytes)
        }
        switch kind {
        case .none:
            throw .emptyEnvelope
        case .observation:
            guard let o = env.pointee.observation else { throw .malformed(byteCount: count) }
            if o.pointee.n_values > LinkBounds.maxObsDim {
                throw .dimensionOutOfBounds(field: .observationValues, count: o.pointee.n_values, limit: LinkBounds.maxObsDim)
            }
            return .observation(ObservationView(o))
        case .action:
            guard let a = env.pointee.action else { throw .malformed(byteCount: count) }
            if a.pointee.n_values > LinkBounds.maxActDim {
                throw .dimensionOutOfBounds(field: .actionValues, count: a.pointee.n_values, limit: LinkBounds.maxActDim)
            }
            return .action(ActionView(a))
        case .reset:
            guard let r = env.pointee.reset else { throw .malformed(byteCount: count) }
            return .reset(seed: r.pointee.seed)
        case .heartbeat:
            guard let h = env.pointee.heartbeat else { throw .malformed(byteCount: count) }
            return .heartbeat(HeartbeatView(timestampNs: h.pointee.timestamp_ns, role: Role(wire: h.pointee.role)))
        case .error:
            guard let e = env.pointee.error else { throw .malformed(byteCount: count) }
            return .error(ErrorView(e))
        case .hello: return .hello
        case .helloAck: return .helloAck
        case .shutdown: return .shutdown
        case .telemetry: return .telemetry
        }
    }

    /// The last decoded envelope's Hello, converted and validated (allocates).
    public func hello() throws(LinkError) -> HelloMessage {
        guard let env = envelope, env.pointee.body_case == IQMPC__V1__ENVELOPE__BODY_HELLO,
              let h = env.pointee.hello else {
            throw .unexpectedBody(expected: .hello, got: currentKind)
        }
        if stringsHaveNul {
            throw .invalidSpec("a string in the Hello (robot_id, a channel name or unit, software) contains a NUL byte")
        }
        return try HelloMessage(c: h)
    }

    /// True when a string field of the last decoded envelope contains a NUL byte, which
    /// protobuf-c's C strings would silently cut ("pendulum-swingup\0evil").
    private var stringsHaveNul: Bool {
        guard let b = lastBytes else { return false }
        return iqmpc_envelope_strings_have_nul(b.assumingMemoryBound(to: UInt8.self), lastCount) == 1
    }

    /// The last decoded envelope's HelloAck (allocates).
    public func helloAck() throws(LinkError) -> HelloAckMessage {
        guard let env = envelope, env.pointee.body_case == IQMPC__V1__ENVELOPE__BODY_HELLO_ACK,
              let h = env.pointee.hello_ack else {
            throw .unexpectedBody(expected: .helloAck, got: currentKind)
        }
        if stringsHaveNul { throw .malformed(byteCount: lastCount) }
        return HelloAckMessage(c: h)
    }

    /// The last decoded envelope's Shutdown reason (allocates).
    public func shutdownReason() throws(LinkError) -> String {
        guard let env = envelope, env.pointee.body_case == IQMPC__V1__ENVELOPE__BODY_SHUTDOWN,
              let s = env.pointee.shutdown else {
            throw .unexpectedBody(expected: .shutdown, got: currentKind)
        }
        if stringsHaveNul { throw .malformed(byteCount: lastCount) }
        return cString(s.pointee.reason)
    }

    /// The last decoded envelope's Telemetry (no allocation).
    public func telemetry() throws(LinkError) -> TelemetrySample {
        guard let env = envelope, env.pointee.body_case == IQMPC__V1__ENVELOPE__BODY_TELEMETRY,
              let t = env.pointee.telemetry else {
            throw .unexpectedBody(expected: .telemetry, got: currentKind)
        }
        return TelemetrySample(c: t)
    }

    private var currentKind: BodyKind {
        guard let env = envelope else { return .none }
        return BodyKind(rawValue: env.pointee.body_case.rawValue) ?? .none
    }

    // MARK: Encode into the codec's own buffer (bytes valid until the next encode).

    private var out: UnsafeMutableRawBufferPointer { packBuffer }

    public func encodeObservation(seq: UInt64, timestampNs: UInt64, values: UnsafeBufferPointer<Float>,
                                  episodeStart: Bool = false, terminal: Bool = false,
                                  reward: Float? = nil, episode: UInt32 = 0) throws(LinkError) -> UnsafeRawBufferPointer {
        let n = try FrameEncoder.observation(seq: seq, timestampNs: timestampNs, values: values,
                                             episodeStart: episodeStart, terminal: terminal,
                                             reward: reward, episode: episode, into: out)
        return UnsafeRawBufferPointer(rebasing: out[0..<n])
    }

    public func encodeAction(seq: UInt64, observationSeq: UInt64, timestampNs: UInt64,
                             values: UnsafeBufferPointer<Float>,
                             diagnostics: PlanDiagnostics) throws(LinkError) -> UnsafeRawBufferPointer {
        let n = try FrameEncoder.action(seq: seq, observationSeq: observationSeq, timestampNs: timestampNs,
                                        values: values, diagnostics: diagnostics, into: out)
        return UnsafeRawBufferPointer(rebasing: out[0..<n])
    }

    public func encodeHeartbeat(timestampNs: UInt64, role: Role) throws(LinkError) -> UnsafeRawBufferPointer {
        let n = try FrameEncoder.heartbeat(timestampNs: timestampNs, role: role, into: out)
        return UnsafeRawBufferPointer(rebasing: out[0..<n])
    }

    public func encodeError(code: ErrorCode, fatal: Bool, fault: FaultCode = .none,
                            message: String) throws(LinkError) -> UnsafeRawBufferPointer {
        let n = try FrameEncoder.error(code: code, fatal: fatal, fault: fault, message: message, into: out)
        return UnsafeRawBufferPointer(rebasing: out[0..<n])
    }

    public func encodeReset(seed: UInt64) throws(LinkError) -> UnsafeRawBufferPointer {
        let n = try FrameEncoder.reset(seed: seed, into: out)
        return UnsafeRawBufferPointer(rebasing: out[0..<n])
    }

    public func encodeShutdown(reason: String) throws(LinkError) -> UnsafeRawBufferPointer {
        let n = try FrameEncoder.shutdown(reason: reason, into: out)
        return UnsafeRawBufferPointer(rebasing: out[0..<n])
    }

    public func encodeTelemetry(_ sample: TelemetrySample) throws(LinkError) -> UnsafeRawBufferPointer {
        let n = try FrameEncoder.telemetry(sample, into: out)
        return UnsafeRawBufferPointer(rebasing: out[0..<n])
    }

    public func encodeHello(_ hello: HelloMessage) throws(LinkError) -> UnsafeRawBufferPointer {
        let n = try FrameEncoder.hello(hello, into: out)
        return UnsafeRawBufferPointer(rebasing: out[0..<n])
    }

    public func encodeHelloAck(_ ack: HelloAckMessage) throws(LinkError) -> UnsafeRawBufferPointer {
        let n = try FrameEncoder.helloAck(ack, into: out)
        return UnsafeRawBufferPointer(rebasing: out[0..<n])
    }
}

