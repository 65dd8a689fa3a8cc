import Foundation
import IQKernels

/// Batched forward passes. All buffers are row-major `[rows, dim]`, owned by the caller;
/// `rows` may be anything from 1 (the single-row policy-prior fallback) to the workspace's
/// `maxRows`. No heap allocation, no locks; identical inputs give bit-identical outputs.
extension WorldModel {
    @inline(__always)
    func check(_ ws: ForwardWorkspace, rows: Int) {
        if rows < 1 || rows > ws.maxRows || ws.width < maxWidth || ws.concatWidth != concatWidth {
            fatalError("ForwardWorkspace (maxRows \(ws.maxRows)) does not fit this model or \(rows) rows")
        }
    }

    /// Runs a layer stack, ping-ponging through the workspace; the last layer writes `out`.
    @inline(__always)
    private func run(_ layers: ContiguousArray<NormedLinear>, x: UnsafePointer<Float>, ldx: Int, rows: Int,
                     out: UnsafeMutablePointer<Float>, ws: ForwardWorkspace) {
        layers.withUnsafeBufferPointer { ls in
            var input = x, ld = ldx
            let last = ls.count - 1
            for i in 0...last {
                let dst = i == last ? out : (i & 1 == 0 ? ws.a : ws.b)
                ls[i].forward(x: input, ldx: ld, rows: rows, y: dst)
                input = UnsafePointer(dst); ld = ls[i].outDim
            }
        }
    }

    /// Packs `[z, a]` rows into the workspace (inputs of dynamics and Q).
    @inline(__always)
    private func concat(z: UnsafePointer<Float>, actions: UnsafePointer<Float>, rows: Int, ws: ForwardWorkspace) {
        let l = config.latentDim, a = config.actDim, w = l + a
        for r in 0..<rows {
            (ws.concat + r * w).update(from: z + r * l, count: l)
            (ws.concat + r * w + l).update(from: actions + r * a, count: a)
        }
    }

    /// z = h(obs): `obs` is `[rows, obsDim]` (normalised), `z` is `[rows, latentDim]`.
    public func encode(obs: UnsafePointer<Float>, rows: Int, into z: UnsafeMutablePointer<Float>,
                       workspace ws: ForwardWorkspace) {
        check(ws, rows: rows)
        run(encoderLayers, x: obs, ldx: config.obsDim, rows: rows, out: z, ws: ws)
    }

    /// z' = d(z, a): `actions` is `[rows, actDim]` in [-1, 1]. `next` may alias `z`.
    public func dynamics(z: UnsafePointer<Float>, actions: UnsafePointer<Float>, rows: Int,
                         into next: UnsafeMutablePointer<Float>, workspace ws: ForwardWorkspace) {
        check(ws, rows: rows)
        concat(z: z, actions: actions, rows: rows, ws: ws)
        run(dynamicsLayers, x: ws.concat, ldx: config.latentDim + config.actDim, rows: rows, out: next, ws: ws)
    }

    /// Q_k(z, a) for one ensemble member `head` (0..<numQ): `out` is `[rows]`.
    public func q(head: Int, z: UnsafePointer<Float>, actions: UnsafePointer<Float>, rows: Int,
                  into out: UnsafeMutablePointer<Float>, workspace ws: ForwardWorkspace) {
        check(ws, rows: rows)
        if head < 0 || head >= config.numQ { fatalError("Q head \(head) outside 0..<\(config.numQ)") }
        concat(z: z, actions: actions, rows: rows, ws: ws)
        qHeadOnConcat(head, rows: rows, into: out, workspace: ws)
    }

    /// One Q head over the (z, a) rows already packed in the workspace.
    @inline(__always)
    func qHeadOnConcat(_ head: Int, rows: Int, into out: UnsafeMutablePointer<Float>, workspace ws: ForwardWorkspace) {
        check(ws, rows: rows)
        if head < 0 || head >= config.numQ { fatalError("Q head \(head) outside 0..<\(config.numQ)") }
        qLayers.withUnsafeBufferPointer { heads in
            run(heads[head], x: ws.concat, ldx: concatWidth, rows: rows, out: out, ws: ws)
        }
    }

    /// The squashed-Gaussian policy prior π(z) (SPEC 1.4 with the project's correct log-density).
    ///
    /// - `noise`: `[rows, actDim]` standard normals ε, or nil for the deterministic mean (ε = 0).
    /// - `meanOut`: tanh(μ_raw); `actionOut`: tanh(μ_raw + ε·σ); `logStdOut`: log σ, all `[rows, actDim]`.
    /// - `logProbOut`: `[rows]`, Σᵢ(−½εᵢ² − log σᵢ − ½ log 2π) − Σᵢ log(max(0, 1 − aᵢ²) + 1e-6).
    /// Any output may be nil.
    public func policy(z: UnsafePointer<Float>, rows: Int, noise: UnsafePointer<Float>?,
                       meanOut: UnsafeMutablePointer<Float>?, actionOut: UnsafeMutablePointer<Float>?,
                       logProbOut: UnsafeMutablePointer<Float>?, logStdOut: UnsafeMutablePointer<Float>?,
                       workspace ws: ForwardWorkspace) {
        check(ws, rows: rows)
        let A = config.actDim
        // Raw head output [rows, 2A] goes to whichever ping-pong buffer the last layer does not read.
        let raw = policyLayers.count & 1 == 0 ? ws.b : ws.a
        run(policyLayers, x: z, ldx: config.latentDim, rows: rows, out: raw, ws: ws)
        let lmin = Float(config.logStdMin), half = Float(0.5 * (config.logStdMax - config.logStdMin))
        let halfLog2Pi: Float = 0.918_938_533_204_672_7
        for r in 0..<rows {
            let mu = raw + r * 2 * A, s = mu + A
            var lp: Float = 0
            for i in 0..<A {
                let logStd = lmin + half * (Foundation.tanh(s[i]) + 1)
                let mean = Foundation.tanh(mu[i])
                // Without noise ε = 0, so the action is the mean (no second tanh, no exp).
                let eps: Float, act: Float
                if let noise {
                    eps = noise[r * A + i]
                    act = Foundation.tanh(mu[i] + eps * Foundation.exp(logStd))
                } else {
                    eps = 0
                    act = mean
                }
                if logProbOut != nil {
                    lp += -0.5 * eps * eps - logStd - halfLog2Pi
                    lp -= Foundation.log(max(0, 1 - act * act) + 1e-6)
                }
                meanOut?[r * A + i] = mean
                actionOut?[r * A + i] = act
                logStdOut?[r * A + i] = logStd
            }
            logProbOut?[r] = lp
        }
    }
}
