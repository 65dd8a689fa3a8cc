import ArgumentParser
import Foundation
import IQJSON
import IQModel
import IQPlanner

/// `iqmpc-runtime score`: the planner's value of one given action sequence, term by term, from
/// the planner's own scoring code (`TrajectoryScorer`), so it can be checked from outside the
/// process (Scripts/reference/score.py is the independent implementation).
struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score one action sequence with the planner's reward-decoded value (policy samples at ε = 0, a fixed Q head pair).")

    @Option(help: "Weights file.") var weights: String
    @Option(parsing: .unconditional, help: "Normalised observation, comma-separated (obs_dim values).") var obs: String
    @Option(parsing: .unconditional, help: "Actions a_0..a_{H-1}, comma-separated, H × act_dim values row-major, each in [-1, 1].")
    var actions: String
    @Option(help: "The two distinct Q heads, \"i,j\": min of the pair for q_t and V_{t+1}, mean at the terminal.") var heads = "0,1"
    @Option(help: "The prior anchor's κ (the calibration's planner.prior_anchor; 0 = none).") var priorAnchor: Double = 0
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        let (model, _) = try WorldModel.load(path: weights)
        let o = try WorldModel.parseVector(obs, count: model.config.obsDim, what: "--obs")
        let A = model.config.actDim
        let n = actions.split(separator: ",", omittingEmptySubsequences: false).count
        guard n >= A && n % A == 0 else {
            throw ValidationError("--actions has \(n) values; need H × act_dim (act_dim \(A)) with H >= 1")
        }
        let a = try WorldModel.parseVector(actions, count: n, what: "--actions")
        let h = heads.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard h.count == 2, let i = h[0], let j = h[1] else { throw ValidationError("--heads must be two integers \"i,j\"") }
        let s: TrajectoryScore
        do { s = try TrajectoryScorer.score(model: model, observation: o, actions: a, heads: (i, j), priorAnchor: priorAnchor) } catch {
            throw ValidationError(error.description)
        }
        // %.9g round-trips Float exactly.
        func num(_ x: Float) -> String { x.isFinite ? String(format: "%.9g", Double(x)) : (x > 0 ? "\"inf\"" : (x < 0 ? "\"-inf\"" : "\"nan\"")) }
        if json {
            struct Output: Encodable {
                var value: Float, rewards: [Float], logPi: [Float], terminal: Float, q: [Float], nextV: [Float]
                var terminalQ: Float, terminalAction: [Float], anchor: [Float], gamma: Float, alpha: Float, heads: [Int]
            }
            print(try StrictJSON.output(Output(value: s.value, rewards: s.rewards, logPi: s.logPi, terminal: s.terminal, q: s.q,
                                               nextV: s.nextV, terminalQ: s.terminalQ, terminalAction: s.terminalAction,
                                               anchor: s.anchor, gamma: s.gamma, alpha: s.alpha, heads: [i, j])))
        } else {
            print("value \(num(s.value))  (gamma \(num(s.gamma)), alpha \(num(s.alpha)), heads \(i),\(j))")
            for t in 0..<s.rewards.count {
                print("t=\(t): r \(num(s.rewards[t]))  q \(num(s.q[t]))  V_next \(num(s.nextV[t]))  log_pi \(num(s.logPi[t]))  anchor \(num(s.anchor[t]))")
            }
            print("terminal \(num(s.terminal))  (Q \(num(s.terminalQ)), log_pi \(num(s.logPi[s.rewards.count])))")
        }
    }
}
