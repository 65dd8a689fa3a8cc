import IQCalibration
import IQModel
import IQPlanner

/// Start-up checks that tie the three inputs of a deployment together: the weights, the
/// calibration and the planner settings. Everything here may allocate and throw; nothing
/// here runs per step.
public struct ControllerSetup: Sendable {
    public let model: WorldModel
    public let modelMetadata: [String: String]
    public let calibration: Calibration
    public let plannerConfig: PlannerConfig
    public let plannerSeed: UInt64
    /// Non-fatal findings (e.g. an overridden calibration mismatch) for the log.
    public let warnings: [String]

    public struct SetupError: Error, CustomStringConvertible {
        public let description: String
        package init(description: String) { self.description = description }
    }

    /// Loads weights and calibration from files and checks them against each other.
    public static func load(weightsPath: String, calibrationPath: String,
                            allowCalibrationMismatch: Bool) throws -> ControllerSetup {
        try load(weightsPath: weightsPath, calibration: try Calibration.load(path: calibrationPath),
                 allowCalibrationMismatch: allowCalibrationMismatch)
    }

    /// Loads the weights and checks them against an already loaded (maybe overridden) calibration.
    public static func load(weightsPath: String, calibration: Calibration,
                            allowCalibrationMismatch: Bool) throws -> ControllerSetup {
        let (model, metadata): (WorldModel, [String: String])
        do { (model, metadata) = try WorldModel.load(path: weightsPath) } catch {
            throw SetupError(description: "\(weightsPath): \(error)")
        }
        return try ControllerSetup(model: model, metadata: metadata, calibration: calibration,
                                   allowCalibrationMismatch: allowCalibrationMismatch)
    }

    public init(model: WorldModel, metadata: [String: String], calibration: Calibration,
                allowCalibrationMismatch: Bool) throws {
        do {
            try calibration.check(obsDim: model.config.obsDim, actDim: model.config.actDim)
        } catch {
            throw SetupError(description: "calibration does not fit the weights: \(error)")
        }
        warnings = try calibration.checkMapping(against: metadata, allowMismatch: allowCalibrationMismatch)
        self.model = model
        self.modelMetadata = metadata
        self.calibration = calibration
        (plannerConfig, plannerSeed) = try Self.plannerConfig(calibration.planner, actDim: model.config.actDim)
    }

    /// The paper's planner for this action dimension, with the calibration's overrides.
    static func plannerConfig(_ s: Calibration.PlannerSettings, actDim: Int) throws -> (PlannerConfig, UInt64) {
        var c = PlannerConfig.paper(actDim: actDim)
        if let v = s.samples {
            c.setSamples(v)
        }
        if let v = s.iterations { c.iterations = v }
        if let v = s.horizon { c.horizon = v }
        if let v = s.threads { c.threads = v }
        if let v = s.actionSelection { c.actionSelection = v == "mean" ? .mean : .sample }
        if let v = s.priorAnchor { c.priorAnchor = v }
        if let v = s.temperature { c.temperature = v }
        do { try c.validate() } catch {
            throw SetupError(description: "calibration planner: section gives an invalid planner: \(error)")
        }
        return (c, s.seed ?? 1)
    }
}
