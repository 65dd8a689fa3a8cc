import CMuJoCo
import Foundation

/// Discrete-time LQR around an equilibrium of a plant's control step, designed once at
/// start-up (allocates; the resulting gain is applied allocation-free). The linear model
/// comes from central finite differences of the true MuJoCo transition over one control
/// step (action repeat included), so the gain matches the simulated physics exactly.
struct LQRDesign {
    /// Gain K (nu x n, row-major) for u = -K (x - x*), x = [qpos (nq = nv here), qvel].
    var gain: [Double]
    var n: Int
    var nu: Int

    /// `qpos0`: equilibrium positions; Q diagonal weights on [qpos, qvel]; R diagonal on ctrl.
    static func design(task: TaskID, qpos0: [Double], q: [Double], r: [Double]) throws(PlantError) -> LQRDesign {
        let world = try MuJoCoWorld(xml: TaskKernels.xml(task), name: task.rawValue)
        let m = world.model, d = world.data
        let nv = world.nv, nu = world.nu, n = 2 * nv
        guard world.nq == nv, qpos0.count == nv, q.count == n, r.count == nu else {
            throw .badArgument("LQR design: dimensions do not match the \(task.rawValue) model")
        }
        let repeatCount = TaskKernels.info(task, timestep: world.timestep).actionRepeat
        func transition(_ x: [Double], _ u: [Double]) -> [Double] {
            mj_resetData(m, d)
            for i in 0..<nv { d.pointee.qpos[i] = qpos0[i] + x[i]; d.pointee.qvel[i] = x[nv + i] }
            for i in 0..<nu { d.pointee.ctrl[i] = u[i] }
            for _ in 0..<repeatCount { mj_step(m, d) }
            return (0..<nv).map { d.pointee.qpos[$0] - qpos0[$0] } + (0..<nv).map { d.pointee.qvel[$0] }
        }
        let eps = 1e-6
        var a = [Double](repeating: 0, count: n * n), b = [Double](repeating: 0, count: n * nu)
        let zx = [Double](repeating: 0, count: n), zu = [Double](repeating: 0, count: nu)
        for j in 0..<n {
            var xp = zx, xm = zx
            xp[j] = eps; xm[j] = -eps
            let fp = transition(xp, zu), fm = transition(xm, zu)
            for i in 0..<n { a[i * n + j] = (fp[i] - fm[i]) / (2 * eps) }
        }
        for j in 0..<nu {
            var up = zu, um = zu
            up[j] = eps; um[j] = -eps
            let fp = transition(zx, up), fm = transition(zx, um)
            for i in 0..<n { b[i * nu + j] = (fp[i] - fm[i]) / (2 * eps) }
        }
        let k = try solveDARE(a: a, b: b, q: q, r: r, n: n, nu: nu)
        return LQRDesign(gain: k, n: n, nu: nu)
    }

    /// Riccati iteration P ← Q + Aᵀ P A − Aᵀ P B (R + Bᵀ P B)⁻¹ Bᵀ P A to convergence.
    static func solveDARE(a: [Double], b: [Double], q: [Double], r: [Double], n: Int, nu: Int) throws(PlantError) -> [Double] {
        func mul(_ x: [Double], _ y: [Double], _ r1: Int, _ c1: Int, _ c2: Int) -> [Double] {
            var o = [Double](repeating: 0, count: r1 * c2)
            for i in 0..<r1 { for k in 0..<c1 { let v = x[i * c1 + k]; for j in 0..<c2 { o[i * c2 + j] += v * y[k * c2 + j] } } }
            return o
        }
        func t(_ x: [Double], _ r1: Int, _ c1: Int) -> [Double] {
            var o = [Double](repeating: 0, count: r1 * c1)
            for i in 0..<r1 { for j in 0..<c1 { o[j * r1 + i] = x[i * c1 + j] } }
            return o
        }
        var p = [Double](repeating: 0, count: n * n)
        for i in 0..<n { p[i * n + i] = q[i] }
        var k = [Double](repeating: 0, count: nu * n)
        let at = t(a, n, n), bt = t(b, n, nu)
        for _ in 0..<20000 {
            let pa = mul(p, a, n, n, n), pb = mul(p, b, n, n, nu)
            var s = mul(bt, pb, nu, n, nu)
            for i in 0..<nu { s[i * nu + i] += r[i] }
            guard let sInv = invert(s, nu) else { throw .badArgument("LQR: singular R + BᵀPB") }
            k = mul(sInv, mul(bt, pa, nu, n, n), nu, nu, n)
            var next = mul(at, pa, n, n, n)
            let correction = mul(mul(at, pb, n, n, nu), k, n, nu, n)
            var delta = 0.0
            for i in 0..<(n * n) {
                next[i] -= correction[i]
                if i % (n + 1) == 0 { next[i] += q[i / (n + 1)] }
                delta = max(delta, abs(next[i] - p[i]))
            }
            p = next
            if delta < 1e-10 * max(1, p.map(abs).max()!) { return k }
        }
        throw .badArgument("LQR: Riccati iteration did not converge")
    }

    /// Gauss-Jordan inverse with partial pivoting (tiny matrices only).
    static func invert(_ m: [Double], _ n: Int) -> [Double]? {
        var a = m, inv = [Double](repeating: 0, count: n * n)
        for i in 0..<n { inv[i * n + i] = 1 }
        for c in 0..<n {
            var piv = c
            for r in c..<n where abs(a[r * n + c]) > abs(a[piv * n + c]) { piv = r }
            if abs(a[piv * n + c]) < 1e-14 { return nil }
            if piv != c { for j in 0..<n { a.swapAt(c * n + j, piv * n + j); inv.swapAt(c * n + j, piv * n + j) } }
            let d = a[c * n + c]
            for j in 0..<n { a[c * n + j] /= d; inv[c * n + j] /= d }
            for r in 0..<n where r != c {
                let f = a[r * n + c]
                if f == 0 { continue }
                for j in 0..<n { a[r * n + j] -= f * a[c * n + j]; inv[r * n + j] -= f * inv[c * n + j] }
            }
        }
        return inv
    }
}

/// Wraps an angle to (-π, π].
@inline(__always)
func wrapAngle(_ x: Double) -> Double {
    var y = fmod(x + Double.pi, 2 * Double.pi)
    if y < 0 { y += 2 * Double.pi }
    return y - Double.pi
}
