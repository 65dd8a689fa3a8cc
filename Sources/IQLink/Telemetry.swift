/// The controller's telemetry: a PUB socket it binds (the one socket a controller binds),
/// one Telemetry envelope per control step, never blocking (PUB drops for slow
/// subscribers at SNDHWM 64). Allocation-free per `publish`. In-process (inproc://)
/// subscribers other than `TelemetrySubscriber` must keep RCVHWM <= 64 (see `ZmqSocket`).
public final class TelemetryPublisher: @unchecked Sendable {
    public static let highWaterMark: Int32 = 64
    public let socket: ZmqSocket
    public let endpoint: String
    private let codec = FrameCodec(arenaBytes: 4096)

    /// `curve`: only subscribers holding an authorised key get a session.
    public init(bind endpoint: String, context: ZmqContext = .shared, curve: CurveServerKeys? = nil,
                onRefusal: @escaping @Sendable (ZapRefusal) -> Void = { _ in }) throws(LinkError) {
        // Each subscriber pipe may hold up to SNDHWM references to one ring slot; the ring
        // is larger than that so a slot is never rewritten while queued.
        socket = try ZmqSocket(.pub, context: context, sendSlots: Int(Self.highWaterMark) * 2 + 16, slotBytes: 512)
        if let k = curve { try socket.makeCurveServer(k, onRefusal: onRefusal) }
        try socket.set(.sendHighWaterMark, Self.highWaterMark)
        // A plain PUB "succeeds" when a subscriber's queue is full (the message is dropped
        // but the queued, older ones stay), which would let the send ring wrap under them.
        // NODROP makes the non-blocking send fail instead: counted, and the slot not used.
        // The cost: while one subscriber's queue is full, every subscriber misses samples.
        try socket.set(.publisherNoDrop, 1)
        self.endpoint = try socket.bind(endpoint)
    }

    /// Publishes one sample; false when it could not be queued (counted in `socket.droppedSends`).
    @discardableResult
    public func publish(_ sample: TelemetrySample) throws(LinkError) -> Bool {
        try socket.send(codec.encodeTelemetry(sample), dontWait: true)
    }

    public func close() { socket.close() }
}

/// A telemetry reader for tools and tests (SUB, connects, subscribes to everything).
public final class TelemetrySubscriber: @unchecked Sendable {
    public let socket: ZmqSocket
    private let receiver = FrameReceiver(codec: FrameCodec(arenaBytes: 1 << 16))

    public init(connect endpoint: String, context: ZmqContext = .shared, curve: CurveClientKeys? = nil) throws(LinkError) {
        socket = try ZmqSocket(.sub, context: context, sendSlots: 2)
        if let k = curve { try socket.makeCurveClient(k) }
        // Over inproc the publisher's queue to us is its SNDHWM plus our RCVHWM, and every
        // queued message references the publisher's send ring: keep ours small.
        try socket.set(.receiveHighWaterMark, 16)
        try socket.subscribeAll()
        try socket.connect(endpoint)
    }

    /// The next sample, or nil after `timeoutMs`. Non-telemetry frames are refused.
    public func receive(timeoutMs: Int32) throws(LinkError) -> TelemetrySample? {
        guard let frame = try receiver.receive(socket, timeoutMs: timeoutMs) else { return nil }
        guard case .telemetry = frame else { throw .unexpectedBody(expected: .telemetry, got: frame.kind) }
        return try receiver.codec.telemetry()
    }

    public func close() { socket.close() }
}
