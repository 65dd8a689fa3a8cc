import ArgumentParser
import IQModel

/// `iqmpc-runtime eval`: one deterministic forward evaluation, the hook for parity checks
/// against independent implementations (Scripts/reference/forward.py).
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate latent, policy mean/log-std, all Q heads and (TD-MPC2) the reward for one observation.")

    @Option(help: "Weights file.") var weights: String
    @Option(parsing: .unconditional, help: "Normalised observation, comma-separated (obs_dim values).") var obs: String
    @Option(parsing: .unconditional, help: "Action for Q, comma-separated (act_dim values); default: the policy mean.") var action: String?
    @Flag(help: "Print one JSON object (the only output format).") var json = false

    func run() throws {
        let (model, _) = try WorldModel.load(path: weights)
        let o = try WorldModel.parseVector(obs, count: model.config.obsDim, what: "--obs")
        let a = try action.map { try WorldModel.parseVector($0, count: model.config.actDim, what: "--action") }
        print(try model.evaluate(obs: o, action: a).json)
    }
}
