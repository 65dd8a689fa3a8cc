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
        let expectedMode: LinkMode = c.link.mode == .lockstep ? .lockstep : .freeRunning
        if hello.mode != expectedMode {
            out.append("mode: plant \(hello.mode), calibration link.mode \(c.link.mode.rawValue)")
        }
        return out + c.mismatches(with: hello.spec, peer: "plant", checks: [.controlPeriod, .actuatorLimits])
    }
}
