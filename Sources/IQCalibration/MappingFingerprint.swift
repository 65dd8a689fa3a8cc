import Crypto
/// Fingerprint of the observation/action mapping, stored in the weights file by the trainer
/// and checked by the runtime. Only the numbers that change what the model sees or what its
/// outputs mean are covered (dimensions, observation offset/scale, action offset/scale);
/// limits, rate limits, timing and endpoints may be tuned on the robot without retraining.
extension Calibration {
    public enum MetadataKey {
        public static let hash = "iqmpc.calibration.hash"
        public static let robotId = "iqmpc.calibration.robot_id"
        public static let observationNames = "iqmpc.calibration.observation_names"
        public static let observationOffset = "iqmpc.calibration.observation_offset"
        public static let observationScale = "iqmpc.calibration.observation_scale"
        public static let actionNames = "iqmpc.calibration.action_names"
        public static let actionOffset = "iqmpc.calibration.action_offset"
        public static let actionScale = "iqmpc.calibration.action_scale"
    }

    /// The canonical text the hash is taken over (documented in Calibration/README.md so that
    /// any tool can recompute it): one line per number, IEEE-754 binary32 bit patterns as
    /// 8 lower-case hex digits, so that the hash is exact and locale-free.
    public var canonicalMapping: String {
        func bits(_ x: Float) -> String {
            let h = String(x.bitPattern, radix: 16)
            return String(repeating: "0", count: 8 - h.count) + h
        }
        var s = "iqmpc-calibration-mapping 1\nobs_dim \(obsDim)\nact_dim \(actDim)\n"
        for (i, c) in observations.enumerated() { s += "obs \(i) \(bits(c.offset)) \(bits(c.scale))\n" }
        for (i, c) in actions.enumerated() { s += "act \(i) \(bits(c.offset)) \(bits(c.scale))\n" }
        return s
    }

    /// SHA-256 of `canonicalMapping`, lower-case hex.
    public var mappingHash: String {
        Crypto.SHA256.hash(data: Array(canonicalMapping.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// What the trainer writes into the weights' metadata: the hash plus the numbers
    /// themselves (shortest round-trip decimal, comma-separated) so that a mismatch can be
    /// explained channel by channel.
    public func mappingMetadata() -> [String: String] {
        func list(_ xs: [Float]) -> String { xs.map { "\($0)" }.joined(separator: ",") }
        return [
            MetadataKey.hash: mappingHash,
            MetadataKey.robotId: robotId,
            MetadataKey.observationNames: observations.map(\.name).joined(separator: ","),
            MetadataKey.observationOffset: list(observations.map(\.offset)),
            MetadataKey.observationScale: list(observations.map(\.scale)),
            MetadataKey.actionNames: actions.map(\.name).joined(separator: ","),
            MetadataKey.actionOffset: list(actions.map(\.offset)),
            MetadataKey.actionScale: list(actions.map(\.scale)),
        ]
    }

    /// Compares this calibration's mapping with the one recorded in a weights file.
    /// Equal: returns no warnings. Different or not recorded: throws a `CalibrationError`
    /// listing the differences, or with `allowMismatch` returns them as warnings instead.
    public func checkMapping(against metadata: [String: String], allowMismatch: Bool) throws(CalibrationError) -> [String] {
        let problems = mappingDifferences(metadata)
        if problems.isEmpty { return [] }
        if allowMismatch {
            return problems.map { "calibration differs from the one the weights were trained with (override given): \($0)" }
        }
        throw CalibrationError(field: "mapping",
            message: "differs from the calibration the weights were trained with: "
                + problems.joined(separator: "; ")
                + " (retrain, use the training calibration, or pass --allow-calibration-mismatch to run anyway)")
    }

    func mappingDifferences(_ metadata: [String: String]) -> [String] {
        guard let recorded = metadata[MetadataKey.hash] else {
            return ["the weights record no calibration (metadata key \(MetadataKey.hash) is absent)"]
        }
        if recorded == mappingHash { return [] }
        var problems: [String] = []
        func floats(_ key: String) -> [Float]? {
            guard let s = metadata[key] else { return nil }
            if s.isEmpty { return [] }
            let parts = s.split(separator: ",", omittingEmptySubsequences: false).map { Float(String($0)) }
            return parts.contains(where: { $0 == nil }) ? nil : parts.map { $0! }
        }
        func compare(_ what: String, _ key: String, ours: [Float], names: [String]) {
            guard let theirs = floats(key) else { return }
            if theirs.count != ours.count {
                problems.append("\(what): weights have \(theirs.count) channels, calibration \(ours.count)")
                return
            }
            for i in 0..<ours.count where theirs[i].bitPattern != ours[i].bitPattern && problems.count < 8 {
                let name = i < names.count ? names[i] : "#\(i)"
                problems.append("\(what) of channel \(i) (\(name)): weights \(theirs[i]), calibration \(ours[i])")
            }
        }
        compare("observation offset", MetadataKey.observationOffset, ours: observations.map(\.offset),
                names: observations.map(\.name))
        compare("observation scale", MetadataKey.observationScale, ours: observations.map(\.scale),
                names: observations.map(\.name))
        compare("action offset", MetadataKey.actionOffset, ours: actions.map(\.offset),
                names: actions.map(\.name))
        compare("action scale", MetadataKey.actionScale, ours: actions.map(\.scale),
                names: actions.map(\.name))
        if problems.isEmpty { problems.append("mapping hash \(recorded) recorded, calibration has \(mappingHash)") }
        return problems
    }
}
