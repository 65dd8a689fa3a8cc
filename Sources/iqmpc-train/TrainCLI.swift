import ArgumentParser

/// The offline trainer. Each subcommand lives in its own file in this folder.
@main
struct TrainCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iqmpc-train",
        abstract: "IQ-MPC trainer: learns a reward-free world model from demonstrations and writes weights.",
        subcommands: [
            RunCommand.self,
            BCCommand.self,
            BenchUpdateCommand.self,
            // Add subcommands here, one line each (owners: inference `init`, trainer `run`, `bc`).
            ReportCommand.self,
            RewardRecoveryCommand.self,
            InitCommand.self,
            StampCalibrationCommand.self,
        ]
    )
}
