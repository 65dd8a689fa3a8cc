import Testing
@testable import IQModel

/// The first layers over concat(z, a) run split (latent product + action term, shared latent at
/// the planner's step 0) and, by default, on the packed kernels. Each variant must compute the
/// same function as the plain form within float rounding.
@Suite struct SplitFirstLayerTests {
    static func model(act: Int, kernels: WorldModel.Kernels = .packed, preset: String = "tiny") throws -> WorldModel {
        let c = try ModelConfig.preset(preset, obsDim: 6, actDim: act)
        return WorldModel.initialised(config: c, seed: 21, nonzeroQ: true).withKernels(kernels)
    }

    static func data(_ n: Int, _ scale: Float, seed: UInt64) -> [Float] {
        var r = TestRandom(s: seed)
        return r.vector(n, scale: scale)
    }

    /// Broadcasting one latent (`sharedZ`) equals passing it replicated on every row.
    @Test(arguments: [1, 6, 12])
    func sharedLatentEqualsReplicatedRows(act: Int) throws {
        let m = try Self.model(act: act)
        let L = m.config.latentDim, rows = 19
        let z0 = Self.data(L, 0.3, seed: 1), a = Self.data(rows * act, 0.5, seed: 2).map { max(-1, min(1, $0)) }
        let zRep = (0..<rows).flatMap { _ in z0 }
        let ws = ForwardWorkspace(model: m, maxRows: rows)
        var d1 = [Float](repeating: 0, count: rows * L), d2 = d1, q1 = [Float](repeating: 0, count: rows), q2 = q1
        m.dynamics(z: z0, actions: a, rows: rows, into: &d1, workspace: ws, sharedZ: true)
        m.dynamics(z: zRep, actions: a, rows: rows, into: &d2, workspace: ws)
        m.q(head: 3, z: z0, actions: a, rows: rows, into: &q1, workspace: ws, sharedZ: true)
        m.q(head: 3, z: zRep, actions: a, rows: rows, into: &q2, workspace: ws)
        for i in d1.indices { #expect(abs(d1[i] - d2[i]) <= 2e-6, "dynamics \(i): \(d1[i]) vs \(d2[i])") }
        for i in q1.indices { #expect(abs(q1[i] - q2[i]) <= 2e-5 * max(1, abs(q2[i])), "q \(i): \(q1[i]) vs \(q2[i])") }
    }

    /// Packed kernels and OpenBLAS compute the same forward passes.
    @Test(arguments: ["tiny", "small"])
    func packedMatchesBlas(preset: String) throws {
        let packed = try Self.model(act: 3, preset: preset), blas = packed.withKernels(.blas)
        #expect(packed.kernels == .packed && blas.kernels == .blas)
        let L = packed.config.latentDim, rows = 31
        let z = Self.data(rows * L, 0.3, seed: 3), a = Self.data(rows * 3, 0.5, seed: 4).map { max(-1, min(1, $0)) }
        let obs = Self.data(rows * 6, 1, seed: 5)
        let ws = ForwardWorkspace(model: packed, maxRows: rows)
        func outputs(_ m: WorldModel) -> [Float] {
            var e = [Float](repeating: 0, count: rows * L), d = e, q = [Float](repeating: 0, count: rows)
            var mean = [Float](repeating: 0, count: rows * 3)
            m.encode(obs: obs, rows: rows, into: &e, workspace: ws)
            m.dynamics(z: z, actions: a, rows: rows, into: &d, workspace: ws)
            m.q(head: 1, z: z, actions: a, rows: rows, into: &q, workspace: ws)
            m.policy(z: z, rows: rows, noise: nil, meanOut: &mean, actionOut: nil, logProbOut: nil, logStdOut: nil, workspace: ws)
            return e + d + q + mean
        }
        let p = outputs(packed), b = outputs(blas)
        var worst: Float = 0
        for i in p.indices { worst = max(worst, abs(p[i] - b[i]) / max(1, abs(b[i]))) }
        #expect(worst < 1e-5, "worst relative difference \(worst)")
    }
}
