import IQCalibration
import IQLink

/// Decides whether a plant's Hello may start a session: protocol version, link mode, and
/// the plant's RobotSpec against the calibration (which start-up already checked against
/// the model's dimensions). Returns nil to accept, or the refusal with every mismatch named.
public enum HandshakeCheck {
    public static func refusal(for hello: HelloMessage, calibration c: Calibration) -> ErrorInfo? {
        if hello.protocolVersion != LinkBounds.protocolVersion {
            return ErrorInfo(code: .protocolVersion, fatal: true,
                message: "protocol_version: plant speaks \(hello.protocolVersion), controller \(LinkBounds.protocolVersion)")
        }
        let problems = mismatches(hello, c)
        if problems.isEmpty { return nil }
        return ErrorInfo(code: .specMismatch, fatal: true,
                         message: "spec does not match calibration \(c.robotId): " + problems.joined(separator: "; "))
    }

    static func mismatches(_ hello: HelloMessage, _ c: Calibration) -> [String] {
        var out: [String] = []
        let spec = hello.spec
        let expectedMode: LinkMode = c.link.mode == .lockstep ? .lockstep : .freeRunning
        if hello.mode != expectedMode {
            out.append("mode: plant \(hello.mode), calibration link.mode \(c.link.mode.rawValue)")
        }
        if spec.robotId != c.robotId { out.append("robot_id: plant \"\(spec.robotId)\", calibration \"\(c.robotId)\"") }
        if spec.obsDim != c.obsDim { out.append("obs_dim: plant \(spec.obsDim), calibration/model \(c.obsDim)") }
        if spec.actDim != c.actDim { out.append("act_dim: plant \(spec.actDim), calibration/model \(c.actDim)") }
        if spec.controlPeriodNs != c.timing.controlPeriodNs {
            out.append("control_period_ns: plant \(spec.controlPeriodNs), calibration timing.control_period_ms \(Double(c.timing.controlPeriodNs) / 1e6) ms")
        }
        for (i, (p, k)) in zip(spec.observations, c.observations).enumerated() {
            if p.name != k.name { out.append("observations[\(i)].name: plant \"\(p.name)\", calibration \"\(k.name)\"") }
            if p.unit != k.unit { out.append("observations[\(i)].unit (\(k.name)): plant \"\(p.unit)\", calibration \"\(k.unit)\"") }
        }
        for (i, (p, k)) in zip(spec.actions, c.actions).enumerated() {
            if p.name != k.name { out.append("actions[\(i)].name: plant \"\(p.name)\", calibration \"\(k.name)\"") }
            if p.unit != k.unit { out.append("actions[\(i)].unit (\(k.name)): plant \"\(p.unit)\", calibration \"\(k.unit)\"") }
            // The calibration may be stricter than the actuator, never looser.
            let slack = 1e-6 * max(1, abs(p.low), abs(p.high))
            if k.low < p.low - slack || k.high > p.high + slack {
                out.append("actions[\(i)] (\(k.name)): calibration hard limits \(k.low)...\(k.high) exceed the actuator limits \(p.low)...\(p.high)")
            }
        }
        return out
    }
}
