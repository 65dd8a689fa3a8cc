import CZeroMQ
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A libzmq context. Thread-safe (libzmq contexts are), hence `@unchecked Sendable`.
/// Use `ZmqContext.shared` unless a component needs its own I/O thread.
public final class ZmqContext: @unchecked Sendable {
    public let handle: UnsafeMutableRawPointer

    /// The process-wide context; inproc:// endpoints only connect within one context.
    public static let shared: ZmqContext = {
        guard let c = try? ZmqContext() else { fatalError("zmq_ctx_new failed: the process is out of file descriptors or memory") }
        return c
    }()

    public init(ioThreads: Int32 = 1) throws(LinkError) {
        guard let h = zmq_ctx_new() else { throw .zmq(operation: .context, errno: zmq_errno()) }
        zmq_ctx_set(h, ZMQ_IO_THREADS, ioThreads)
        handle = h
    }

    /// Terminates after every socket of this context was closed (sockets use linger 0).
    deinit {
        zapLock.lock()
        let zap = zap
        zapLock.unlock()
        zap?.stop()
        zmq_ctx_term(handle)
    }

    private let zapLock = NSLock()
    private var zap: ZapAuthenticator?

    /// The context's ZAP handler, started by the first CURVE server socket (it must exist
    /// before that socket binds, or libzmq would admit every client key).
    public func authenticator() throws(LinkError) -> ZapAuthenticator {
        zapLock.lock(); defer { zapLock.unlock() }
        if let z = zap { return z }
        let z = try ZapAuthenticator(context: handle)
        zap = z
        return z
    }

    /// The ZAP handler if one was started (refusal counts for telemetry and tests).
    public var runningAuthenticator: ZapAuthenticator? {
        zapLock.lock(); defer { zapLock.unlock() }
        return zap
    }
}

/// One ZeroMQ socket, with the allocation-free send and receive the control loop needs.
///
/// - Receive: `receive(into:timeoutMs:)` copies the frame into a caller buffer with
///   `zmq_recv` (no heap use for inproc, nor for TCP frames under 8 KiB). A frame larger
///   than the buffer throws `oversized` (its real size is reported, nothing is truncated);
///   multipart frames throw `multipart` after draining the remaining parts.
/// - Send: `send(_:dontWait:)` copies the bytes into the next slot of a ring owned by the
///   socket and hands that slot to `zmq_send_const`, which references instead of copying
///   (a plain `zmq_send` mallocs for messages over 33 bytes). libzmq may still reference a
///   slot while the message is queued, so a slot is reused only after `sendSlots - 1`
///   later sends: `sendSlots` must exceed the number of messages the socket can hold queued
///   (SNDHWM; for inproc also the peer's RCVHWM; PUB subscribers share one reference per
///   message), and a full queue must refuse new messages rather than silently drop them
///   while keeping the old ones (PUB needs `publisherNoDrop`; ROUTER-based REP replies are
///   one per request). Endpoints set those bounds and size the ring. Messages bigger than a slot go
///   through `zmq_send`, which copies and allocates: control traffic only.
///
/// Not thread-safe (libzmq sockets are not): one owner thread at a time, which is why the
/// class is `@unchecked Sendable` — it may be moved to the thread that owns it.
public final class ZmqSocket: @unchecked Sendable {
    public enum Kind: Int32, Sendable {
        case pair = 0, pub = 1, sub = 2, req = 3, rep = 4, pull = 7, push = 8
    }

    public enum Option: Sendable {
        case conflate, sendHighWaterMark, receiveHighWaterMark, receiveTimeoutMs, sendTimeoutMs,
             lingerMs, immediate, requestRelaxed, requestCorrelate, publisherNoDrop
        var raw: Int32 {
            switch self {
            case .conflate: return ZMQ_CONFLATE
            case .sendHighWaterMark: return ZMQ_SNDHWM
            case .receiveHighWaterMark: return ZMQ_RCVHWM
            case .receiveTimeoutMs: return ZMQ_RCVTIMEO
            case .sendTimeoutMs: return ZMQ_SNDTIMEO
            case .lingerMs: return ZMQ_LINGER
            case .immediate: return ZMQ_IMMEDIATE
            case .requestRelaxed: return ZMQ_REQ_RELAXED
            case .requestCorrelate: return ZMQ_REQ_CORRELATE
            case .publisherNoDrop: return ZMQ_XPUB_NODROP
            }
        }
    }

    public let kind: Kind
    public let context: ZmqContext
    private var handle: UnsafeMutableRawPointer?
    private let ring: UnsafeMutableRawPointer
    public let sendSlots: Int
    public let slotBytes: Int
    private var nextSlot = 0
    private var receiveTimeout: Int32 = -1

    /// Sends refused because they would have blocked (`dontWait`), since creation.
    public private(set) var droppedSends: UInt64 = 0

    public init(_ kind: Kind, context: ZmqContext = .shared, sendSlots: Int = 8,
                slotBytes: Int = LinkBounds.maxFrameBytes) throws(LinkError) {
        precondition(sendSlots >= 2 && slotBytes > 0)
        guard let h = zmq_socket(context.handle, kind.rawValue) else {
            throw .zmq(operation: .socket, errno: zmq_errno())
        }
        self.kind = kind
        self.context = context
        handle = h
        self.sendSlots = sendSlots
        self.slotBytes = slotBytes
        ring = .allocate(byteCount: sendSlots * slotBytes, alignment: 64)
        ring.initializeMemory(as: UInt8.self, repeating: 0, count: sendSlots * slotBytes)
        // Never block process exit on unsent messages: a controller must be able to stop.
        try set(.lingerMs, 0)
    }

    deinit {
        close()
        ring.deallocate()
    }

    /// Closes the socket (idempotent). Linger is 0: queued messages are dropped.
    public func close() {
        if let h = handle {
            var zero: Int32 = 0
            zmq_setsockopt(h, ZMQ_LINGER, &zero, MemoryLayout<Int32>.size)
            zmq_close(h)
            handle = nil
        }
    }

    public var isOpen: Bool { handle != nil }

    private func live(_ op: LinkError.ZmqOperation) throws(LinkError) -> UnsafeMutableRawPointer {
        guard let h = handle else { throw .zmq(operation: op, errno: ENOTSOCK) }
        return h
    }

    public func set(_ option: Option, _ value: Int32) throws(LinkError) {
        let h = try live(.setOption)
        var v = value
        if zmq_setsockopt(h, option.raw, &v, MemoryLayout<Int32>.size) != 0 {
            throw .zmq(operation: .setOption, errno: zmq_errno())
        }
        if option == .receiveTimeoutMs { receiveTimeout = value }
    }

    public func get(_ option: Option) throws(LinkError) -> Int32 {
        let h = try live(.getOption)
        var v: Int32 = 0
        var size = MemoryLayout<Int32>.size
        if zmq_getsockopt(h, option.raw, &v, &size) != 0 { throw .zmq(operation: .getOption, errno: zmq_errno()) }
        return v
    }

    // MARK: CURVE (set before bind/connect)

    /// The ZAP domain this socket authenticates under (CURVE servers only).
    public private(set) var zapDomain: String?

    /// Makes this socket a CURVE client that talks only to the server holding the secret
    /// key of `keys.serverPublicKey`, and encrypts every frame.
    public func makeCurveClient(_ keys: CurveClientKeys) throws(LinkError) {
        guard CurveKeys.available else { throw .security("this libzmq was built without CURVE (zmq_has(\"curve\") is false)") }
        try setString(ZMQ_CURVE_SERVERKEY, keys.serverPublicKey)
        try setString(ZMQ_CURVE_PUBLICKEY, keys.own.publicKey)
        try setString(ZMQ_CURVE_SECRETKEY, keys.own.secretKey)
    }

    /// Makes this socket a CURVE server whose clients must hold one of
    /// `keys.authorisedKeys`; the context's ZAP handler decides, counts and reports refusals.
    public func makeCurveServer(_ keys: CurveServerKeys,
                                onRefusal: @escaping @Sendable (ZapRefusal) -> Void = { _ in }) throws(LinkError) {
        guard CurveKeys.available else { throw .security("this libzmq was built without CURVE (zmq_has(\"curve\") is false)") }
        let zap = try context.authenticator()
        let (domain, counter) = zap.register(authorisedKeys: keys.authorisedKeys, onRefusal: onRefusal)
        try set(ZMQ_CURVE_SERVER, 1)
        try setString(ZMQ_CURVE_SECRETKEY, keys.own.secretKey)
        try setString(ZMQ_ZAP_DOMAIN, domain)
        zapDomain = domain
        refusals = counter
    }

    private var refusals: RefusalCounter?

    /// Handshakes this (server) socket's ZAP handler refused (lock-free: telemetry reads it).
    public var refusedClients: UInt64 { refusals?.count ?? 0 }

    private func set(_ raw: Int32, _ value: Int32) throws(LinkError) {
        let h = try live(.setOption)
        var v = value
        if zmq_setsockopt(h, raw, &v, MemoryLayout<Int32>.size) != 0 { throw .zmq(operation: .setOption, errno: zmq_errno()) }
    }

    /// A string option; CURVE keys go in as Z85 text plus its NUL (41 bytes).
    private func setString(_ raw: Int32, _ value: String) throws(LinkError) {
        let h = try live(.setOption)
        let bytes = Array(value.utf8CString)
        let isKey = raw == ZMQ_CURVE_SERVERKEY || raw == ZMQ_CURVE_PUBLICKEY || raw == ZMQ_CURVE_SECRETKEY
        let rc = bytes.withUnsafeBytes { zmq_setsockopt(h, raw, $0.baseAddress, isKey ? bytes.count : bytes.count - 1) }
        if rc != 0 { throw .zmq(operation: .setOption, errno: zmq_errno()) }
    }

    /// SUB sockets: receive everything.
    public func subscribeAll() throws(LinkError) {
        let h = try live(.setOption)
        if zmq_setsockopt(h, ZMQ_SUBSCRIBE, nil, 0) != 0 { throw .zmq(operation: .setOption, errno: zmq_errno()) }
    }

    /// Binds and returns the resolved endpoint (`tcp://127.0.0.1:*` gets its real port).
    @discardableResult
    public func bind(_ endpoint: String) throws(LinkError) -> String {
        let h = try live(.bind)
        if zmq_bind(h, endpoint) != 0 { throw .zmq(operation: .bind, errno: zmq_errno()) }
        return lastEndpoint ?? endpoint
    }

    public func connect(_ endpoint: String) throws(LinkError) {
        let h = try live(.connect)
        if zmq_connect(h, endpoint) != 0 { throw .zmq(operation: .connect, errno: zmq_errno()) }
    }

    /// The endpoint of the last bind/connect, with wildcards resolved.
    public var lastEndpoint: String? {
        guard let h = handle else { return nil }
        var buf = [UInt8](repeating: 0, count: 512)
        var size = buf.count
        guard zmq_getsockopt(h, ZMQ_LAST_ENDPOINT, &buf, &size) == 0 else { return nil }
        return String(decoding: buf.prefix { $0 != 0 }, as: UTF8.self)
    }

    // MARK: Send

    /// Sends one single-part frame. Returns false when `dontWait` is set and the message
    /// could not be queued (it is dropped and counted in `droppedSends`).
    /// Allocation-free when `bytes.count <= slotBytes`.
    @discardableResult
    public func send(_ bytes: UnsafeRawBufferPointer, dontWait: Bool = false) throws(LinkError) -> Bool {
        let h = try live(.send)
        let flags: Int32 = dontWait ? ZMQ_DONTWAIT : 0
        var rc = sendOnce(h, bytes, flags)
        if rc < 0 && dontWait && zmq_errno() == EAGAIN && writableAfterCommands(h) {
            // libzmq learns that the peer drained the queue from commands it processes at
            // most once per ~1 ms inside send; rapid non-blocking sends would then see a
            // full queue that is really empty. ZMQ_EVENTS processes them now: retry once.
            rc = sendOnce(h, bytes, flags)
        }
        if rc < 0 {
            let err = zmq_errno()
            if err == EAGAIN && dontWait {
                droppedSends &+= 1
                return false
            }
            if err == EAGAIN { throw .timeout }
            throw .zmq(operation: .send, errno: err)
        }
        return true
    }

    private func sendOnce(_ h: UnsafeMutableRawPointer, _ bytes: UnsafeRawBufferPointer, _ flags: Int32) -> Int32 {
        if bytes.count <= slotBytes {
            let slot = ring + nextSlot * slotBytes
            if let src = bytes.baseAddress, bytes.count > 0 { slot.copyMemory(from: src, byteCount: bytes.count) }
            let rc = zmq_send_const(h, slot, bytes.count, flags)
            if rc >= 0 { nextSlot = nextSlot + 1 == sendSlots ? 0 : nextSlot + 1 }
            return rc
        }
        return zmq_send(h, bytes.baseAddress, bytes.count, flags)
    }

    /// Makes libzmq process the commands queued for this socket now (ZMQ_EVENTS does). Why:
    /// a receive that finds a message waiting skips command processing, so commands queued
    /// at start-up (e.g. taking ownership of the connection's session, which allocates) can
    /// wait for the first receive that blocks, inside a control step. Allocates only for what
    /// those commands do; call it between steps.
    public func processCommands() {
        guard let h = handle else { return }
        var events: Int32 = 0
        var size = MemoryLayout<Int32>.size
        _ = zmq_getsockopt(h, ZMQ_EVENTS, &events, &size)
    }

    private func writableAfterCommands(_ h: UnsafeMutableRawPointer) -> Bool {
        var events: Int32 = 0
        var size = MemoryLayout<Int32>.size
        return zmq_getsockopt(h, ZMQ_EVENTS, &events, &size) == 0 && (events & Int32(ZMQ_POLLOUT)) != 0
    }

    // MARK: Receive

    /// Receives one frame into `buffer`. `timeoutMs`: -1 waits for ever, 0 does not wait.
    /// Returns the frame's length, or nil on timeout. Throws `oversized` when the frame is
    /// longer than the buffer and `multipart` for a multipart message.
    public func receive(into buffer: UnsafeMutableRawBufferPointer, timeoutMs: Int32 = -1) throws(LinkError) -> Int? {
        let h = try live(.receive)
        var flags: Int32 = 0
        if timeoutMs == 0 {
            flags = ZMQ_DONTWAIT
        } else if timeoutMs != receiveTimeout {
            try set(.receiveTimeoutMs, timeoutMs)
        }
        let rc = zmq_recv(h, buffer.baseAddress, buffer.count, flags)
        if rc < 0 {
            let err = zmq_errno()
            if err == EAGAIN { return nil }
            throw .zmq(operation: .receive, errno: err)
        }
        if hasMore(h) {
            drainParts(h)
            throw .multipart
        }
        if Int(rc) > buffer.count { throw .oversized(byteCount: Int(rc), limit: buffer.count) }
        return Int(rc)
    }

    private func hasMore(_ h: UnsafeMutableRawPointer) -> Bool {
        var more: Int32 = 0
        var size = MemoryLayout<Int32>.size
        return zmq_getsockopt(h, ZMQ_RCVMORE, &more, &size) == 0 && more != 0
    }

    private func drainParts(_ h: UnsafeMutableRawPointer) {
        var scratch: UInt8 = 0
        while hasMore(h) {
            if zmq_recv(h, &scratch, 0, ZMQ_DONTWAIT) < 0 { break }
        }
    }

    /// Waits until a frame can be received (or `timeoutMs` passes; -1 = for ever).
    public func pollReadable(timeoutMs: Int) throws(LinkError) -> Bool {
        let h = try live(.poll)
        var item = zmq_pollitem_t(socket: h, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        let rc = zmq_poll(&item, 1, timeoutMs)
        if rc < 0 {
            let err = zmq_errno()
            if err == EINTR { return false }
            throw .zmq(operation: .poll, errno: err)
        }
        return rc > 0 && (item.revents & Int16(ZMQ_POLLIN)) != 0
    }
}
