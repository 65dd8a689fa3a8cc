import IQLink

extension Calibration {
    /// What a plant's self-description (a Hello's spec, a record file's header) must agree on with
    /// this calibration before its numbers may be normalised with it. One definition for every
    /// place that meets a spec: the runtime's handshake, the trainer's simulator link and reward
    /// recovery's logs.
    public struct SpecChecks: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// The plant's control period must be the calibration's: a live link runs at it.
        /// Logs skip it (a period does not change what a channel means, and deployed logs may
        /// run at a tuned rate).
        public static let controlPeriod = SpecChecks(rawValue: 1)
        /// The calibration's hard action limits must lie within the actuator's: the calibration
        /// may be stricter than the hardware, never looser. Only a live plant's limits bind.
        public static let actuatorLimits = SpecChecks(rawValue: 2)
    }

    /// Every difference, one line each (empty when the spec fits): robot id, channel counts,
    /// each channel's name and unit, plus what `checks` adds. `peer` names the spec's side in
    /// the lines ("plant", "simulator", "log").
    public func mismatches(with spec: PlantSpec, peer: String, checks: SpecChecks = []) -> [String] {
        var out: [String] = []
        if spec.robotId != robotId { out.append("robot_id: \(peer) \"\(spec.robotId)\", calibration \"\(robotId)\"") }
        if spec.obsDim != obsDim { out.append("obs_dim: \(peer) \(spec.obsDim), calibration \(obsDim)") }
        if spec.actDim != actDim { out.append("act_dim: \(peer) \(spec.actDim), calibration \(actDim)") }
        if checks.contains(.controlPeriod) && spec.controlPeriodNs != timing.controlPeriodNs {
            out.append("control_period_ns: \(peer) \(spec.controlPeriodNs), calibration timing.control_period_ms \(Double(timing.controlPeriodNs) / 1e6) ms")
        }
        for (label, theirs, ours) in [("observations", spec.observations.map { ($0.name, $0.unit) }, observations.map { ($0.name, $0.unit) }),
                                      ("actions", spec.actions.map { ($0.name, $0.unit) }, actions.map { ($0.name, $0.unit) })] {
            for (i, (p, k)) in zip(theirs, ours).enumerated() {
                if p.0 != k.0 { out.append("\(label)[\(i)].name: \(peer) \"\(p.0)\", calibration \"\(k.0)\"") }
                if p.1 != k.1 { out.append("\(label)[\(i)].unit (\(k.0)): \(peer) \"\(p.1)\", calibration \"\(k.1)\"") }
            }
        }
        if checks.contains(.actuatorLimits) {
            for (i, (p, k)) in zip(spec.actions, actions).enumerated() {
                let slack = 1e-6 * max(1, abs(p.low), abs(p.high))
                if k.low < p.low - slack || k.high > p.high + slack {
                    out.append("actions[\(i)] (\(k.name)): calibration hard limits \(k.low)...\(k.high) exceed the actuator limits \(p.low)...\(p.high)")
                }
            }
        }
        return out
    }
}
