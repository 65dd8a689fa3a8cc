import IQCalibration
import IQLink
import IQModel

/// Refusals for reward recovery's inputs. Decoding normalises every logged observation with
/// the calibration and feeds it to the model, so weights, calibration and each log must all
/// describe the same plant; checked up front so a mismatch is named instead of crashing in
/// `normalise` or quietly decoding zero transitions.
public enum RecoveryInputs {
    public struct Mismatch: Error, CustomStringConvertible {
        public var description: String
    }

    /// The same two checks `iqmpc-runtime run` makes: the calibration's channel counts fit the
    /// model, and its mapping is the one stamped into the weights (with `allowMismatch` the
    /// mapping differences come back as warnings; wrong dimensions are always refused).
    public static func check(model: WorldModel, metadata: [String: String], calibration: Calibration,
                             weightsPath: String, allowMismatch: Bool) throws -> [String] {
        do {
            try calibration.check(obsDim: model.config.obsDim, actDim: model.config.actDim)
            return try calibration.checkMapping(against: metadata, allowMismatch: allowMismatch)
        } catch {
            throw Mismatch(description: "weights \(weightsPath) do not fit the calibration: \(error)")
        }
    }

    /// A log recorded from another plant: robot id, channel counts, names and units must be
    /// the calibration's (`Calibration.mismatches(with:peer:checks:)`; no period or limits).
    public static func check(log path: String, spec: PlantSpec, calibration: Calibration) throws {
        let problems = calibration.mismatches(with: spec, peer: "log")
        if !problems.isEmpty {
            throw Mismatch(description: "log \(path) was recorded from a plant the calibration does not describe: "
                           + problems.prefix(8).joined(separator: "; "))
        }
    }
}
