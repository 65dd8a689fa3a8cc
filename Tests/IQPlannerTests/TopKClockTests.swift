import CAllocCounter
import IQKernels
import Testing
import IQTestSupport

@Suite struct TopKClockTests {
    /// Against a full sort with the documented order (value desc, index asc, NaN last),
    /// on inputs with many ties and some NaNs.
    @Test func topKMatchesSort() {
        var rng = Philox(seed: 11)
        for trial in 0..<200 {
            rng = Philox(seed: UInt64(trial))
            let n = 1 + Int(rng.uniform(stream: 0, element: 0) * 600)
            let k = 1 + Int(rng.uniform(stream: 0, element: 1) * Float(n - 1))
            var v = (0..<n).map { i in Float(Int(rng.uniform(stream: 1, element: UInt64(i)) * 40)) }
            for i in 0..<n where rng.uniform(stream: 2, element: UInt64(i)) < 0.05 { v[i] = .nan }
            let expected = (0..<n).sorted { a, b in
                let x = v[a], y = v[b]
                if x.isNaN { return y.isNaN && a < b }
                if y.isNaN { return true }
                return x > y || (x == y && a < b)
            }.prefix(k).map(Int32.init)
            var got = [Int32](repeating: -1, count: k)
            v.withUnsafeBufferPointer { vp in
                got.withUnsafeMutableBufferPointer { TopK.select(values: vp.baseAddress!, count: n, k: k, into: $0.baseAddress!) }
            }
            #expect(got == Array(expected), "trial \(trial) n \(n) k \(k)")
        }
    }

    @Test func topKAllocatesNothing() throws {
        let v = UnsafeMutablePointer<Float>.allocate(capacity: 512)
        let idx = UnsafeMutablePointer<Int32>.allocate(capacity: 64)
        defer { v.deallocate(); idx.deallocate() }
        Philox(seed: 3).fillNormal(stream: 0, counter: 0, into: v, count: 512)
        let n = try heapAllocations { for _ in 0..<100 { TopK.select(values: v, count: 512, k: 64, into: idx) } }
        #expect(n == 0)
        for i in 1..<64 { #expect(v[Int(idx[i - 1])] >= v[Int(idx[i])]) }
    }

    @Test func clockIsMonotonicNanoseconds() {
        var last = MonotonicClock.nanoseconds()
        #expect(last > 0)
        for _ in 0..<10_000 {
            let now = MonotonicClock.nanoseconds()
            #expect(now >= last)
            last = now
        }
    }
}
