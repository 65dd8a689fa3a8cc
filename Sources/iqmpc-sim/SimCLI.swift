import ArgumentParser

/// Simulated robots on MuJoCo served over the wire protocol. One file per subcommand.
@main
struct SimCLI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "iqmpc-sim",
        abstract: "MuJoCo simulated robots, expert controllers and demonstrations over the iqmpc protocol.",
        subcommands: [
            // Add subcommands here, one line each (owner: plants).
            EvalCommand.self,
            ServeCommand.self,
            RecordCommand.self,
            ReplayCommand.self,
        ]
    )
}
