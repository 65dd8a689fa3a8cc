import IQKernels
import IQModel
import Testing
@testable import IQTrainer

/// The row-fused Float kernels must reproduce the separate kernels bit for bit (they only
/// change memory passes), and the Float network path that uses them must agree with the
/// Double path the finite-difference checks cover.
struct FusedKernelTests {
    /// Values spanning Mish's branches (x > 20, 15 < x <= 20, very negative) and LayerNorm rows.
    func values(_ n: Int, seed: UInt64) -> [Float] {
        var r = SeededRandom(seed: seed)
        let special: [Float] = [25, 19.5, 16, 15, 14.9, -30, -90, 0, 1e-3]
        return (0..<n).map { i in i % 11 < special.count && i % 3 == 0 ? special[i % 11] : Float(r.normal() * 3) }
    }

    @Test(arguments: [(5, 16), (3, 13), (4, 8), (2, 5)])
    func layerNormMishForwardMatchesSeparateKernels(rows: Int, n: Int) {
        let x = values(rows * n, seed: UInt64(n))
        // Gains/biases large enough that LayerNorm outputs reach Mish's cut-offs.
        let gain = values(n, seed: 7).map { $0 * 4 }, bias = values(n, seed: 8).map { $0 * 4 }
        var xhatA = [Float](repeating: 0, count: rows * n), rstdA = [Float](repeating: 0, count: rows)
        var lnA = xhatA, yA = xhatA, gA = xhatA
        FloatKernels.layerNormForward(x, rows: rows, n: n, gain: gain, bias: bias, xhat: &xhatA, rstd: &rstdA, y: &lnA)
        Activations.mish(lnA, into: &yA, count: rows * n)
        let ones = [Float](repeating: 1, count: rows * n)
        FloatKernels.mishBackward(x: lnA, dy: ones, dx: &gA, rows * n)
        var xhatB = xhatA.map { _ in Float.nan }, rstdB = rstdA.map { _ in Float.nan }
        var preB = xhatB, gB = xhatB, yB = xhatB
        FusedKernels.layerNormMishForward(x, rows: rows, n: n, gain: gain, bias: bias, xhat: &xhatB, rstd: &rstdB,
                                          preAct: &preB, deriv: &gB, y: &yB)
        #expect(xhatA.map(\.bitPattern) == xhatB.map(\.bitPattern))
        #expect(rstdA.map(\.bitPattern) == rstdB.map(\.bitPattern))
        #expect(lnA.map(\.bitPattern) == preB.map(\.bitPattern))
        #expect(yA.map(\.bitPattern) == yB.map(\.bitPattern))
        #expect(gA.map(\.bitPattern) == gB.map(\.bitPattern))
        // The runtime's Mish is the definition the fused forward must keep.
        for i in 0..<yB.count { #expect(yB[i].bitPattern == Activations.mish(lnA[i]).bitPattern) }
        // Without the backward-only stores, the same outputs; in place (y aliasing x) too.
        let yC = Tensor<Float>(x)
        FusedKernels.layerNormMishForward(yC.p, rows: rows, n: n, gain: gain, bias: bias, xhat: nil, rstd: &rstdB,
                                          preAct: nil, deriv: nil, y: yC.p)
        #expect(yA.map(\.bitPattern) == yC.array.map(\.bitPattern))
    }

    @Test(arguments: [(5, 16), (3, 13)])
    func normedBackwardMatchesSeparateKernels(rows: Int, n: Int) {
        let x = values(rows * n, seed: 3), dyIn = values(rows * n, seed: 4)
        let gain = values(n, seed: 5).map { $0 * 4 }, bias = values(n, seed: 6).map { $0 * 4 }
        var xhat = [Float](repeating: 0, count: rows * n), rstd = [Float](repeating: 0, count: rows)
        var ln = xhat, y = xhat, deriv = xhat, pre = xhat, xhat2 = xhat
        FusedKernels.layerNormMishForward(x, rows: rows, n: n, gain: gain, bias: bias, xhat: &xhat, rstd: &rstd,
                                          preAct: &pre, deriv: &deriv, y: &y)
        FloatKernels.layerNormForward(x, rows: rows, n: n, gain: gain, bias: bias, xhat: &xhat2, rstd: &rstd, y: &ln)
        var r = SeededRandom(seed: 9)
        let mask = (0..<(rows * n)).map { _ in r.uniform() < 0.7 ? Float(1 / 0.7) : 0 }
        // Separate: Mish backward, LayerNorm backward, mask, bias column sums.
        let dT = Tensor<Float>(dyIn)
        var dgA = values(n, seed: 10), dbA = values(n, seed: 11), biasA = values(n, seed: 12)
        FloatKernels.mishBackward(x: ln, dy: dT.p, dx: dT.p, rows * n)
        FloatKernels.layerNormBackward(dy: dT.p, rows: rows, n: n, xhat: xhat, rstd: rstd, gain: gain,
                                       dgain: &dgA, dbias: &dbA, dx: dT.p)
        FloatKernels.multiply(dT.p, by: mask, rows * n)
        let dA = dT.array
        for row in 0..<rows { for j in 0..<n { biasA[j] += dA[row * n + j] } }
        // Fused.
        var dB = dyIn
        var dgB = values(n, seed: 10), dbB = values(n, seed: 11), biasB = values(n, seed: 12)
        FusedKernels.normedBackward(dy: &dB, rows: rows, n: n, deriv: deriv, xhat: xhat, rstd: rstd, gain: gain,
                                    dgain: &dgB, dbias: &dbB, mask: mask, db: &biasB)
        #expect(dA.map(\.bitPattern) == dB.map(\.bitPattern))
        #expect(dgA.map(\.bitPattern) == dgB.map(\.bitPattern))
        #expect(dbA.map(\.bitPattern) == dbB.map(\.bitPattern))
        #expect(biasA.map(\.bitPattern) == biasB.map(\.bitPattern))
    }

    /// A following 1-output Linear's input gradient formed inside the fused backward pass
    /// equals sgemm's k = 1 product followed by the fused pass (zero weights and negative
    /// gradients included: sgemm's zeroed accumulator turns −0 into +0).
    @Test func outerProductSourceMatchesSgemm() {
        let rows = 6, n = 16
        let x = values(rows * n, seed: 31)
        let gain = values(n, seed: 32), bias = values(n, seed: 33)
        var w = values(n, seed: 34)
        w[3] = 0; w[7] = -0.0
        var s = values(rows, seed: 35)
        s[1] = -2; s[2] = 0
        var xhat = [Float](repeating: 0, count: rows * n), rstd = [Float](repeating: 0, count: rows)
        var y = xhat, deriv = xhat
        FusedKernels.layerNormMishForward(x, rows: rows, n: n, gain: gain, bias: bias, xhat: &xhat, rstd: &rstd,
                                          preAct: nil, deriv: &deriv, y: &y)
        let viaGemm = Tensor<Float>(rows * n)
        for i in 0..<viaGemm.count { viaGemm.p[i] = .nan }
        Float.gemm(transA: false, transB: false, m: rows, n: n, k: 1, alpha: 1, a: s, lda: 1, b: w, ldb: n,
                   beta: 0, c: viaGemm.p, ldc: n)
        var dgA = [Float](repeating: 0, count: n), dbA = dgA, dgB = dgA, dbB = dgA
        FusedKernels.normedBackward(dy: viaGemm.p, rows: rows, n: n, deriv: deriv, xhat: xhat, rstd: rstd, gain: gain,
                                    dgain: &dgA, dbias: &dbA, mask: nil, db: nil)
        let fused = Tensor<Float>(rows * n)
        s.withUnsafeBufferPointer { sp in
            w.withUnsafeBufferPointer { wp in
                FusedKernels.normedBackward(dy: fused.p, rows: rows, n: n, deriv: deriv, xhat: xhat, rstd: rstd,
                                            gain: gain, dgain: &dgB, dbias: &dbB, mask: nil, db: nil,
                                            outer: (sp.baseAddress!, wp.baseAddress!))
            }
        }
        #expect(viaGemm.array.map(\.bitPattern) == fused.array.map(\.bitPattern))
        #expect(dgA.map(\.bitPattern) == dgB.map(\.bitPattern))
        #expect(dbA.map(\.bitPattern) == dbB.map(\.bitPattern))
    }

    /// The Float network (fused kernels, caller-owned input, column-block input gradients,
    /// and for one output the last layer's input gradient formed in the fused pass) against
    /// the Double network (separate generic kernels, finite-difference checked).
    @Test(arguments: [3, 1])
    func floatNetworkAgreesWithDoubleReference(outputs: Int) {
        let spec = NetworkSpec("t", widths: [13, 24, 16, outputs], last: .none, dropoutFirst: true)
        let rows = 9
        var r = SeededRandom(seed: 21)
        let params = (0..<spec.paramCount).map { _ in r.normal() * 0.4 }
        let x = (0..<(rows * spec.inDim)).map { _ in r.normal() }
        let dOut = (0..<(rows * spec.outDim)).map { _ in r.normal() }
        let pd = Tensor<Double>(params), pf = Tensor<Float>(params.map { Float($0) })
        let cd = MLPCache<Double>(spec: spec, maxRows: rows), cf = MLPCache<Float>(spec: spec, maxRows: rows)
        for i in 0..<x.count { cd.input.p[i] = x[i] }
        let xf = Tensor<Float>(x.map { Float($0) })
        var rd = SeededRandom(seed: 5), rf = SeededRandom(seed: 5)
        let od = cd.forward(params: pd.p, rows: rows, dropout: 0.2, rng: &rd)
        let of = cf.forward(params: pf.p, rows: rows, dropout: 0.2, rng: &rf, input: xf.p)
        #expect(rd == rf)
        for i in 0..<(rows * spec.outDim) { #expect(abs(Double(of[i]) - od[i]) < 1e-4 * max(1, abs(od[i]))) }
        let gd = Tensor<Double>(spec.paramCount), gf = Tensor<Float>(spec.paramCount)
        dOut.withUnsafeBufferPointer { cd.backward(params: pd.p, grads: gd.p, dOut: $0.baseAddress!, rows: rows, wantInputGrad: true) }
        let dOutF = Tensor<Float>(dOut.map { Float($0) })
        cf.backward(params: pf.p, grads: gf.p, dOut: dOutF.p, rows: rows, wantInputGrad: false)
        let scale = (0..<spec.paramCount).map { abs(gd.p[$0]) }.max()!
        for i in 0..<spec.paramCount { #expect(abs(Double(gf.p[i]) - gd.p[i]) < 1e-4 * scale) }
        // Input gradient by column blocks, accumulated onto a non-zero buffer.
        let cols = 4..<11, r0 = 2, nr = 5
        let dst = Tensor<Float>(nr * cols.count)
        for i in 0..<dst.count { dst.p[i] = 1 }
        cf.addInputGrad(params: pf.p, rowStart: r0, rows: nr, columns: cols, into: dst.p, ld: cols.count, accumulate: true)
        for i in 0..<nr {
            for (c, j) in cols.enumerated() {
                let want = 1 + cd.dInput.p[(r0 + i) * spec.inDim + j]
                #expect(abs(Double(dst.p[i * cols.count + c]) - want) < 1e-4 * max(1, abs(want)))
            }
        }
        // Forward without the backward-only stores: same output bits.
        let first = Array(UnsafeBufferPointer(start: of, count: rows * spec.outDim))
        var rf2 = SeededRandom(seed: 5)
        let again = cf.forward(params: pf.p, rows: rows, dropout: 0.2, rng: &rf2, input: xf.p, needsBackward: false)
        #expect(first.map(\.bitPattern) == (0..<first.count).map { again[$0].bitPattern })
    }
}

/// The gradient penalty in Float (its caches keep the LayerNorm outputs the fused path
/// otherwise drops) agrees with the finite-difference-checked Double version.
@Test func gradientPenaltyFloatAgreesWithDouble() {
    let spec = NetworkSpec("t", widths: [10, 16, 16, 1], last: .none, dropoutFirst: true)
    let rows = 6
    var r = SeededRandom(seed: 43)
    let p = (0..<(2 * spec.paramCount)).map { _ in r.normal() * 0.5 }
    let x = (0..<(rows * spec.inDim)).map { _ in r.normal() }
    let gd = GradientPenalty<Double>(spec: spec, rows: rows), gf = GradientPenalty<Float>(spec: spec, rows: rows)
    let pd = Tensor<Double>(p), pf = Tensor<Float>(p.map { Float($0) })
    let n = spec.paramCount
    let dd = Tensor<Double>(2 * n), df = Tensor<Float>(2 * n)
    for i in 0..<x.count { gd.input[i] = x[i]; gf.input[i] = Float(x[i]) }
    var r1 = SeededRandom(seed: 3), r2 = SeededRandom(seed: 3)
    let vd = gd.penalty(params1: pd.p, params2: pd.p + n, grads1: dd.p, grads2: dd.p + n, dropout: 0.2, scale: 1, rng: &r1)
    let vf = gf.penalty(params1: pf.p, params2: pf.p + n, grads1: df.p, grads2: df.p + n, dropout: 0.2, scale: 1, rng: &r2)
    #expect(abs(Double(vf) - vd) < 1e-4 * max(1, abs(vd)))
    let scale = (0..<(2 * n)).map { abs(dd.p[$0]) }.max()!
    #expect(scale > 0)
    for i in 0..<(2 * n) { #expect(abs(Double(df.p[i]) - dd.p[i]) < 1e-3 * scale) }
}
