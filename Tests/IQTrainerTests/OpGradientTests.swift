import IQKernels
import IQModel
@testable import IQTrainer
import Testing

/// Each primitive on its own: a random linear functional of the output, FD vs backward.
struct OpGradientTests {
    /// Checks one MLP (= chain of the primitives under test) w.r.t. its input and parameters.
    func checkMLP(_ spec: NetworkSpec, rows: Int, dropout: Double, seed: UInt64) -> Double {
        var r = SeededRandom(seed: seed)
        let cache = MLPCache<Double>(spec: spec, maxRows: rows)
        let params = Tensor<Double>(spec.paramCount)
        for i in 0..<params.count { params.p[i] = r.normal() * 0.7 }
        let x = (0..<(rows * spec.inDim)).map { _ in r.normal() }
        let wOut = (0..<(rows * spec.outDim)).map { _ in r.normal() }
        let rng0 = r
        func loss() -> Double {
            for i in 0..<x.count { cache.input.p[i] = xs[i] }
            var rr = rng0
            let o = cache.forward(params: params.p, rows: rows, dropout: dropout, rng: &rr)
            var s = 0.0
            for i in 0..<wOut.count { s += wOut[i] * o[i] }
            return s
        }
        var xs = x
        _ = loss()
        let grads = Tensor<Double>(spec.paramCount)
        wOut.withUnsafeBufferPointer { cache.backward(params: params.p, grads: grads.p, dOut: $0.baseAddress!, rows: rows, wantInputGrad: true) }
        let dIn = Array(UnsafeBufferPointer(start: cache.dInput.p, count: x.count))
        let (ep, _) = worstRelativeError(analytic: grads.array, count: spec.paramCount,
                                         perturb: { i, h in params.p[i] += h }, loss: loss)
        let (ex, _) = worstRelativeError(analytic: dIn, count: x.count,
                                         perturb: { i, h in xs[i] += h }, loss: loss)
        return max(ep, ex)
    }

    @Test func linear() {
        let spec = NetworkSpec("t", widths: [4, 3], last: .none)
        #expect(checkMLP(spec, rows: 5, dropout: 0, seed: 1) < 1e-6)
    }

    @Test func linearLayerNormMish() {
        let spec = NetworkSpec("t", widths: [4, 6], last: .mish)
        #expect(checkMLP(spec, rows: 5, dropout: 0, seed: 2) < 1e-6)
    }

    @Test func linearLayerNormSimNorm() {
        let spec = NetworkSpec("t", widths: [4, 8], last: .simNorm(group: 4))
        #expect(checkMLP(spec, rows: 5, dropout: 0, seed: 3) < 1e-6)
    }

    @Test func dropoutFirstLayerThenMLP() {
        let spec = NetworkSpec("t", widths: [5, 9, 7, 1], last: .none, dropoutFirst: true)
        // High p so the fixed mask really drops units; the gradient must follow the same mask.
        #expect(checkMLP(spec, rows: 6, dropout: 0.3, seed: 4) < 1e-6)
    }

    @Test func mishLargeAndSmallInputs() {
        let xs: [Double] = [-30, -8, -1.5, -0.2, 0, 0.3, 2, 7, 19.9, 25]
        for x in xs {
            var y = [0.0], d = [0.0], s = [0.0]
            let h = 1e-6
            func f(_ v: Double) -> Double {
                var o = [0.0]
                [v].withUnsafeBufferPointer { Ops.mishForward($0.baseAddress!, &o, 1) }
                return o[0]
            }
            [x].withUnsafeBufferPointer { Ops.mishForward($0.baseAddress!, &y, 1) }
            [x].withUnsafeBufferPointer { xp in [1.0].withUnsafeBufferPointer { dp in
                Ops.mishBackward(x: xp.baseAddress!, dy: dp.baseAddress!, dx: &d, scratch: &s, 1)
            } }
            let fd = (f(x + h) - f(x - h)) / (2 * h)
            #expect(abs(fd - d[0]) < 1e-7 * max(1, abs(fd)), "mish' at \(x)")
            let fd2 = (dMish(x + h) - dMish(x - h)) / (2 * h)
            if x < 19 { #expect(abs(fd2 - Ops.mishSecond(x)) < 1e-6, "mish'' at \(x)") }
            #expect(abs(y[0] - x * Foundation.tanh(Foundation.log1p(Foundation.exp(min(x, 30))))) < 1e-9 * max(1, abs(x)))
        }
        func dMish(_ v: Double) -> Double {
            var d = [0.0], s = [0.0]
            [v].withUnsafeBufferPointer { xp in [1.0].withUnsafeBufferPointer { dp in
                Ops.mishBackward(x: xp.baseAddress!, dy: dp.baseAddress!, dx: &d, scratch: &s, 1)
            } }
            return d[0]
        }
    }

    /// Squashed Gaussian: loss = Σ c·a + Σ k·ℓ with ε fixed.
    @Test func policyHead() {
        let A = 3, rows = 4
        var r = SeededRandom(seed: 5)
        let head = PolicyHead<Double>(actDim: A, maxRows: rows, logStdMin: -10, logStdMax: 2)
        var raw = (0..<(rows * 2 * A)).map { _ in r.normal() * 0.8 }
        for i in 0..<(rows * A) { head.eps.p[i] = r.normal() }
        let ca = (0..<(rows * A)).map { _ in r.normal() }
        let cl = (0..<rows).map { _ in r.normal() }
        func loss() -> Double {
            raw.withUnsafeBufferPointer { head.forward(raw: $0.baseAddress!, rows: rows) }
            var s = 0.0
            for i in 0..<(rows * A) { s += ca[i] * head.action.p[i] }
            for i in 0..<rows { s += cl[i] * head.logProb.p[i] }
            return s
        }
        _ = loss()
        ca.withUnsafeBufferPointer { a in cl.withUnsafeBufferPointer { l in
            head.backward(dAction: a.baseAddress!, dLogProb: l.baseAddress!, rows: rows)
        } }
        let analytic = Array(UnsafeBufferPointer(start: head.dRaw.p, count: raw.count))
        let (e, _) = worstRelativeError(analytic: analytic, count: raw.count, perturb: { i, h in raw[i] += h }, loss: loss)
        #expect(e < 1e-6)
        // The density itself: with σ = exp(log σ), ℓ matches the per-dimension formula.
        var expect = 0.0
        for i in 0..<A {
            let ls = -10 + 6 * (Foundation.tanh(raw[A + i]) + 1)
            let a = Foundation.tanh(raw[i] + head.eps.p[i] * Foundation.exp(ls))
            expect += -0.5 * head.eps.p[i] * head.eps.p[i] - ls - 0.5 * Foundation.log(2 * Double.pi)
                - Foundation.log(max(0, 1 - a * a) + 1e-6)
        }
        #expect(abs(expect - head.logProb.p[0]) < 1e-12)
    }
}

import Foundation
