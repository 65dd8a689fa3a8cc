import IQKernels
import IQModel
@testable import IQTrainer
import Testing

/// What is trained is what is deployed: the trainer's forward passes on θ imported from a
/// WorldModel agree with the runtime's forward passes, and export → import is lossless.
struct ParityTests {
    @Test func trainerForwardMatchesWorldModel() throws {
        let config = try ModelConfig.preset("tiny", obsDim: 5, actDim: 2)
        let model = WorldModel.initialised(config: config, seed: 3, nonzeroQ: true)
        let layout = ParamLayout(NetShape(config))
        let theta = Tensor<Float>(layout.total)
        WeightsBridge.load(model, into: theta.p)
        let rows = 7
        var r = SeededRandom(seed: 4)
        let obs = (0..<(rows * 5)).map { _ in Float(r.normal() * 2) }
        let ws = ForwardWorkspace(model: model, maxRows: rows)
        var z = [Float](repeating: 0, count: rows * 64)
        model.encode(obs: obs, rows: rows, into: &z, workspace: ws)
        var rng = SeededRandom(seed: 1)
        let enc = MLPCache<Float>(spec: layout.encoder, maxRows: rows)
        for i in 0..<obs.count { enc.input.p[i] = obs[i] }
        let mine = enc.forward(params: theta.p + layout.encoderOffset, rows: rows, dropout: 0, rng: &rng)
        var worst: Float = 0
        for i in 0..<z.count { worst = max(worst, abs(z[i] - mine[i])) }
        #expect(worst < 1e-5)

        let acts = (0..<(rows * 2)).map { _ in Float(r.uniform() * 2 - 1) }
        var qOut = [Float](repeating: 0, count: rows)
        model.q(head: 3, z: z, actions: acts, rows: rows, into: &qOut, workspace: ws)
        let qc = MLPCache<Float>(spec: layout.q, maxRows: rows)
        for i in 0..<rows {
            for j in 0..<64 { qc.input.p[i * 66 + j] = z[i * 64 + j] }
            for j in 0..<2 { qc.input.p[i * 66 + 64 + j] = acts[i * 2 + j] }
        }
        let qm = qc.forward(params: theta.p + layout.qHeadOffset(3), rows: rows, dropout: 0, rng: &rng)
        for i in 0..<rows { #expect(abs(qm[i] - qOut[i]) < 1e-5 * max(1, abs(qOut[i]))) }

        let noise = (0..<(rows * 2)).map { _ in Float(r.normal()) }
        var a = [Float](repeating: 0, count: rows * 2), lp = [Float](repeating: 0, count: rows)
        model.policy(z: z, rows: rows, noise: noise, meanOut: nil, actionOut: &a, logProbOut: &lp, logStdOut: nil, workspace: ws)
        let pc = MLPCache<Float>(spec: layout.policy, maxRows: rows)
        for i in 0..<z.count { pc.input.p[i] = z[i] }
        let raw = pc.forward(params: theta.p + layout.policyOffset, rows: rows, dropout: 0, rng: &rng)
        let head = PolicyHead<Float>(actDim: 2, maxRows: rows, logStdMin: -10, logStdMax: 2)
        for i in 0..<noise.count { head.eps.p[i] = noise[i] }
        head.forward(raw: raw, rows: rows)
        for i in 0..<a.count { #expect(abs(head.action.p[i] - a[i]) < 1e-5) }
        for i in 0..<rows { #expect(abs(head.logProb.p[i] - lp[i]) < 1e-4 * max(1, abs(lp[i]))) }

        // Export round trip is exact.
        let back = try WeightsBridge.model(config: config, theta: theta.p)
        #expect(back.contentHash == model.contentHash)
    }
}
