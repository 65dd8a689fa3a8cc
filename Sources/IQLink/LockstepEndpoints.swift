/// Lockstep mode (Proto/README.md): the simulator's REQ socket binds, the controller's REP
/// socket connects; every request gets exactly one reply.

/// One request is in flight normally; with REQ_RELAXED a plant that keeps re-sending to a
/// stuck controller could queue many, and queued frames reference send-ring slots. Small
/// high-water marks (the REQ's SNDHWM, the REP's RCVHWM for inproc pipes) make such sends
/// time out instead, so the ring is never overrun.
enum LockstepQueues {
    static let highWaterMark: Int32 = 2
    static let sendSlots = 8
}

/// The simulator side: binds a REQ socket, opens the session with Hello, then sends one
/// Observation per step and waits for the controller's Action, Reset or Shutdown.
///
/// `ZMQ_REQ_RELAXED` + `ZMQ_REQ_CORRELATE` let it give up on a reply and send again (a late
/// reply to an abandoned request is discarded by libzmq), so a restarted controller picks
/// the session up: after a `.timeout` from `exchange`, call `handshake` again.
/// One owner thread (`@unchecked Sendable` only so it can be moved to it).
public final class LockstepPlantEndpoint: @unchecked Sendable {
    public let socket: ZmqSocket
    public let codec: FrameCodec
    /// The bound endpoint with any wildcard port resolved.
    public let endpoint: String
    public var hello: HelloMessage
    private let receiver: FrameReceiver

    /// `curve`: the simulator is the CURVE server; only the listed controller keys get a session.
    public init(bind endpoint: String, spec: PlantSpec, role: Role = .simulator, software: String,
                context: ZmqContext = .shared, curve: CurveServerKeys? = nil,
                onRefusal: @escaping @Sendable (ZapRefusal) -> Void = { _ in }) throws(LinkError) {
        try spec.validate()
        socket = try ZmqSocket(.req, context: context, sendSlots: LockstepQueues.sendSlots)
        if let k = curve { try socket.makeCurveServer(k, onRefusal: onRefusal) }
        try socket.set(.sendHighWaterMark, LockstepQueues.highWaterMark)
        try socket.set(.requestRelaxed, 1)
        try socket.set(.requestCorrelate, 1)
        self.endpoint = try socket.bind(endpoint)
        codec = FrameCodec()
        receiver = FrameReceiver(codec: codec)
        hello = HelloMessage(role: role, spec: spec, software: software, mode: .lockstep)
    }

    /// Sends Hello until a HelloAck arrives, re-sending after each `attemptTimeoutMs`
    /// without an answer, for at most `attempts` tries. Throws `handshakeRefused` when the
    /// controller refuses the spec, `timeout` when nobody answered.
    @discardableResult
    public func handshake(attemptTimeoutMs: Int32 = 500, attempts: Int = 20) throws(LinkError) -> HelloAckMessage {
        let bytes = try codec.encodeHello(hello)
        try socket.set(.sendTimeoutMs, attemptTimeoutMs)
        for _ in 0..<max(attempts, 1) {
            do throws(LinkError) {
                try socket.send(bytes)
            } catch .timeout {
                continue    // no controller connected yet
            }
            guard let frame = try receiver.receive(socket, timeoutMs: attemptTimeoutMs) else { continue }
            if case .error(let e) = frame {
                // A controller may answer a Hello it cannot take with an Error: fatal ones
                // end the session, others (e.g. "busy") are retried.
                if e.fatal { throw .handshakeRefused(code: e.code, message: e.message) }
                continue
            }
            guard case .helloAck = frame else {
                throw .unexpectedBody(expected: .helloAck, got: frame.kind)
            }
            let ack = try codec.helloAck()
            if !ack.accepted {
                let e = ack.error ?? ErrorInfo(code: .none, fatal: true, message: "refused without a reason")
                throw .handshakeRefused(code: e.code, message: e.message)
            }
            if ack.protocolVersion != LinkBounds.protocolVersion {
                throw .handshakeRefused(code: .protocolVersion,
                                        message: "controller speaks protocol \(ack.protocolVersion), plant \(LinkBounds.protocolVersion)")
            }
            return ack
        }
        throw .timeout
    }

    /// Heartbeat requests of the lockstep queue warm-up (Proto/README.md).
    public static let queueWarmUpRequests = 128

    /// The lockstep queue warm-up (Proto/README.md, "Queue warm-up"), after an accepting
    /// HelloAck and before the first Observation: `requests` Heartbeats, each answered with a
    /// Heartbeat. A lockstep controller can only reply, so libzmq's one-time growth of its reply
    /// queue (a second 256-message chunk, near reply 85 with 3 messages per reply) and of its
    /// command queue happen in its steps unless the plant gives it replies to make first.
    /// Best effort: stops at the first request left unanswered within `timeoutMs` (the next
    /// request then goes out as usual, REQ_RELAXED). Returns the requests answered.
    @discardableResult
    public func warmUpQueues(requests: Int = queueWarmUpRequests, timeoutMs: Int32 = 500) throws(LinkError) -> Int {
        var answered = 0
        while answered < requests {
            try socket.send(codec.encodeHeartbeat(timestampNs: linkMonotonicNs(), role: hello.role))
            guard let frame = try receiver.receive(socket, timeoutMs: timeoutMs), case .heartbeat = frame else { break }
            answered += 1
        }
        return answered
    }

    /// Sends an observation and waits up to `timeoutMs` for the controller's answer
    /// (Action, Reset, Shutdown, or Error). Throws `timeout` when none came: the plant then
    /// re-handshakes. Allocation-free. The frame's views are valid until the next call.
    public func exchange(seq: UInt64, timestampNs: UInt64, values: UnsafeBufferPointer<Float>,
                         episodeStart: Bool = false, terminal: Bool = false, reward: Float? = nil,
                         episode: UInt32 = 0, timeoutMs: Int32 = 1000) throws(LinkError) -> Frame {
        let bytes = try codec.encodeObservation(seq: seq, timestampNs: timestampNs, values: values,
                                                episodeStart: episodeStart, terminal: terminal,
                                                reward: reward, episode: episode)
        try socket.send(bytes)
        guard let frame = try receiver.receive(socket, timeoutMs: timeoutMs) else { throw .timeout }
        return frame
    }

    /// Sends arbitrary bytes as one request and waits for the answer: fault injection
    /// (malformed or oversized frames) by test peers. Same contract as `exchange`.
    public func exchangeRaw(_ bytes: UnsafeRawBufferPointer, timeoutMs: Int32 = 1000) throws(LinkError) -> Frame {
        try socket.send(bytes)
        guard let frame = try receiver.receive(socket, timeoutMs: timeoutMs) else { throw .timeout }
        return frame
    }

    /// Answers the controller's Shutdown with a final Heartbeat (no reply expected).
    public func acknowledgeShutdown() throws(LinkError) {
        try socket.send(try codec.encodeHeartbeat(timestampNs: linkMonotonicNs(), role: hello.role))
    }

    public func close() { socket.close() }
}

/// The controller side (runtime, trainer): connects a REP socket; `receive` gets the next
/// request, and exactly one `reply…` must follow it — also when `receive` threw an error
/// with a `faultCode` (a frame arrived but was refused: answer it with the safe action).
/// Allocation-free per step except the handshake replies.
public final class LockstepControllerEndpoint: @unchecked Sendable {
    public let socket: ZmqSocket
    public let codec: FrameCodec
    public let endpoint: String
    private let receiver: FrameReceiver
    private let replyCodec = FrameCodec(arenaBytes: 4096)
    /// True between a received request and its reply.
    public private(set) var awaitingReply = false

    /// `curve`: connect only to the simulator holding the secret of `serverPublicKey`.
    public init(connect endpoint: String, context: ZmqContext = .shared, curve: CurveClientKeys? = nil) throws(LinkError) {
        socket = try ZmqSocket(.rep, context: context, sendSlots: LockstepQueues.sendSlots)
        if let k = curve { try socket.makeCurveClient(k) }
        try socket.set(.receiveHighWaterMark, LockstepQueues.highWaterMark)
        try socket.connect(endpoint)
        self.endpoint = endpoint
        codec = FrameCodec()
        receiver = FrameReceiver(codec: codec)
    }

    /// The next request, or nil after `timeoutMs` (-1: wait for ever).
    public func receive(timeoutMs: Int32 = -1) throws(LinkError) -> Frame? {
        do throws(LinkError) {
            let f = try receiver.receive(socket, timeoutMs: timeoutMs)
            if f != nil { awaitingReply = true }
            return f
        } catch {
            if error.faultCode != nil { awaitingReply = true }
            throw error
        }
    }

    /// The Hello just received (allocates).
    public func receivedHello() throws(LinkError) -> HelloMessage { try codec.hello() }

    public func replyHelloAck(_ ack: HelloAckMessage) throws(LinkError) {
        try reply(replyCodec.encodeHelloAck(ack))
    }

    public func replyAction(seq: UInt64, observationSeq: UInt64, timestampNs: UInt64,
                            values: UnsafeBufferPointer<Float>, diagnostics: PlanDiagnostics) throws(LinkError) {
        try reply(replyCodec.encodeAction(seq: seq, observationSeq: observationSeq, timestampNs: timestampNs,
                                          values: values, diagnostics: diagnostics))
    }

    public func replyReset(seed: UInt64) throws(LinkError) { try reply(replyCodec.encodeReset(seed: seed)) }

    public func replyShutdown(reason: String) throws(LinkError) { try reply(replyCodec.encodeShutdown(reason: reason)) }

    public func replyHeartbeat(role: Role = .controller) throws(LinkError) {
        try reply(replyCodec.encodeHeartbeat(timestampNs: linkMonotonicNs(), role: role))
    }

    public func replyError(code: ErrorCode, fatal: Bool, fault: FaultCode = .none, message: String) throws(LinkError) {
        try reply(replyCodec.encodeError(code: code, fatal: fatal, fault: fault, message: message))
    }

    private func reply(_ bytes: UnsafeRawBufferPointer) throws(LinkError) {
        try socket.send(bytes)
        awaitingReply = false
    }

    public func close() { socket.close() }
}
