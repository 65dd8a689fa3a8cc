import Foundation
import IQJSON

/// One deterministic single-observation evaluation, for the `eval` and `inspect` commands
/// and for tests. Allocates (not a hot path); the numbers come from the same forward passes
/// the planner uses.
public struct ModelEvaluation: Equatable, Sendable, Encodable {
    public var latent: [Float]
    public var policyMean: [Float]
    public var policyLogStd: [Float]
    /// The action Q was evaluated at (the given one, or `policyMean`).
    public var action: [Float]
    /// All K heads at (z, action) (TD-MPC2: decoded from their two-hot logits).
    public var q: [Float]
    /// TD-MPC2's decoded reward R(z, action); nil (and absent from the JSON) for IQ-MPC,
    /// whose rewards come from Q.
    public var reward: Float? = nil

    /// One JSON object, keys as in the CLI contract. Floats are printed with shortest
    /// round-trip precision; non-finite values (possible only from hostile inputs) as "nan"/"inf".
    public var json: String {
        // Arrays of Float only: cannot fail.
        try! StrictJSON.output(self)
    }
}

extension WorldModel {
    /// Parses a comma-separated list of finite numbers of the expected length.
    public static func parseVector(_ text: String, count: Int, what: String) throws -> [Float] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == count else {
            throw WeightsError.input("\(what) has \(parts.count) values but the model needs \(count)")
        }
        return try parts.enumerated().map { i, p in
            guard let v = Float(p.trimmingCharacters(in: .whitespaces)), v.isFinite else {
                throw WeightsError.input("\(what)[\(i)] = \"\(p)\" is not a finite number")
            }
            return v
        }
    }

    /// z = h(obs), π's mean and log σ at z, and every Q head at (z, action ?? mean).
    public func evaluate(obs: [Float], action: [Float]? = nil) throws -> ModelEvaluation {
        let c = config
        guard obs.count == c.obsDim else { throw WeightsError.input("obs has \(obs.count) values, model needs \(c.obsDim)") }
        if let a = action, a.count != c.actDim {
            throw WeightsError.input("action has \(a.count) values, model needs \(c.actDim)")
        }
        let ws = ForwardWorkspace(model: self, maxRows: 1)
        var z = [Float](repeating: 0, count: c.latentDim)
        encode(obs: obs, rows: 1, into: &z, workspace: ws)
        var mean = [Float](repeating: 0, count: c.actDim), logStd = mean
        policy(z: z, rows: 1, noise: nil, meanOut: &mean, actionOut: nil, logProbOut: nil,
               logStdOut: &logStd, workspace: ws)
        let a = action ?? mean
        var q = [Float](repeating: 0, count: c.numQ)
        for k in 0..<c.numQ {
            q.withUnsafeMutableBufferPointer { qb in
                self.q(head: k, z: z, actions: a, rows: 1, into: qb.baseAddress! + k, workspace: ws)
            }
        }
        var r: Float? = nil
        if c.kind == .tdmpc2 {
            var out: Float = 0
            reward(z: z, actions: a, rows: 1, into: &out, workspace: ws)
            r = out
        }
        return ModelEvaluation(latent: z, policyMean: mean, policyLogStd: logStd, action: a, q: q, reward: r)
    }

    /// Human-readable summary for `inspect`.
    public var summary: String {
        let c = config
        var s = "format: \(WorldModel.formatName) v\(WorldModel.formatVersion)\n"
        s += "model_kind: \(c.kind.rawValue)\n"
        s += "obs_dim: \(c.obsDim)\nact_dim: \(c.actDim)\nlatent_dim: \(c.latentDim)\n"
        s += "encoder_hidden: \(c.encoderHidden)\nmlp_dim: \(c.mlpDim)\nnum_q: \(c.numQ)\n"
        s += "simnorm_group: \(c.simnormGroup)\nlog_std: [\(c.logStdMin), \(c.logStdMax)]\n"
        s += "discount: \(c.discount)\nentropy_coef: \(c.entropyCoef)\n"
        if c.kind == .tdmpc2 { s += "two_hot: \(c.numBins) bins over [\(c.vMin), \(c.vMax)] (symlog)\n" }
        s += "parameters: \(parameterCount)\ncontent_hash: \(contentHash)\n"
        return s
    }
}
