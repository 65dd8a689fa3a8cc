import IQCalibration
import IQLink

extension Calibration {
    /// The RobotSpec a plant matching this calibration would send (infinite accepted
    /// ranges become the largest finite float, since the wire's bounds must be finite).
    /// Lets a benchmark or a test stand in for the robot without a plant of its own.
    public func plantSpec(episodeLength: UInt32 = 0) -> PlantSpec {
        func finite(_ x: Float) -> Float { min(max(x, -.greatestFiniteMagnitude), .greatestFiniteMagnitude) }
        return PlantSpec(robotId: robotId,
                         observations: observations.map { .init(name: $0.name, unit: $0.unit, low: finite($0.low), high: finite($0.high)) },
                         actions: actions.map { .init(name: $0.name, unit: $0.unit, low: $0.low, high: $0.high) },
                         controlPeriodNs: timing.controlPeriodNs, episodeLength: episodeLength)
    }
}
