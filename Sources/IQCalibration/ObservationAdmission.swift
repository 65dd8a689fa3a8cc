/// The rule that decides whether an observation may reach a model: every value finite and
/// inside its channel's accepted range `[low, high]`. The runtime's safety supervisor and the
/// trainer's simulator client both apply it, so a frame the robot would refuse is never
/// learned from. A NaN anywhere is reported before any range violation (it is the worse
/// fault, and the runtime counts it as such).
public enum ObservationAdmission {
    public enum Reason: Sendable, Equatable { case nonFinite, outOfRange }

    /// The first refused channel and why, or nil when all `count` values are admitted.
    /// Allocation-free (pointers in, a small value out): safe on the control path.
    @inlinable
    public static func firstRefusal(_ values: UnsafePointer<Float>, low: UnsafePointer<Float>, high: UnsafePointer<Float>,
                                    count: Int) -> (channel: Int, reason: Reason)? {
        for i in 0..<count where !values[i].isFinite { return (i, .nonFinite) }
        for i in 0..<count where values[i] < low[i] || values[i] > high[i] { return (i, .outOfRange) }
        return nil
    }
}
