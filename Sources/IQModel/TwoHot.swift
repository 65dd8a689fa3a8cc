import Foundation
import IQKernels

/// TD-MPC2's two-hot value decoding: a head outputs logits over `count` bins evenly spaced in
/// [vMin, vMax] (symlog space); the value is symexp(Σ softmax(logits) · bins).
///
/// Eight bins at a time with the vector exp; each row's sums run in a fixed order, so a row's
/// result does not depend on the other rows or the thread. No allocation.
struct TwoHot: @unchecked Sendable {
    let bins: UnsafePointer<Float>
    let count: Int

    /// `storage` holds `count` floats owned by the model; the bins are written there once.
    init(bins storage: UnsafeMutablePointer<Float>, count: Int, vMin: Double, vMax: Double) {
        // Same spacing as torch.linspace: start + i·step, the last bin exactly vMax.
        let step = (vMax - vMin) / Double(count - 1)
        for i in 0..<count { storage[i] = i == count - 1 ? Float(vMax) : Float(vMin + Double(i) * step) }
        bins = UnsafePointer(storage)
        self.count = count
    }

    /// `out[r] = symexp(Σᵢ softmax(logits[r])ᵢ · binᵢ)` for `logits` `[rows, ld]`.
    @inline(__always)
    func decode(logits: UnsafePointer<Float>, ld: Int, rows: Int, into out: UnsafeMutablePointer<Float>) {
        let n = count, full = n / 8 * 8
        for r in 0..<rows {
            let x = logits + r * ld
            var m = -Float.infinity
            for i in 0..<n { m = Swift.max(m, x[i]) }
            let mv = SIMD8<Float>(repeating: m)
            var sum = SIMD8<Float>(repeating: 0), dot = sum
            var i = 0
            while i < full {
                let e = vexp(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) - mv)
                sum += e
                dot = dot.addingProduct(e, UnsafeRawPointer(bins + i).loadUnaligned(as: SIMD8<Float>.self))
                i += 8
            }
            var s = sum.sum(), d = dot.sum()
            while i < n { let e = Foundation.exp(x[i] - m); s += e; d += e * bins[i]; i += 1 }
            let y = d / s
            // symexp(y) = sign(y)·(e^|y| − 1)
            let magnitude = Foundation.exp(Swift.abs(y)) - 1
            out[r] = y < 0 ? -magnitude : magnitude
        }
    }
}
