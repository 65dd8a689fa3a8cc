import IQLink

/// Cumulative health counters (the wire's `Counters`, plus a few the wire has no field for).
/// A plain struct of integers: updating it in the control step allocates nothing.
public struct RuntimeCounters: Sendable, Equatable {
    /// Everything the wire's `Counters` message carries (published as is in telemetry).
    public var link = LinkCounters()
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
        case .malformed: link.malformed &+= 1
        case .oversized: link.oversized &+= 1
        case .wrongDimension: link.wrongDimension &+= 1
        case .nonFinite: link.nonFinite &+= 1
        case .stale: link.stale &+= 1
        case .outOfOrder: link.outOfOrder &+= 1
        case .duplicate: link.duplicate &+= 1
        case .watchdog: link.watchdog &+= 1
        case .noHandshake: noHandshake &+= 1
        case .outOfRange: link.outOfRange &+= 1
        case .fromFuture: link.fromFuture &+= 1
        }
    }

    /// Frame faults counted so far (everything a bad input can cause).
    public var frameFaults: UInt64 {
        let l = link
        return l.malformed + l.oversized + l.wrongDimension + l.nonFinite + l.stale + l.outOfOrder + l.duplicate
            + l.outOfRange + l.fromFuture + noHandshake
    }
}
