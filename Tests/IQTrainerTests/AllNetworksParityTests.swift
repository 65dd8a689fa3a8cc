import IQKernels
import IQModel
@testable import IQTrainer
import Testing

/// The trainer's Float forward passes agree with the runtime's for all four networks, the
/// dynamics included, on every preset and on an odd configuration (two encoder layers,
/// widths that are no multiple of the kernels' tiles, three Q heads, SimNorm groups of 6),
/// with two distinct Q heads (first and last) so a head-offset mistake cannot hide.
@Suite struct AllNetworksParityTests {
    static let configs: [ModelConfig] = [
        try! ModelConfig.preset("tiny", obsDim: 5, actDim: 2),
        try! ModelConfig.preset("small", obsDim: 6, actDim: 3),
        try! ModelConfig.preset("paper", obsDim: 7, actDim: 4),
        ModelConfig(obsDim: 3, actDim: 5, latentDim: 24, encoderHidden: [40, 17], mlpDim: 33, numQ: 3, simnormGroup: 6),
    ]

    /// Largest difference relative to max(1, |runtime value|).
    static func gap(_ a: UnsafePointer<Float>, _ b: [Float]) -> Float {
        var worst: Float = 0
        for i in b.indices { worst = max(worst, abs(a[i] - b[i]) / max(1, abs(b[i]))) }
        return worst
    }

    @Test(arguments: configs.indices)
    func everyNetworkMatchesTheRuntime(_ index: Int) throws {
        let c = Self.configs[index]
        let D = c.obsDim, A = c.actDim, L = c.latentDim
        let model = WorldModel.initialised(config: c, seed: 11, nonzeroQ: true)
        let layout = ParamLayout(c)
        let theta = Tensor<Float>(layout.total)
        WeightsBridge.load(model, into: theta.p)
        let rows = 9
        var r = SeededRandom(seed: 5)
        var rng = SeededRandom(seed: 6)
        let obs = (0..<(rows * D)).map { _ in Float(r.normal() * 2) }
        let acts = (0..<(rows * A)).map { _ in Float(r.uniform() * 2 - 1) }
        let ws = ForwardWorkspace(model: model, maxRows: rows)

        var z = [Float](repeating: 0, count: rows * L)
        model.encode(obs: obs, rows: rows, into: &z, workspace: ws)
        let enc = MLPCache<Float>(spec: layout.encoder, maxRows: rows)
        for i in obs.indices { enc.input.p[i] = obs[i] }
        #expect(Self.gap(enc.forward(params: theta.p + layout.encoderOffset, rows: rows, dropout: 0, rng: &rng), z) < 1e-5)

        // [z | a] rows, the input of the dynamics and of every Q head.
        var za = [Float](repeating: 0, count: rows * (L + A))
        for i in 0..<rows {
            for j in 0..<L { za[i * (L + A) + j] = z[i * L + j] }
            for j in 0..<A { za[i * (L + A) + L + j] = acts[i * A + j] }
        }
        var next = [Float](repeating: 0, count: rows * L)
        model.dynamics(z: z, actions: acts, rows: rows, into: &next, workspace: ws)
        let dyn = MLPCache<Float>(spec: layout.dynamics, maxRows: rows)
        for i in za.indices { dyn.input.p[i] = za[i] }
        #expect(Self.gap(dyn.forward(params: theta.p + layout.dynamicsOffset, rows: rows, dropout: 0, rng: &rng), next) < 1e-5)

        var outs: [[Float]] = []
        for head in [0, c.numQ - 1] {
            var q = [Float](repeating: 0, count: rows)
            model.q(head: head, z: z, actions: acts, rows: rows, into: &q, workspace: ws)
            let qc = MLPCache<Float>(spec: layout.q, maxRows: rows)
            for i in za.indices { qc.input.p[i] = za[i] }
            #expect(Self.gap(qc.forward(params: theta.p + layout.qHeadOffset(head), rows: rows, dropout: 0, rng: &rng), q) < 1e-5,
                    "head \(head)")
            outs.append(q)
        }
        #expect(outs[0] != outs[1], "the two heads must differ, or the check could not see a head mix-up")

        let noise = (0..<(rows * A)).map { _ in Float(r.normal()) }
        var a = [Float](repeating: 0, count: rows * A), lp = [Float](repeating: 0, count: rows)
        model.policy(z: z, rows: rows, noise: noise, meanOut: nil, actionOut: &a, logProbOut: &lp, logStdOut: nil, workspace: ws)
        let pc = MLPCache<Float>(spec: layout.policy, maxRows: rows)
        for i in z.indices { pc.input.p[i] = z[i] }
        let raw = pc.forward(params: theta.p + layout.policyOffset, rows: rows, dropout: 0, rng: &rng)
        let head = PolicyHead<Float>(actDim: A, maxRows: rows, logStdMin: c.logStdMin, logStdMax: c.logStdMax)
        for i in noise.indices { head.eps.p[i] = noise[i] }
        head.forward(raw: raw, rows: rows)
        #expect(Self.gap(head.action.p, a) < 1e-5)
        #expect(Self.gap(head.logProb.p, lp) < 1e-4)
    }
}
