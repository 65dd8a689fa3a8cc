import IQLink

/// Cumulative health counters (the wire's `Counters`, plus a few the wire has no field for).
/// A plain struct of integers: updating it in the control step allocates nothing.
public struct RuntimeCounters: Sendable, Equatable {
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
    // Not on the wire:
    public var noHandshake: UInt64 = 0
    /// The planner produced a NaN/Inf action (replaced by the safe action).
    public var nonFiniteActions: UInt64 = 0
    /// Free-running sends refused by a full queue (`EAGAIN`): the robot is not reading.
    public var sendDrops: UInt64 = 0
    /// Messages the current state does not allow (e.g. an Action sent to the controller).
    public var unexpectedMessages: UInt64 = 0
    public var handshakes: UInt64 = 0
    public var refusedHandshakes: UInt64 = 0

    public init() {}

    public mutating func count(_ fault: FaultCode) {
        switch fault {
        case .none, .shutdown: break
        case .malformed: malformed &+= 1
        case .oversized: oversized &+= 1
        case .wrongDimension: wrongDimension &+= 1
        case .nonFinite: nonFinite &+= 1
        case .stale: stale &+= 1
        case .outOfOrder: outOfOrder &+= 1
        case .duplicate: duplicate &+= 1
        case .watchdog: watchdog &+= 1
        case .noHandshake: noHandshake &+= 1
        case .outOfRange: outOfRange &+= 1
        }
    }

    /// Frame faults counted so far (everything a bad input can cause).
    public var frameFaults: UInt64 {
        malformed + oversized + wrongDimension + nonFinite + stale + outOfOrder + duplicate + outOfRange + noHandshake
    }
}
