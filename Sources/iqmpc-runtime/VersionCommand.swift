import ArgumentParser
import IQRuntime

/// `iqmpc-runtime version`: build and protocol versions (also `iqmpc-runtime --version`).
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the runtime, protocol and calibration-format versions and the build.")

    func run() { print(RuntimeVersion.text) }
}
