import IQProto

/// The protocol's fixed bounds, read from the generated code so that `Proto/iqmpc.proto`
/// stays the single source of truth.
public enum LinkBounds {
    public static let protocolVersion = UInt32(IQMPC__V1__BOUNDS__PROTOCOL_VERSION.rawValue)
    public static let maxObsDim = Int(IQMPC__V1__BOUNDS__MAX_OBS_DIM.rawValue)
    public static let maxActDim = Int(IQMPC__V1__BOUNDS__MAX_ACT_DIM.rawValue)
    public static let maxFrameBytes = Int(IQMPC__V1__BOUNDS__MAX_FRAME_BYTES.rawValue)
    public static let maxControlBytes = Int(IQMPC__V1__BOUNDS__MAX_CONTROL_BYTES.rawValue)
    public static let maxNameBytes = Int(IQMPC__V1__BOUNDS__MAX_NAME_BYTES.rawValue)
}

/// Which message an `Envelope` carries.
public enum BodyKind: UInt32, Sendable, CustomStringConvertible {
    case none = 0, hello, helloAck, observation, action, reset, shutdown, heartbeat, error, telemetry

    /// Hot-path bodies must fit in `MAX_FRAME_BYTES`; the rest in `MAX_CONTROL_BYTES`.
    public var isHotFrame: Bool {
        switch self {
        case .observation, .action, .heartbeat, .error: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .none: return "empty"
        case .hello: return "Hello"
        case .helloAck: return "HelloAck"
        case .observation: return "Observation"
        case .action: return "Action"
        case .reset: return "Reset"
        case .shutdown: return "Shutdown"
        case .heartbeat: return "Heartbeat"
        case .error: return "Error"
        case .telemetry: return "Telemetry"
        }
    }
}

/// `iqmpc.v1.Role`.
public enum Role: Int32, Sendable, CaseIterable {
    case unspecified = 0, robot, simulator, controller, trainer, recorder
}

/// `iqmpc.v1.LinkMode`.
public enum LinkMode: Int32, Sendable, CaseIterable {
    case unspecified = 0, freeRunning, lockstep
}

/// `iqmpc.v1.ActionSource`.
public enum ActionSource: Int32, Sendable, CaseIterable {
    case unspecified = 0, planner, policyPrior, safe, plantFallback
}

/// `iqmpc.v1.FaultCode`.
public enum FaultCode: Int32, Sendable, CaseIterable {
    case none = 0, malformed, oversized, wrongDimension, nonFinite, stale, outOfOrder, duplicate,
         watchdog, shutdown, noHandshake, outOfRange, fromFuture
}

/// `iqmpc.v1.ErrorCode`.
public enum ErrorCode: Int32, Sendable, CaseIterable {
    case none = 0, protocolVersion, specMismatch, badFrame, unexpectedMessage, timeout, internalError
}

/// `iqmpc.v1.PlanDiagnostics`: how an action was produced.
public struct PlanDiagnostics: Equatable, Sendable {
    public var source: ActionSource
    public var iterations: UInt32
    public var planTimeUs: UInt32
    public var deadlineMissed: Bool
    public var fault: FaultCode

    public init(source: ActionSource = .unspecified, iterations: UInt32 = 0, planTimeUs: UInt32 = 0,
                deadlineMissed: Bool = false, fault: FaultCode = .none) {
        self.source = source
        self.iterations = iterations
        self.planTimeUs = planTimeUs
        self.deadlineMissed = deadlineMissed
        self.fault = fault
    }
}

/// `iqmpc.v1.Counters`: cumulative health counters published with telemetry.
public struct LinkCounters: Equatable, Sendable {
    public var framesReceived: UInt64 = 0
    public var actionsSent: UInt64 = 0
    public var deadlineMisses: UInt64 = 0
    public var policyPriorFallbacks: UInt64 = 0
    public var safeActions: UInt64 = 0
    public var malformed: UInt64 = 0
    public var oversized: UInt64 = 0
    public var wrongDimension: UInt64 = 0
    public var nonFinite: UInt64 = 0
    public var stale: UInt64 = 0
    public var outOfOrder: UInt64 = 0
    public var duplicate: UInt64 = 0
    public var watchdog: UInt64 = 0
    public var skippedFrames: UInt64 = 0
    public var outOfRange: UInt64 = 0
    public var fromFuture: UInt64 = 0
    public var resyncs: UInt64 = 0
    public var authRefusals: UInt64 = 0
    public init() {}
}

/// `iqmpc.v1.Telemetry`: one control step's timing split and health.
public struct TelemetrySample: Equatable, Sendable {
    public var step: UInt64 = 0
    public var observationSeq: UInt64 = 0
    public var receiveNs: UInt64 = 0
    public var decodeNs: UInt64 = 0
    public var planNs: UInt64 = 0
    public var encodeNs: UInt64 = 0
    public var sendNs: UInt64 = 0
    public var iterations: UInt32 = 0
    public var source: ActionSource = .unspecified
    public var counters = LinkCounters()
    /// The link crosses the network without CURVE (`allow_insecure`).
    public var linkInsecure = false
    public init() {}
}

extension Role { init(wire: Iqmpc__V1__Role) { self = Role(rawValue: Int32(bitPattern: wire.rawValue)) ?? .unspecified }
    var wire: Iqmpc__V1__Role { Iqmpc__V1__Role(rawValue: UInt32(bitPattern: rawValue)) } }
extension LinkMode { init(wire: Iqmpc__V1__LinkMode) { self = LinkMode(rawValue: Int32(bitPattern: wire.rawValue)) ?? .unspecified }
    var wire: Iqmpc__V1__LinkMode { Iqmpc__V1__LinkMode(rawValue: UInt32(bitPattern: rawValue)) } }
extension ActionSource { init(wire: Iqmpc__V1__ActionSource) { self = ActionSource(rawValue: Int32(bitPattern: wire.rawValue)) ?? .unspecified }
    var wire: Iqmpc__V1__ActionSource { Iqmpc__V1__ActionSource(rawValue: UInt32(bitPattern: rawValue)) } }
extension FaultCode { init(wire: Iqmpc__V1__FaultCode) { self = FaultCode(rawValue: Int32(bitPattern: wire.rawValue)) ?? .none }
    var wire: Iqmpc__V1__FaultCode { Iqmpc__V1__FaultCode(rawValue: UInt32(bitPattern: rawValue)) } }
extension ErrorCode { init(wire: Iqmpc__V1__ErrorCode) { self = ErrorCode(rawValue: Int32(bitPattern: wire.rawValue)) ?? .none }
    var wire: Iqmpc__V1__ErrorCode { Iqmpc__V1__ErrorCode(rawValue: UInt32(bitPattern: rawValue)) } }
