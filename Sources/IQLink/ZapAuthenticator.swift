import CZeroMQ
import Foundation
import Synchronization

/// Refusals of one server socket, readable from any thread without a lock (telemetry).
public final class RefusalCounter: Sendable {
    private let value = Atomic<UInt64>(0)
    public var count: UInt64 { value.load(ordering: .relaxed) }
    func increment() { value.add(1, ordering: .relaxed) }
}

/// One refused CURVE client, as the ZAP handler saw it.
public struct ZapRefusal: Sendable, Equatable, CustomStringConvertible {
    /// The ZAP domain of the refusing socket (one per `CurveServerKeys` registration).
    public let domain: String
    /// The client's IP address.
    public let address: String
    /// "CURVE", or another mechanism a client tried.
    public let mechanism: String
    /// The client's public key (Z85), "" for non-CURVE clients.
    public let publicKey: String
    public var description: String {
        "refused a \(mechanism) client from \(address)\(publicKey.isEmpty ? "" : " with public key \(publicKey)") (not in the authorised keys)"
    }
}

/// The ZAP handler (ZeroMQ RFC 27) of one `ZmqContext`: a REP socket on
/// `inproc://zeromq.zap.01` served by its own thread, so that authentication happens at
/// connection time and never on a control thread. libzmq asks it about every client
/// handshake on a CURVE server socket of the context; it admits a client only when its
/// public key is authorised for the socket's ZAP domain, and counts and reports every
/// refusal (a refused client gets no session: libzmq closes the connection).
///
/// Each server socket registers its authorised keys under a domain of its own, so one
/// process may run several servers (a simulator and a telemetry publisher) with
/// different key lists.
public final class ZapAuthenticator: @unchecked Sendable {
    public static let endpoint = "inproc://zeromq.zap.01"

    private struct Domain {
        var keys: Set<String>
        let refusals = RefusalCounter()
        var reported: Set<String> = []
        let onRefusal: @Sendable (ZapRefusal) -> Void
    }

    private let lock = NSLock()
    private var domains: [String: Domain] = [:]
    private var nextDomain = 0
    private var stopping = false
    private var totalRefusals: UInt64 = 0
    private var totalAdmissions: UInt64 = 0
    private let socket: UnsafeMutableRawPointer
    private var thread = pthread_t()
    private var joined = false

    /// Binds the handler socket and starts its thread (the first CURVE server of a context).
    init(context: UnsafeMutableRawPointer) throws(LinkError) {
        guard let s = zmq_socket(context, ZMQ_REP) else { throw .zmq(operation: .socket, errno: zmq_errno()) }
        var zero: Int32 = 0
        zmq_setsockopt(s, ZMQ_LINGER, &zero, MemoryLayout<Int32>.size)
        guard zmq_bind(s, Self.endpoint) == 0 else {
            let e = zmq_errno()
            zmq_close(s)
            throw .security("cannot bind the ZAP handler on \(Self.endpoint): \(zmqErrorString(e)) (another ZAP handler in this context?)")
        }
        socket = s
        // A plain pthread, joined in `stop`: it is gone entirely (nothing left to tear down
        // later on another thread) once the context terminates.
        let me = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            let me = Unmanaged<ZapAuthenticator>.fromOpaque(raw!).takeRetainedValue()
            me.serve()
            return nil
        }, me)
        if rc != 0 {
            Unmanaged<ZapAuthenticator>.fromOpaque(me).release()
            zmq_close(s)
            throw .security("cannot start the ZAP handler thread (pthread_create: \(rc))")
        }
    }

    /// Registers a server socket's authorised keys; returns the ZAP domain to set on it.
    /// `onRefusal` is called on the handler thread once per refused key (later refusals of
    /// the same key are only counted), so a log line cannot be flooded.
    func register(authorisedKeys: [String],
                  onRefusal: @escaping @Sendable (ZapRefusal) -> Void) -> (domain: String, refusals: RefusalCounter) {
        lock.lock(); defer { lock.unlock() }
        nextDomain += 1
        let name = "iqmpc-\(nextDomain)"
        let d = Domain(keys: Set(authorisedKeys), onRefusal: onRefusal)
        domains[name] = d
        return (name, d.refusals)
    }

    /// Refused handshakes, for one domain or (nil) all.
    public func refusals(domain: String? = nil) -> UInt64 {
        lock.lock(); defer { lock.unlock() }
        guard let d = domain else { return totalRefusals }
        return domains[d]?.refusals.count ?? 0
    }

    /// Admitted handshakes since start.
    public var admissions: UInt64 {
        lock.lock(); defer { lock.unlock() }
        return totalAdmissions
    }

    /// Stops the thread and closes the socket (before the context terminates).
    func stop() {
        lock.lock()
        stopping = true
        let wasJoined = joined
        joined = true
        lock.unlock()
        if !wasJoined { pthread_join(thread, nil) }
    }

    private var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopping }

    // MARK: the handler thread

    private func serve() {
        defer { zmq_close(socket) }
        var frames = [[UInt8]](repeating: [], count: 8)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 8)
        defer { buffer.deallocate() }
        while !isStopping {
            var item = zmq_pollitem_t(socket: socket, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
            let rc = zmq_poll(&item, 1, 100)
            if rc < 0 { if zmq_errno() == ETERM { return }; continue }
            if rc == 0 { continue }
            // One request: up to 7 frames (more are drained and make it malformed).
            var count = 0
            var more = true
            while more {
                let n = zmq_recv(socket, buffer.baseAddress, buffer.count, 0)
                if n < 0 { if zmq_errno() == ETERM { return }; break }
                if count < frames.count { frames[count] = Array(UnsafeRawBufferPointer(rebasing: buffer[0..<min(Int(n), buffer.count)])) }
                count += 1
                var m: Int32 = 0
                var size = MemoryLayout<Int32>.size
                more = zmq_getsockopt(socket, ZMQ_RCVMORE, &m, &size) == 0 && m != 0
            }
            let (status, text) = decide(frames: frames, count: count)
            let requestId = count > 1 ? frames[1] : []
            reply([Array("1.0".utf8), requestId, Array(status.utf8), Array(text.utf8), Array(), Array()])
        }
    }

    private func decide(frames: [[UInt8]], count: Int) -> (String, String) {
        guard count >= 6, String(decoding: frames[0], as: UTF8.self) == "1.0" else { return ("500", "malformed ZAP request") }
        let domain = String(decoding: frames[2], as: UTF8.self)
        let address = String(decoding: frames[3], as: UTF8.self)
        let mechanism = String(decoding: frames[5], as: UTF8.self)
        var key = ""
        if mechanism == "CURVE", count >= 7 {
            key = frames[6].withUnsafeBytes { CurveKeys.z85($0) } ?? ""
        }
        lock.lock()
        guard var d = domains[domain] else {
            // A server socket this process did not register: refuse rather than guess.
            totalRefusals &+= 1
            lock.unlock()
            return ("400", "unknown ZAP domain")
        }
        if mechanism == "CURVE" && !key.isEmpty && d.keys.contains(key) {
            totalAdmissions &+= 1
            lock.unlock()
            return ("200", "OK")
        }
        d.refusals.increment()
        totalRefusals &+= 1
        let report = d.reported.count < 1024 && d.reported.insert(key + "@" + mechanism).inserted
        domains[domain] = d
        let handler = d.onRefusal
        lock.unlock()
        if report { handler(ZapRefusal(domain: domain, address: address, mechanism: mechanism, publicKey: key)) }
        return ("400", "public key not authorised")
    }

    private func reply(_ parts: [[UInt8]]) {
        for (i, p) in parts.enumerated() {
            let flags: Int32 = i + 1 < parts.count ? ZMQ_SNDMORE : 0
            _ = p.withUnsafeBytes { zmq_send(socket, $0.baseAddress, $0.count, flags) }
        }
    }
}
