import Foundation
import Testing
@testable import IQKernels

/// Kernel math against double-precision libm references.
struct ActivationTests {
    static func mishRef(_ x: Double) -> Double { x * tanh(max(x, 0) + log1p(exp(-abs(x)))) }

    @Test func vexpIsAccurateAcrossTheRange() {
        var worst = 0.0
        var x: Float = -87
        while x < 88 {
            let v = vexp(SIMD8(repeating: x))[0]
            worst = max(worst, abs(Double(v) - exp(Double(x))) / exp(Double(x)))
            x += 0.0137
        }
        #expect(worst < 4e-7, "vexp worst relative error \(worst)")
        // Clamped ends stay finite and ordered.
        #expect(vexp(SIMD8(repeating: 1000))[0].isFinite)
        #expect(vexp(SIMD8(repeating: -1000))[0] >= 0)
    }

    @Test func mishMatchesTheDefinitionWithOneExp() {
        var worst = 0.0
        var x: Float = -30
        while x < 30 {
            let m = Double(Activations.mish(x)), r = Self.mishRef(Double(x))
            worst = max(worst, abs(m - r) / max(abs(r), 1e-6))
            x += 0.001_9
        }
        #expect(worst < 2e-6, "mish worst relative error \(worst)")
        // Guards: large inputs do not overflow, very negative ones go to 0, not NaN.
        for big: Float in [15.01, 20, 21, 44, 89, 1e6, .greatestFiniteMagnitude] { #expect(Activations.mish(big) == big) }
        for neg: Float in [-50, -100, -1e6] { let m = Activations.mish(neg); #expect(m.isFinite && abs(m) < 1e-18) }
    }

    @Test func bufferMishTreatsTailsLikeFullVectors() {
        let n = 19
        let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { p.deallocate() }
        for i in 0..<n { p[i] = Float(i) * 0.37 - 3 }
        Activations.mish(p, into: p, count: n)
        for i in 0..<n { #expect(p[i] == Activations.mish(Float(i) * 0.37 - 3)) }
    }

    @Test func softplusIsStable() {
        #expect(Activations.softplus(100) == 100)
        #expect(Activations.softplus(-100) > 0 && Activations.softplus(-100) < 1e-40)
        #expect(abs(Double(Activations.softplus(0.5)) - log(1 + exp(0.5))) < 1e-7)
    }

    @Test func simNormIsASoftmaxPerGroup() {
        for group in [8, 4] {
            let n = 32
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            defer { p.deallocate() }
            let x: [Float] = (0..<n).map { i -> Float in
                let base = Float((i * 37) % 11) * 0.9 - 4
                return i == 3 ? base + 80 : base
            }
            for i in 0..<n { p[i] = x[i] }
            Activations.simNorm(p, into: p, count: n, group: group)
            for g in stride(from: 0, to: n, by: group) {
                let m = x[g..<(g + group)].max()!
                let den = x[g..<(g + group)].reduce(0.0) { $0 + exp(Double($1 - m)) }
                for i in g..<(g + group) {
                    #expect(abs(Double(p[i]) - exp(Double(x[i] - m)) / den) < 1e-6)
                }
            }
        }
    }

    @Test(arguments: [512, 128, 37, 5])
    func fusedEpilogueMatchesSeparateKernelsAndDoubleReference(n: Int) {
        let row = UnsafeMutablePointer<Float>.allocate(capacity: n), ref = UnsafeMutablePointer<Float>.allocate(capacity: n)
        let b = UnsafeMutablePointer<Float>.allocate(capacity: n), g = UnsafeMutablePointer<Float>.allocate(capacity: n)
        let lb = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { [row, ref, b, g, lb].forEach { $0.deallocate() } }
        for i in 0..<n {
            row[i] = Float((i * 13) % 29) * 0.21 - 2.5; b[i] = Float(i % 5) * 0.1
            g[i] = 1 + Float(i % 3) * 0.2; lb[i] = Float(i % 7) * 0.05 - 0.1
        }
        // Double reference of LN + Mish.
        let x = (0..<n).map { Double(row[$0]) + Double(b[$0]) }
        let mean = x.reduce(0, +) / Double(n)
        let varr = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(n)
        let y = (0..<n).map { Self.mishRef((x[$0] - mean) / (varr + 1e-5).squareRoot() * Double(g[$0]) + Double(lb[$0])) }
        for i in 0..<n { ref[i] = row[i] }
        Activations.biasLayerNorm(row, count: n, bias: b, gain: g, lnBias: lb, then: .mish)
        Activations.addBias(ref, count: n, bias: b)
        Activations.layerNorm(ref, count: n, gain: g, bias: lb, into: ref)
        Activations.mish(ref, into: ref, count: n)
        let scale = y.reduce(0) { max($0, abs($1)) }
        for i in 0..<n {
            #expect(abs(Double(row[i]) - y[i]) <= 2e-6 * scale, "element \(i)")
            #expect(abs(row[i] - ref[i]) <= 2e-6 * Float(scale))
        }
    }

    @Test func fusedSimNormRowSumsToOnePerGroup() {
        let n = 64
        let row = UnsafeMutablePointer<Float>.allocate(capacity: n)
        let zero = UnsafeMutablePointer<Float>.allocate(capacity: n), one = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { [row, zero, one].forEach { $0.deallocate() } }
        zero.initialize(repeating: 0, count: n); one.initialize(repeating: 1, count: n)
        for i in 0..<n { row[i] = Float(i % 9) - 4 }
        Activations.biasLayerNorm(row, count: n, bias: zero, gain: one, lnBias: zero, then: .simNorm8)
        for gi in stride(from: 0, to: n, by: 8) {
            let s = (gi..<(gi + 8)).reduce(Float(0)) { $0 + row[$1] }
            #expect(abs(s - 1) < 1e-6)
        }
    }

    @Test func horizontalReductions() {
        let v = SIMD8<Float>(3, -1, 7.5, 2, -9, 7.25, 0, 1)
        #expect(hmax(v) == 7.5)
        #expect(hsum(v) == 10.75)
    }
}
