/// Free-running mode (Proto/README.md): the robot (or real-time simulator) binds a PUSH
/// socket for observations and a PULL socket for actions; the controller connects a
/// conflating PULL (latest frame only) and a non-blocking PUSH.
///
/// Queue bounds are small and explicit because `ZmqSocket` sends by reference from a ring
/// of `sendSlots` buffers: a slot must not be reused while libzmq may still hold it, so
/// every ring here is several times larger than the queue that could hold its messages.
enum FreeRunningQueues {
    /// SNDHWM of both PUSH sockets, RCVHWM of the robot's action PULL.
    static let highWaterMark: Int32 = 4
    /// > SNDHWM + peer RCVHWM (the inproc pipe bound) with room to spare.
    static let sendSlots = 32
}

/// The robot/simulator side. Pushes Hello every `helloIntervalMs` until the controller's
/// HelloAck arrives on the action socket, then streams observations; pushes never block
/// (a frame nobody takes is dropped and counted in `socket.droppedSends`).
public final class FreeRunningPlantEndpoint: @unchecked Sendable {
    public let observationSocket: ZmqSocket
    public let actionSocket: ZmqSocket
    public let codec: FrameCodec
    public let observationEndpoint: String
    public let actionEndpoint: String
    public var hello: HelloMessage
    private let receiver: FrameReceiver

    /// `curve`: both sockets are CURVE servers; only the listed controller keys may read
    /// observations or deliver actions (a rogue PUSH without an authorised key gets no session).
    public init(bindObservations obsEndpoint: String, bindActions actEndpoint: String, spec: PlantSpec,
                role: Role = .robot, software: String, context: ZmqContext = .shared,
                curve: CurveServerKeys? = nil,
                onRefusal: @escaping @Sendable (ZapRefusal) -> Void = { _ in }) throws(LinkError) {
        try spec.validate()
        observationSocket = try ZmqSocket(.push, context: context, sendSlots: FreeRunningQueues.sendSlots)
        if let k = curve { try observationSocket.makeCurveServer(k, onRefusal: onRefusal) }
        try observationSocket.set(.sendHighWaterMark, FreeRunningQueues.highWaterMark)
        try observationSocket.set(.immediate, 1)
        observationEndpoint = try observationSocket.bind(obsEndpoint)
        actionSocket = try ZmqSocket(.pull, context: context, sendSlots: 2)
        if let k = curve { try actionSocket.makeCurveServer(k, onRefusal: onRefusal) }
        try actionSocket.set(.receiveHighWaterMark, FreeRunningQueues.highWaterMark)
        actionEndpoint = try actionSocket.bind(actEndpoint)
        codec = FrameCodec()
        receiver = FrameReceiver(codec: codec)
        hello = HelloMessage(role: role, spec: spec, software: software, mode: .freeRunning)
    }

    /// Pushes Hello every `helloIntervalMs` until a HelloAck arrives or `timeoutMs` passes.
    /// Other frames arriving meanwhile (late actions of an old session) are ignored.
    @discardableResult
    public func handshake(timeoutMs: Int = 5000, helloIntervalMs: Int32 = 100) throws(LinkError) -> HelloAckMessage {
        let deadline = linkMonotonicNs() + UInt64(max(timeoutMs, 0)) * 1_000_000
        let bytes = try codec.encodeHello(hello)
        // The Hello must survive later encodes into the codec's buffer: keep a copy.
        let helloBytes = Array(bytes)
        repeat {
            let sent: Result<Bool, LinkError> = helloBytes.withUnsafeBytes { b in
                Result { () throws(LinkError) in try observationSocket.send(b, dontWait: true) }
            }
            _ = try sent.get()
            let waitUntil = min(deadline, linkMonotonicNs() + UInt64(helloIntervalMs) * 1_000_000)
            while true {
                let now = linkMonotonicNs()
                if now >= waitUntil { break }
                guard let frame = try receiver.receive(actionSocket, timeoutMs: Int32(max(1, (waitUntil - now) / 1_000_000))) else { continue }
                guard case .helloAck = frame else { continue }
                let ack = try codec.helloAck()
                if !ack.accepted {
                    let e = ack.error ?? ErrorInfo(code: .none, fatal: true, message: "refused without a reason")
                    throw .handshakeRefused(code: e.code, message: e.message)
                }
                return ack
            }
        } while linkMonotonicNs() < deadline
        throw .timeout
    }

    /// Pushes one observation without blocking; false when it was dropped. Allocation-free.
    @discardableResult
    public func pushObservation(seq: UInt64, timestampNs: UInt64, values: UnsafeBufferPointer<Float>,
                                episodeStart: Bool = false, terminal: Bool = false, reward: Float? = nil,
                                episode: UInt32 = 0) throws(LinkError) -> Bool {
        let bytes = try codec.encodeObservation(seq: seq, timestampNs: timestampNs, values: values,
                                                episodeStart: episodeStart, terminal: terminal,
                                                reward: reward, episode: episode)
        return try observationSocket.send(bytes, dontWait: true)
    }

    /// Pushes arbitrary bytes without blocking: fault injection by test peers.
    @discardableResult
    public func pushRaw(_ bytes: UnsafeRawBufferPointer) throws(LinkError) -> Bool {
        try observationSocket.send(bytes, dontWait: true)
    }

    /// Pushes a Heartbeat without blocking.
    @discardableResult
    public func pushHeartbeat() throws(LinkError) -> Bool {
        try observationSocket.send(codec.encodeHeartbeat(timestampNs: linkMonotonicNs(), role: hello.role), dontWait: true)
    }

    /// The next frame from the controller (Action, Error, Heartbeat, HelloAck), or nil
    /// after `timeoutMs`. Views are valid until the next receive. Allocation-free.
    public func receive(timeoutMs: Int32) throws(LinkError) -> Frame? {
        try receiver.receive(actionSocket, timeoutMs: timeoutMs)
    }

    public func close() {
        observationSocket.close()
        actionSocket.close()
    }
}

/// The controller side (runtime). Observations arrive on a conflating PULL, so a slow
/// controller sees only the newest frame (the runtime counts skipped ones from `seq`
/// gaps); actions leave through a PUSH that never blocks: a send that cannot be queued is
/// dropped and counted in `droppedActions`.
public final class FreeRunningControllerEndpoint: @unchecked Sendable {
    public let observationSocket: ZmqSocket
    public let actionSocket: ZmqSocket
    public let codec: FrameCodec
    private let receiver: FrameReceiver
    private let sendCodec = FrameCodec(arenaBytes: 4096)

    public init(connectObservations obsEndpoint: String, connectActions actEndpoint: String,
                context: ZmqContext = .shared, curve: CurveClientKeys? = nil) throws(LinkError) {
        observationSocket = try ZmqSocket(.pull, context: context, sendSlots: 2)
        if let k = curve { try observationSocket.makeCurveClient(k) }
        // CONFLATE must be set before connecting.
        try observationSocket.set(.conflate, 1)
        try observationSocket.connect(obsEndpoint)
        actionSocket = try ZmqSocket(.push, context: context, sendSlots: FreeRunningQueues.sendSlots)
        if let k = curve { try actionSocket.makeCurveClient(k) }
        try actionSocket.set(.sendHighWaterMark, FreeRunningQueues.highWaterMark)
        try actionSocket.set(.immediate, 1)
        try actionSocket.connect(actEndpoint)
        codec = FrameCodec()
        receiver = FrameReceiver(codec: codec)
    }

    /// Actions (and other frames) dropped because the action queue was full or unconnected.
    public var droppedActions: UInt64 { actionSocket.droppedSends }

    /// The newest frame, or nil after `timeoutMs`. Errors with a `faultCode` are refused
    /// frames. Views are valid until the next receive. Allocation-free.
    public func receive(timeoutMs: Int32) throws(LinkError) -> Frame? {
        try receiver.receive(observationSocket, timeoutMs: timeoutMs)
    }

    /// The Hello just received (allocates).
    public func receivedHello() throws(LinkError) -> HelloMessage { try codec.hello() }

    @discardableResult
    public func sendAction(seq: UInt64, observationSeq: UInt64, timestampNs: UInt64,
                           values: UnsafeBufferPointer<Float>, diagnostics: PlanDiagnostics) throws(LinkError) -> Bool {
        try actionSocket.send(sendCodec.encodeAction(seq: seq, observationSeq: observationSeq, timestampNs: timestampNs,
                                                     values: values, diagnostics: diagnostics), dontWait: true)
    }

    @discardableResult
    public func sendHelloAck(_ ack: HelloAckMessage) throws(LinkError) -> Bool {
        try actionSocket.send(sendCodec.encodeHelloAck(ack), dontWait: true)
    }

    @discardableResult
    public func sendError(code: ErrorCode, fatal: Bool, fault: FaultCode = .none, message: String) throws(LinkError) -> Bool {
        try actionSocket.send(sendCodec.encodeError(code: code, fatal: fatal, fault: fault, message: message), dontWait: true)
    }

    @discardableResult
    public func sendHeartbeat(role: Role = .controller) throws(LinkError) -> Bool {
        try actionSocket.send(sendCodec.encodeHeartbeat(timestampNs: linkMonotonicNs(), role: role), dontWait: true)
    }

    /// Heartbeats pushed by `warmUpActionQueue`: one libzmq message-pipe chunk (256 messages).
    public static let queueWarmUpFrames = 256

    /// The queue warm-up (Proto/README.md, "Queue warm-up"): pushes `frames` Heartbeats on
    /// the action socket, waiting for room (SNDHWM is small) up to `timeoutMs` in all.
    ///
    /// Why: libzmq queues a connection's outgoing messages in chunks of 256 (its
    /// message_pipe_granularity). The first time the sending thread fills a connection's first
    /// chunk it allocates a second one (posix_memalign, ~16 KiB); from then on the two
    /// alternate, the reader handing back the one it emptied. Without this, that one
    /// allocation falls into the control step that sends the ~255th message of the session.
    /// Plants discard controller Heartbeats, so the warm-up changes nothing they act on.
    /// Returns the number queued (less than `frames` only when the time ran out).
    /// Allocates (once per connection): call it between sessions' control messages, never in a step.
    public func warmUpActionQueue(frames: Int = queueWarmUpFrames, timeoutMs: Int = 1000) throws(LinkError) -> Int {
        let deadline = linkMonotonicNs() + UInt64(max(timeoutMs, 0)) * 1_000_000
        let previousTimeout = try actionSocket.get(.sendTimeoutMs)
        try actionSocket.set(.sendTimeoutMs, 20)
        defer { try? actionSocket.set(.sendTimeoutMs, previousTimeout) }
        var queued = 0
        while queued < frames && linkMonotonicNs() < deadline {
            do throws(LinkError) {
                try actionSocket.send(sendCodec.encodeHeartbeat(timestampNs: linkMonotonicNs(), role: .controller))
                queued += 1
            } catch .timeout {
                continue     // the queue is full for now: the I/O thread is draining it
            }
        }
        return queued
    }

    public func close() {
        observationSocket.close()
        actionSocket.close()
    }
}
