import Testing
@testable import IQModel

struct QPairTests {
    @Test func pairCombinesTwoHeadsExactly() throws {
        let c = try ModelConfig.preset("tiny", obsDim: 6, actDim: 3)
        let m = WorldModel.initialised(config: c, seed: 21, nonzeroQ: true)
        let rows = 9
        let ws = ForwardWorkspace(model: m, maxRows: rows)
        var r = TestRandom(s: 3)
        let z = r.vector(rows * c.latentDim), a = r.vector(rows * 3)
        var qa = [Float](repeating: 0, count: rows), qb = qa, lo = qa, avg = qa
        m.q(head: 4, z: z, actions: a, rows: rows, into: &qa, workspace: ws)
        m.q(head: 1, z: z, actions: a, rows: rows, into: &qb, workspace: ws)
        m.qPair(heads: (4, 1), reduce: .min, z: z, actions: a, rows: rows, into: &lo, workspace: ws)
        m.qPair(heads: (4, 1), reduce: .mean, z: z, actions: a, rows: rows, into: &avg, workspace: ws)
        #expect(qa != qb)
        for i in 0..<rows {
            #expect(lo[i] == min(qa[i], qb[i]))
            #expect(avg[i] == 0.5 * (qa[i] + qb[i]))
        }
    }

    @Test func headPairsAreDistinctAndUniform() {
        var counts = [Int](repeating: 0, count: 25)
        var s: UInt64 = 99
        for _ in 0..<20_000 {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            let (x, y) = WorldModel.headPair(draw: s ^ (s >> 29), numQ: 5)
            #expect(x != y && (0..<5).contains(x) && (0..<5).contains(y))
            counts[x * 5 + y] += 1
        }
        let used = counts.enumerated().filter { $0.offset / 5 != $0.offset % 5 }.map(\.element)
        #expect(used.count == 20 && used.allSatisfy { $0 > 800 && $0 < 1200 }, "\(used)")
    }
}
