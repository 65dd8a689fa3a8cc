import IQKernels
import IQModel
@testable import IQPlanner
import Testing

/// The planner's evaluate-once/sample-many policy must agree with `WorldModel.policy` — the
/// one definition of the squashed Gaussian — for the same latents and noise.
@Suite struct PolicySamplerTests {
    @Test(arguments: [(5, 1), (7, 4), (11, 21)])
    func matchesWorldModelPolicy(dims: (Int, Int)) {
        let (obs, act) = dims
        let model = Fixture.model(obs: obs, act: act, seed: 17)
        let L = model.config.latentDim, A = act, n = 37
        let rng = Philox(seed: 2)
        var z = [Float](repeating: 0, count: n * L), noise = [Float](repeating: 0, count: n * A)
        z.withUnsafeMutableBufferPointer { rng.fillNormal(stream: 1, counter: 0, into: $0.baseAddress!, count: $0.count) }
        noise.withUnsafeMutableBufferPointer { rng.fillNormal(stream: 2, counter: 0, into: $0.baseAddress!, count: $0.count) }
        // Make the log-std pre-activations span their range so tanh/exp paths are exercised.
        z = z.map { $0 * 3 }
        var refA = [Float](repeating: 0, count: n * A), refLp = [Float](repeating: 0, count: n)
        let ws = ForwardWorkspace(model: model, maxRows: n)
        z.withUnsafeBufferPointer { zp in noise.withUnsafeBufferPointer { np in
            refA.withUnsafeMutableBufferPointer { ap in refLp.withUnsafeMutableBufferPointer { lp in
                model.policy(z: zp.baseAddress!, rows: n, noise: np.baseAddress!, meanOut: nil, actionOut: ap.baseAddress!,
                             logProbOut: lp.baseAddress!, logStdOut: nil, workspace: ws)
            } }
        } }
        let sampler = PolicySampler(model: model)
        var raw = [Float](repeating: 0, count: n * 2 * A)
        var ping = [Float](repeating: 0, count: n * sampler.hiddenWidth), pong = ping
        var gotA = [Float](repeating: 0, count: n * A), gotLp = [Float](repeating: 0, count: n)
        z.withUnsafeBufferPointer { zp in raw.withUnsafeMutableBufferPointer { rp in
            ping.withUnsafeMutableBufferPointer { p1 in pong.withUnsafeMutableBufferPointer { p2 in
                sampler.head(z: zp.baseAddress!, ldz: L, rows: n, raw: rp.baseAddress!, ping: p1.baseAddress!, pong: p2.baseAddress!)
            } }
        } }
        raw.withUnsafeBufferPointer { rp in noise.withUnsafeBufferPointer { np in
            gotA.withUnsafeMutableBufferPointer { ap in gotLp.withUnsafeMutableBufferPointer { lp in
                sampler.sample(raw: rp.baseAddress!, rawStride: 2 * A, rows: n, noise: np.baseAddress!,
                               action: ap.baseAddress!, logProb: lp.baseAddress!)
            } }
        } }
        for i in 0..<(n * A) { #expect(abs(gotA[i] - refA[i]) <= 1e-6 * max(1, abs(refA[i])), "action \(i)") }
        for r in 0..<n { #expect(abs(gotLp[r] - refLp[r]) <= 1e-5 * max(1, abs(refLp[r])), "log-prob \(r)") }
        // Broadcasting one head row (the shared z_0) equals evaluating it on every row.
        var one = [Float](repeating: 0, count: n)
        var rep = [Float](repeating: 0, count: n)
        raw.withUnsafeBufferPointer { rp in noise.withUnsafeBufferPointer { np in
            one.withUnsafeMutableBufferPointer { sampler.sample(raw: rp.baseAddress!, rawStride: 0, rows: n, noise: np.baseAddress!, action: nil, logProb: $0.baseAddress!) }
        } }
        let row0 = Array(raw[0..<(2 * A)])
        let tiled = (0..<n).flatMap { _ in row0 }
        tiled.withUnsafeBufferPointer { rp in noise.withUnsafeBufferPointer { np in
            rep.withUnsafeMutableBufferPointer { sampler.sample(raw: rp.baseAddress!, rawStride: 2 * A, rows: n, noise: np.baseAddress!, action: nil, logProb: $0.baseAddress!) }
        } }
        #expect(one == rep)
    }
}
