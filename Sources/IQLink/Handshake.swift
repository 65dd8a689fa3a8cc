import IQProto

/// `iqmpc.v1.Hello`: the plant's opening message, with its spec.
public struct HelloMessage: Equatable, Sendable {
    public var protocolVersion: UInt32
    public var role: Role
    public var spec: PlantSpec
    public var software: String
    public var mode: LinkMode

    public init(protocolVersion: UInt32 = LinkBounds.protocolVersion, role: Role, spec: PlantSpec,
                software: String, mode: LinkMode) {
        self.protocolVersion = protocolVersion
        self.role = role
        self.spec = spec
        self.software = software
        self.mode = mode
    }

    /// Throws when the spec is missing or malformed: a controller answers that with a
    /// refusing HelloAck (`ERROR_SPEC_MISMATCH`) rather than guessing.
    init(c h: UnsafePointer<Iqmpc__V1__Hello>) throws(LinkError) {
        guard let spec = h.pointee.spec else { throw .invalidSpec("Hello carries no spec") }
        self.init(protocolVersion: h.pointee.protocol_version, role: Role(wire: h.pointee.role),
                  spec: try PlantSpec(c: spec), software: cString(h.pointee.software),
                  mode: LinkMode(wire: h.pointee.mode))
    }
}

/// `iqmpc.v1.Error` as a Swift value (handshake refusals, logs).
public struct ErrorInfo: Equatable, Sendable, Error, CustomStringConvertible {
    public var code: ErrorCode
    public var fatal: Bool
    public var fault: FaultCode
    public var message: String

    public init(code: ErrorCode, fatal: Bool, fault: FaultCode = .none, message: String) {
        self.code = code
        self.fatal = fatal
        self.fault = fault
        self.message = message
    }

    public var description: String { "\(code)\(fatal ? " (fatal)" : ""): \(message)" }
}

/// `iqmpc.v1.HelloAck`: the controller's answer to Hello.
public struct HelloAckMessage: Equatable, Sendable {
    public var protocolVersion: UInt32
    public var accepted: Bool
    public var error: ErrorInfo?
    public var role: Role
    public var software: String

    public init(protocolVersion: UInt32 = LinkBounds.protocolVersion, accepted: Bool, error: ErrorInfo? = nil,
                role: Role, software: String) {
        self.protocolVersion = protocolVersion
        self.accepted = accepted
        self.error = error
        self.role = role
        self.software = software
    }

    /// An acceptance from a controller of `role`.
    public static func accept(role: Role, software: String) -> HelloAckMessage {
        HelloAckMessage(accepted: true, role: role, software: software)
    }

    /// A fatal refusal (`ERROR_SPEC_MISMATCH`, `ERROR_PROTOCOL_VERSION`, ...).
    public static func refuse(_ code: ErrorCode, message: String, role: Role, software: String) -> HelloAckMessage {
        HelloAckMessage(accepted: false, error: ErrorInfo(code: code, fatal: true, message: message),
                        role: role, software: software)
    }

    init(c h: UnsafePointer<Iqmpc__V1__HelloAck>) {
        let m = h.pointee
        var err: ErrorInfo?
        if let e = m.error?.pointee {
            err = ErrorInfo(code: ErrorCode(wire: e.code), fatal: e.fatal != 0, fault: FaultCode(wire: e.fault),
                            message: cString(e.message))
        }
        self.init(protocolVersion: m.protocol_version, accepted: m.accepted != 0, error: err,
                  role: Role(wire: m.role), software: cString(m.software))
    }
}
