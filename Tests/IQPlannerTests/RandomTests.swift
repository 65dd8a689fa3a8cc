import CAllocCounter
import Foundation
import IQKernels
import Testing
import IQTestSupport

/// Philox against the published Random123 known-answer vectors, and the stream/position
/// contract the planner's thread-independence rests on.
@Suite struct RandomTests {
    @Test func philoxKnownAnswers() {
        let zero = Philox(key0: 0, key1: 0).block((0, 0, 0, 0))
        #expect(zero == (0x6627_E8D5, 0xE169_C58D, 0xBC57_AC4C, 0x9B00_DBD8))
        let ones = Philox(key0: .max, key1: .max).block((.max, .max, .max, .max))
        #expect(ones == (0x408F_276D, 0x41C8_3B0E, 0xA20B_C7C6, 0x6D54_51FD))
        let pi = Philox(key0: 0xA409_3822, key1: 0x299F_31D0).block((0x243F_6A88, 0x85A3_08D3, 0x1319_8A2E, 0x0370_7344))
        #expect(pi == (0xD16C_FE09, 0x94FD_CCEB, 0x5001_E420, 0x2412_6EA1))
    }

    /// Every element is a function of (seed, stream, position) only: any split of a range
    /// into calls gives the same bits as one call.
    @Test func normalsIndependentOfSplit() {
        let rng = Philox(seed: 0xDEAD_BEEF_1234)
        let n = 1000
        var whole = [Float](repeating: 0, count: n)
        whole.withUnsafeMutableBufferPointer { rng.fillNormal(stream: 77, counter: 5, into: $0.baseAddress!, count: n) }
        var pieces = [Float](repeating: .nan, count: n)
        let cuts = [0, 1, 2, 7, 31, 32, 33, 100, 259, 260, 513, 999, 1000]
        pieces.withUnsafeMutableBufferPointer { p in
            for (a, b) in zip(cuts, cuts.dropFirst()) {
                rng.fillNormal(stream: 77, counter: UInt64(5 + a), into: p.baseAddress! + a, count: b - a)
            }
        }
        #expect(whole.map(\.bitPattern) == pieces.map(\.bitPattern))
        var other = [Float](repeating: 0, count: n)
        other.withUnsafeMutableBufferPointer { rng.fillNormal(stream: 78, counter: 5, into: $0.baseAddress!, count: n) }
        #expect(zip(whole, other).filter { $0 == $1 }.count < 5)
        let otherSeed = Philox(seed: 0xDEAD_BEEF_1235)
        other.withUnsafeMutableBufferPointer { otherSeed.fillNormal(stream: 77, counter: 5, into: $0.baseAddress!, count: n) }
        #expect(zip(whole, other).filter { $0 == $1 }.count < 5)
    }

    /// The polynomial Box-Muller matches a libm Box-Muller on the same words.
    @Test func normalsMatchLibmBoxMuller() {
        let rng = Philox(seed: 42)
        let n = 4096
        var fast = [Float](repeating: 0, count: n)
        fast.withUnsafeMutableBufferPointer { rng.fillNormal(stream: 3, counter: 0, into: $0.baseAddress!, count: n) }
        var maxErr: Double = 0
        for b in 0..<(n / 4) {
            let w = rng.block(stream: 3, index: UInt64(b))
            for (pair, (x, y)) in [(w.0, w.1), (w.2, w.3)].enumerated() {
                let u1 = (Double(x >> 8) + 1) / 16_777_216.0
                let u2 = Double(y >> 8) / 16_777_216.0
                let r = (-2 * Foundation.log(u1)).squareRoot()
                let ref = [r * cos(2 * .pi * u2), r * sin(2 * .pi * u2)]
                for k in 0..<2 { maxErr = max(maxErr, abs(ref[k] - Double(fast[4 * b + 2 * pair + k]))) }
            }
        }
        #expect(maxErr < 2e-5)
    }

    @Test func normalMoments() {
        let rng = Philox(seed: 9)
        let n = 200_000
        var v = [Float](repeating: 0, count: n)
        v.withUnsafeMutableBufferPointer { rng.fillNormal(stream: 1, counter: 0, into: $0.baseAddress!, count: n) }
        let d = v.map(Double.init)
        let mean = d.reduce(0, +) / Double(n)
        let variance = d.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
        let kurt = d.reduce(0) { $0 + pow($1 - mean, 4) } / Double(n) / (variance * variance)
        #expect(abs(mean) < 0.01)
        #expect(abs(variance - 1) < 0.01)
        #expect(abs(kurt - 3) < 0.05)
        #expect(d.filter { $0 > 1.959964 }.count > Int(0.023 * Double(n)) && d.filter { $0 > 1.959964 }.count < Int(0.027 * Double(n)))
    }

    @Test func uniformsInOpenInterval() {
        let rng = Philox(seed: 5)
        var v = [Float](repeating: 0, count: 10_000)
        v.withUnsafeMutableBufferPointer { rng.fillUniform(stream: 2, counter: 0, into: $0.baseAddress!, count: $0.count) }
        #expect(v.allSatisfy { $0 > 0 && $0 < 1 })
        #expect(abs(v.reduce(0, +) / Float(v.count) - 0.5) < 0.01)
        #expect(rng.uniform(stream: 2, element: 123) == v[123])
    }

    @Test func fillNormalAllocatesNothing() throws {
        let rng = Philox(seed: 1)
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: 5000)
        defer { buf.deallocate() }
        rng.fillNormal(stream: 0, counter: 0, into: buf, count: 5000)
        let n = try heapAllocations {
            for i in 0..<100 { rng.fillNormal(stream: UInt64(i), counter: UInt64(i), into: buf, count: 4999) }
        }
        #expect(n == 0)
    }
}
