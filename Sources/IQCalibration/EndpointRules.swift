/// What the calibration accepts as a link endpoint, and what it says about exposure.
/// Checked at load so that a typo (`tcp://999.1.1.1:5701`, port 99999) fails at start-up
/// instead of leaving the runtime waiting silently for a peer that cannot exist.
public struct LinkEndpoint: Sendable, Equatable {
    public enum Transport: String, Sendable { case tcp, ipc, inproc }
    public let transport: Transport
    /// tcp only: the host part as written (`127.0.0.1`, `[::1]`, `robot.local`, `*`).
    public let host: String
    /// tcp only: nil for a wildcard port (`*`, bound sockets only).
    public let port: Int?

    /// Parses and checks `text`; `bound` allows the wildcard host and port of a bind.
    public init(_ text: String, bound: Bool) throws(EndpointProblem) {
        if text.hasPrefix("ipc://") || text.hasPrefix("inproc://") {
            let t: Transport = text.hasPrefix("ipc://") ? .ipc : .inproc
            if text.count <= t.rawValue.count + 3 { throw EndpointProblem("has no path or name") }
            transport = t; host = ""; port = nil
            return
        }
        guard text.hasPrefix("tcp://") else {
            throw EndpointProblem("must be a ZeroMQ endpoint (tcp://host:port, ipc://path or inproc://name)")
        }
        let rest = String(text.dropFirst(6))
        guard let colon = rest.lastIndex(of: ":") else { throw EndpointProblem("has no :port") }
        let h = String(rest[..<colon]), p = String(rest[rest.index(after: colon)...])
        transport = .tcp
        host = h
        if p == "*" {
            if !bound { throw EndpointProblem("a wildcard port can only be bound, and the plant binds this endpoint") }
            port = nil
        } else {
            guard !p.isEmpty, p.allSatisfy({ $0.isASCII && $0.isNumber }), p.count <= 5, let n = Int(p), (1...65535).contains(n) else {
                throw EndpointProblem("port \"\(p)\" is not 1...65535")
            }
            port = n
        }
        try Self.checkHost(h, bound: bound)
    }

    private static func checkHost(_ h: String, bound: Bool) throws(EndpointProblem) {
        if h.isEmpty { throw EndpointProblem("has no host") }
        if h == "*" {
            if !bound { throw EndpointProblem("a wildcard host can only be bound") }
            return
        }
        if h.hasPrefix("[") {
            guard h.hasSuffix("]"), h.count > 2,
                  h.dropFirst().dropLast().allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw EndpointProblem("host \(h) is not a bracketed IPv6 address")
            }
            return
        }
        if h.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }) {
            let parts = h.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4, parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && Int($0)! <= 255 }) else {
                throw EndpointProblem("host \(h) is not an IPv4 address (four numbers 0...255)")
            }
            return
        }
        // A host or interface name.
        guard h.count <= 253, h.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_") }) else {
            throw EndpointProblem("host \"\(h)\" is not a host name, an interface name or an IP address")
        }
    }

    /// Traffic never leaves this computer: ipc://, inproc://, or tcp on a loopback address.
    public var isLocal: Bool {
        switch transport {
        case .ipc, .inproc: return true
        case .tcp: return host == "localhost" || host == "[::1]" || host.hasPrefix("127.")
        }
    }

    /// A bind on every interface (`*`, `0.0.0.0`, `[::]`).
    public var isWildcardHost: Bool { transport == .tcp && ["*", "0.0.0.0", "[::]", "[*]"].contains(host) }

    /// Whether two endpoints of one link reach the same socket address, so that the runtime's
    /// telemetry bind would take the plant's port or two link roles would share one socket.
    /// A wildcard bind covers every host on its port; `localhost` is 127.0.0.1.
    func sameAddress(as other: LinkEndpoint, text: String, otherText: String) -> Bool {
        guard transport == other.transport else { return false }
        guard transport == .tcp else { return text == otherText }
        guard let p = port, p == other.port else { return false }
        func canonical(_ h: String) -> String { h == "localhost" ? "127.0.0.1" : h }
        return isWildcardHost || other.isWildcardHost || canonical(host) == canonical(other.host)
    }
}

public struct EndpointProblem: Error, Sendable, Equatable {
    public let message: String
    init(_ message: String) { self.message = message }
}

extension Calibration {
    /// Exposure the file permits but an operator should know about: logged at start-up
    /// (and, for an insecure link, flagged in telemetry).
    public var securityWarnings: [String] {
        var out: [String] = []
        for e in link.usedEndpoints {
            guard let parsed = try? LinkEndpoint(e.endpoint, bound: e.bound) else { continue }
            if link.security.curve == nil && !parsed.isLocal {
                out.append("\(e.field) \(e.endpoint) is reachable from the network without CURVE (link.security.allow_insecure): anyone who can reach it can read or drive the link")
            }
            if e.bound && parsed.isWildcardHost {
                out.append("\(e.field) \(e.endpoint) binds every network interface")
            }
        }
        return out
    }

    /// True when a tcp endpoint leaves this computer without CURVE (allowed only by
    /// `allow_insecure`); telemetry carries the flag.
    public var linkIsInsecure: Bool {
        link.security.curve == nil && link.usedEndpoints.contains { e in
            (try? LinkEndpoint(e.endpoint, bound: e.bound)).map { !$0.isLocal } ?? false
        }
    }

    func validateLink() throws(CalibrationError) {
        let bound = ["link.telemetry_endpoint"]
        for (field, value) in [("link.observation_endpoint", link.observationEndpoint),
                               ("link.action_endpoint", link.actionEndpoint)] + (link.telemetryEndpoint.map { [("link.telemetry_endpoint", $0)] } ?? []) {
            do throws(EndpointProblem) {
                _ = try LinkEndpoint(value, bound: bound.contains(field))
            } catch {
                throw CalibrationError(field: field, message: "\"\(value)\" \(error.message)")
            }
        }
        let used = link.usedEndpoints.compactMap { e in
            (try? LinkEndpoint(e.endpoint, bound: e.bound)).map { (e.field, e.endpoint, $0) }
        }
        for i in used.indices {
            for j in used.indices where j > i && used[i].2.sameAddress(as: used[j].2, text: used[i].1, otherText: used[j].1) {
                throw CalibrationError(field: used[j].0,
                    message: "\"\(used[j].1)\" is the same address as \(used[i].0) \"\(used[i].1)\": each role of the link needs its own socket")
            }
        }
        if let c = link.security.curve {
            if link.telemetryEndpoint != nil && c.authorisedKeysFile == nil {
                throw CalibrationError(field: "link.security.curve.authorised_keys",
                    message: "is required with a telemetry endpoint: it lists the public keys allowed to subscribe (or set telemetry_endpoint: none)")
            }
        } else if !link.security.allowInsecure {
            for e in link.usedEndpoints {
                if let p = try? LinkEndpoint(e.endpoint, bound: e.bound), !p.isLocal {
                    throw CalibrationError(field: e.field,
                        message: "\(e.endpoint) is not a loopback address: the link needs link.security.curve (see Calibration/README.md), or link.security.allow_insecure: true to accept an unauthenticated, unencrypted link")
                }
            }
        }
    }
}
