import ArgumentParser
import IQRuntime

/// The deployed controller. Each subcommand lives in its own file in this folder;
/// this file only lists them.
@main
struct RuntimeCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iqmpc-runtime",
        abstract: "IQ-MPC runtime: plans actions over a frozen world model and talks to robots over ZeroMQ.",
        version: RuntimeVersion.text,
        subcommands: [
            InspectCommand.self,
            EvalCommand.self,
            BenchForwardCommand.self,
            PlanCommand.self,
            ScoreCommand.self,
            BenchCommand.self,
            RunCommand.self,
            CheckBudgetCommand.self,
            VersionCommand.self,
            KeygenCommand.self,
            BenchLinkCommand.self,
        ]
    )
}
