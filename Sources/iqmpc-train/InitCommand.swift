import ArgumentParser
import IQModel

/// `iqmpc-train init`: a freshly initialised weights file (docs/algorithm.md §1.8), the starting point for
/// training and the random model used by parity and planner tests.
struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write a freshly initialised weights file for a preset.")

    @Option(name: .customLong("obs-dim"), help: "Observation dimension.") var obsDim: Int
    @Option(name: .customLong("act-dim"), help: "Action dimension.") var actDim: Int
    @Option(help: "Model preset.") var preset: ModelConfig.Preset
    @Option(help: "Initialisation seed.") var seed: UInt64 = 0
    @Flag(name: .customLong("nonzero-q"), help: "Also randomise the Q output layers (non-zero Q, for tests).") var nonzeroQ = false
    @Option(help: "Output path.") var out: String

    func run() throws {
        let config = try ModelConfig.preset(preset.rawValue, obsDim: obsDim, actDim: actDim)
        let model = WorldModel.initialised(config: config, seed: seed, nonzeroQ: nonzeroQ)
        try model.write(to: out)
        print("wrote \(out): preset \(preset.rawValue), \(model.parameterCount) parameters, content hash \(model.contentHash)")
    }
}
