import IQCalibration
import IQLink

/// The CURVE keys named by the calibration's `link.security`, loaded once at start-up:
/// the runtime is a CURVE client of the plant (observations, actions, lockstep) and the
/// CURVE server of its telemetry socket.
public struct LinkKeys: Sendable {
    /// For the sockets that connect to the plant; nil without CURVE.
    public let plant: CurveClientKeys?
    /// For the telemetry socket the runtime binds; nil without CURVE.
    public let telemetry: CurveServerKeys?

    public static let none = LinkKeys(plant: nil, telemetry: nil)

    init(plant: CurveClientKeys?, telemetry: CurveServerKeys?) {
        self.plant = plant
        self.telemetry = telemetry
    }

    public static func load(_ security: Calibration.Security) throws(LinkError) -> LinkKeys {
        guard let c = security.curve else { return .none }
        let own = try CurveKeys.loadSecret(path: c.secretKeyFile)
        let plant = CurveClientKeys(own: own, serverPublicKey: try CurveKeys.loadPublic(path: c.plantPublicKeyFile))
        let subscribers = try c.authorisedKeysFile.map { p throws(LinkError) in try CurveKeys.loadAuthorised(path: p) } ?? []
        return LinkKeys(plant: plant, telemetry: CurveServerKeys(own: own, authorisedKeys: subscribers))
    }
}
