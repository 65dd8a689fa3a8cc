import IQCalibration
import IQLink

/// What `iqmpc-runtime version` prints: enough to tell which build runs on a robot.
public enum RuntimeVersion {
    public static let version = "0.1.0"

    public static var buildConfiguration: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }

    public static var compiler: String {
        #if compiler(>=6.3)
        return "Swift >= 6.3"
        #elseif compiler(>=6.0)
        return "Swift 6.x (< 6.3)"
        #else
        return "Swift < 6"
        #endif
    }

    public static var architecture: String {
        #if arch(x86_64)
        return "x86_64"
        #elseif arch(arm64)
        return "arm64"
        #else
        return "unknown"
        #endif
    }

    public static var text: String {
        """
        iqmpc-runtime \(version)
        protocol version \(LinkBounds.protocolVersion) (iqmpc.v1; frames <= \(LinkBounds.maxFrameBytes) bytes, obs <= \(LinkBounds.maxObsDim), act <= \(LinkBounds.maxActDim))
        calibration format \(Calibration.formatVersion)
        build \(buildConfiguration), \(compiler), \(architecture)
        """
    }
}
