/// Adam with PyTorch's arithmetic (bias-corrected step size, eps added after the
/// bias-corrected square root), global-norm clipping and Polyak averaging, over ranges of
/// the flat parameter vector.
public enum Optimiser {
    /// PyTorch `clip_grad_norm_`: scale by max/(norm + 1e-6) when that is below 1. Returns the norm.
    @discardableResult
    public static func clipGlobalNorm<T: TrainScalar>(_ g: UnsafeMutablePointer<T>, ranges: [Range<Int>], maxNorm: Double) -> Double {
        var s: Double = 0
        for r in ranges {
            var part: T = 0
            for i in r { part += g[i] * g[i] }
            s += Double(part)
        }
        let norm = s.squareRoot()
        let coef = maxNorm / (norm + 1e-6)
        if coef < 1 {
            let c = T(coef)
            for r in ranges { for i in r { g[i] *= c } }
        }
        return norm
    }

    /// One Adam step (t is the 1-based step count after incrementing) over `range`.
    public static func adam<T: TrainScalar>(theta: UnsafeMutablePointer<T>, grad: UnsafePointer<T>,
                                            m: UnsafeMutablePointer<T>, v: UnsafeMutablePointer<T>,
                                            range: Range<Int>, lr: Double, step t: Int,
                                            beta1: Double = 0.9, beta2: Double = 0.999, eps: Double) {
        let bc1 = 1 - pow(beta1, Double(t))
        let bc2 = 1 - pow(beta2, Double(t))
        let stepSize = T(lr / bc1)
        let sqrtBc2 = T(bc2.squareRoot())
        let b1 = T(beta1), b2 = T(beta2), e = T(eps)
        let ob1 = 1 - b1, ob2 = 1 - b2
        if T.self == Float.self {
            return adamFloat(theta: Ops.FM(theta), grad: Ops.F(grad), m: Ops.FM(m), v: Ops.FM(v), range: range,
                             stepSize: Float(stepSize), sqrtBc2: Float(sqrtBc2), b1: Float(b1), b2: Float(b2),
                             e: Float(e), ob1: Float(ob1), ob2: Float(ob2))
        }
        adamScalar(theta: theta, grad: grad, m: m, v: v, range: range, stepSize: stepSize, sqrtBc2: sqrtBc2,
                   b1: b1, b2: b2, e: e, ob1: ob1, ob2: ob2)
    }

    /// The per-element Adam update: the whole step for Double, the tail of `adamFloat`.
    @inline(__always)
    static func adamScalar<T: TrainScalar>(theta: UnsafeMutablePointer<T>, grad: UnsafePointer<T>,
                                           m: UnsafeMutablePointer<T>, v: UnsafeMutablePointer<T>, range: Range<Int>,
                                           stepSize: T, sqrtBc2: T, b1: T, b2: T, e: T, ob1: T, ob2: T) {
        for i in range {
            let g = grad[i]
            let mi = b1 * m[i] + ob1 * g
            let vi = b2 * v[i] + ob2 * g * g
            m[i] = mi
            v[i] = vi
            theta[i] -= stepSize * mi / (vi.squareRoot() / sqrtBc2 + e)
        }
    }

    /// `adamScalar` in SIMD8 for Float: the same operations per element (no fused multiply-add),
    /// so the same bits; the compiler left the generic loop scalar.
    static func adamFloat(theta: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
                          v: UnsafeMutablePointer<Float>, range: Range<Int>, stepSize: Float, sqrtBc2: Float,
                          b1: Float, b2: Float, e: Float, ob1: Float, ob2: Float) {
        typealias V = SIMD8<Float>
        let vb1 = V(repeating: b1), vb2 = V(repeating: b2), vob1 = V(repeating: ob1), vob2 = V(repeating: ob2)
        let vs = V(repeating: stepSize), vsq = V(repeating: sqrtBc2), ve = V(repeating: e)
        @inline(__always) func ld(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        @inline(__always) func st(_ x: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: x, as: V.self) }
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            let g = ld(grad + i)
            let mi = vb1 * ld(m + i) + vob1 * g
            let vi = vb2 * ld(v + i) + vob2 * g * g
            st(mi, m + i)
            st(vi, v + i)
            st(ld(theta + i) - vs * mi / (vi.squareRoot() / vsq + ve), theta + i)
            i += 8
        }
        adamScalar(theta: theta, grad: grad, m: m, v: v, range: i..<range.upperBound, stepSize: stepSize,
                   sqrtBc2: sqrtBc2, b1: b1, b2: b2, e: e, ob1: ob1, ob2: ob2)
    }

    /// θ̄ ← θ̄ + τ (θ − θ̄) (torch `lerp_`).
    public static func polyak<T: TrainScalar>(target: UnsafeMutablePointer<T>, online: UnsafePointer<T>, count: Int, tau: Double) {
        let t = T(tau)
        for i in 0..<count { target[i] += t * (online[i] - target[i]) }
    }
}

import Foundation
