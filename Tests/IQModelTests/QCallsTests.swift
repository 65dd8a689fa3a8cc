import Testing
@testable import IQModel

/// `qCalls` evaluates two Q calls on the same latents and shares the latent product of a head
/// both drew. It must give exactly the bits `qPair` gives for each call alone, whichever heads
/// overlap (none, one, both), and report how many it shared.
@Suite struct QCallsTests {
    @Test(arguments: [1, 6, 12])
    func equalsTwoSeparatePairs(act: Int) throws {
        let c = try ModelConfig.preset("tiny", obsDim: 4, actDim: act)
        let m = WorldModel.initialised(config: c, seed: 5, nonzeroQ: true)
        let L = c.latentDim, rows = 53
        var r = TestRandom(s: 77)
        let z = r.vector(rows * L, scale: 0.4), ax = r.vector(rows * act, scale: 0.9), ay = r.vector(rows * act, scale: 0.9)
        let ws = ForwardWorkspace(model: m, maxRows: rows)
        let shareable = act <= 8
        let cases: [((Int, Int), (Int, Int), QReduction, Int)] = [
            ((0, 1), (2, 3), .min, 0), ((0, 1), (1, 4), .min, 1), ((3, 2), (2, 0), .mean, 1), ((4, 2), (2, 4), .mean, 2),
        ]
        for (px, py, reduceY, overlap) in cases {
            var wantX = [Float](repeating: 0, count: rows), wantY = wantX, gotX = wantX, gotY = wantX
            m.qPair(heads: px, reduce: .min, z: z, actions: ax, rows: rows, into: &wantX, workspace: ws)
            m.qPair(heads: py, reduce: reduceY, z: z, actions: ay, rows: rows, into: &wantY, workspace: ws)
            let shared = ax.withUnsafeBufferPointer { xa in ay.withUnsafeBufferPointer { ya in
                gotX.withUnsafeMutableBufferPointer { gx in gotY.withUnsafeMutableBufferPointer { gy in
                    m.qCalls(z: z, rows: rows,
                             .init(heads: px, actions: xa.baseAddress!, reduce: .min, out: gx.baseAddress!),
                             .init(heads: py, actions: ya.baseAddress!, reduce: reduceY, out: gy.baseAddress!), workspace: ws)
                } }
            } }
            #expect(gotX.map(\.bitPattern) == wantX.map(\.bitPattern), "x call, pairs \(px) \(py)")
            #expect(gotY.map(\.bitPattern) == wantY.map(\.bitPattern), "y call, pairs \(px) \(py)")
            #expect(shared == (shareable ? overlap : 0))
        }
    }
}
