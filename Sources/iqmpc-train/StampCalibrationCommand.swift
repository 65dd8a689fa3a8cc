import ArgumentParser
import IQCalibration
import IQModel

/// `iqmpc-train stamp-calibration`: records a calibration's observation/action mapping in a
/// weights file that was trained elsewhere (Scripts/convert/from_torch.py), so that the runtime's
/// mapping check holds it to the calibration its training data was normalised with.
struct StampCalibrationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stamp-calibration",
        abstract: "Record a calibration's mapping hash in a weights file (rewritten atomically in place).")

    @Option(help: "Weights file to stamp.") var weights: String
    @Option(help: "Calibration YAML the model's observations and actions were normalised with.") var calibration: String

    func run() throws {
        let (model, metadata) = try WorldModel.load(path: weights)
        let cal = try Calibration.load(path: calibration)
        guard cal.obsDim == model.config.obsDim && cal.actDim == model.config.actDim else {
            throw WeightsError.input("calibration has obs_dim \(cal.obsDim), act_dim \(cal.actDim); the weights have \(model.config.obsDim), \(model.config.actDim)")
        }
        var md = metadata.filter { !WorldModel.reservedMetadataKeys.contains($0.key) }
        for (k, v) in cal.mappingMetadata() { md[k] = v }
        try model.write(to: weights, extraMetadata: md)
        print("stamped \(weights) with calibration \(cal.robotId) (mapping hash \(cal.mappingHash))")
    }
}
