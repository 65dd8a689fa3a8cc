import Foundation
import IQKernels

/// Constants of the squashed-Gaussian policy prior (docs/algorithm.md §1.4), shared by the
/// runtime's sampler (`WorldModel.policySample`) and the trainer's `PolicyHead`.
public enum PolicyPrior {
    /// ½ log 2π, the Gaussian log-density's constant per dimension.
    public static let halfLog2Pi = 0.918_938_533_204_672_741_78
    /// Added to max(0, 1 − a²) inside the tanh correction's log.
    public static let squashEps = 1e-6
}

/// Batched forward passes. All buffers are row-major `[rows, dim]`, owned by the caller;
/// `rows` may be anything from 1 (the single-row policy-prior fallback) to the workspace's
/// `maxRows`. No heap allocation, no locks; identical inputs give bit-identical outputs.
extension WorldModel {
    @inline(__always)
    func check(_ ws: ForwardWorkspace, rows: Int) {
        if rows < 1 || rows > ws.maxRows || ws.width < maxWidth {
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

    /// A Q head's layers after the first, from a first-layer output in `input` (`ws.a` or `ws.c`;
    /// never overwritten before it is read).
    @inline(__always)
    func qRest(_ ls: UnsafeBufferPointer<NormedLinear>, input: UnsafeMutablePointer<Float>, rows: Int,
               out: UnsafeMutablePointer<Float>, ws: ForwardWorkspace) {
        valueRest(ls, input: input, rows: rows, out: out, ws: ws)
    }

    /// A value head's (Q or reward) layers after the first, ending in `out` `[rows]`: the scalar
    /// output for IQ-MPC, or (TD-MPC2) the logits in the ping-pong buffer the last layer does not
    /// read, decoded there into `out`.
    @inline(__always)
    func valueRest(_ ls: UnsafeBufferPointer<NormedLinear>, input: UnsafeMutablePointer<Float>, rows: Int,
                   out: UnsafeMutablePointer<Float>, ws: ForwardWorkspace) {
        guard let twoHot else { return run(ls, from: 1, x: input, rows: rows, out: out, ws: ws) }
        let last = ls.count - 1
        let logits = last & 1 == 0 ? ws.a : ws.b
        run(ls, from: 1, x: input, rows: rows, out: logits, ws: ws)
        twoHot.decode(logits: logits, ld: ls[last].outDim, rows: rows, into: out)
    }

    /// Layers `first...` of a stack whose layer `first - 1` already wrote its output to `ws.a`
    /// (the split first layers); keeps `run`'s ping-pong parity, so the last layer writes `out`.
    @inline(__always)
    private func run(_ ls: UnsafeBufferPointer<NormedLinear>, from first: Int, x: UnsafeMutablePointer<Float>,
                     rows: Int, out: UnsafeMutablePointer<Float>, ws: ForwardWorkspace) {
        var input = UnsafePointer(x), ld = ls[first - 1].outDim
        let last = ls.count - 1
        for i in first...last {
            let dst = i == last ? out : (i & 1 == 0 ? ws.a : ws.b)
            ls[i].forward(x: input, ldx: ld, rows: rows, y: dst)
            input = UnsafePointer(dst); ld = ls[i].outDim
        }
    }

    /// z = h(obs): `obs` is `[rows, obsDim]` (normalised), `z` is `[rows, latentDim]`.
    public func encode(obs: UnsafePointer<Float>, rows: Int, into z: UnsafeMutablePointer<Float>,
                       workspace ws: ForwardWorkspace) {
        check(ws, rows: rows)
        run(encoderLayers, x: obs, ldx: config.obsDim, rows: rows, out: z, ws: ws)
    }

    /// z' = d(z, a): `actions` is `[rows, actDim]` in [-1, 1]. `next` may alias `z`.
    /// `sharedZ`: every row starts from the same latent `z[0..<L]` (the planner's step 0),
    /// so the latent half of the first layer is computed once for the batch.
    public func dynamics(z: UnsafePointer<Float>, actions: UnsafePointer<Float>, rows: Int,
                         into next: UnsafeMutablePointer<Float>, workspace ws: ForwardWorkspace,
                         sharedZ: Bool = false) {
        check(ws, rows: rows)
        dynamicsFirst.forward(z: z, ldz: sharedZ ? 0 : config.latentDim, actions: actions, rows: rows,
                              y: ws.a, sharedRow: ws.sharedRow)
        dynamicsLayers.withUnsafeBufferPointer { ls in
            run(ls, from: 1, x: ws.a, rows: rows, out: next, ws: ws)
        }
    }

    /// Q_k(z, a) for one ensemble member `head` (0..<numQ): `out` is `[rows]`.
    /// `sharedZ` as for `dynamics`.
    public func q(head: Int, z: UnsafePointer<Float>, actions: UnsafePointer<Float>, rows: Int,
                  into out: UnsafeMutablePointer<Float>, workspace ws: ForwardWorkspace, sharedZ: Bool = false) {
        check(ws, rows: rows)
        if head < 0 || head >= config.numQ { fatalError("Q head \(head) outside 0..<\(config.numQ)") }
        qFirst.withUnsafeBufferPointer { firsts in
            firsts[head].forward(z: z, ldz: sharedZ ? 0 : config.latentDim, actions: actions, rows: rows,
                                 y: ws.a, sharedRow: ws.sharedRow)
        }
        qLayers.withUnsafeBufferPointer { heads in
            heads[head].withUnsafeBufferPointer { ls in
                valueRest(ls, input: ws.a, rows: rows, out: out, ws: ws)
            }
        }
    }

    /// TD-MPC2's decoded reward R(z, a), `out` `[rows]`; `sharedZ` as for `dynamics`.
    /// An IQ-MPC model has no reward head (its rewards come from Q): calling this traps.
    public func reward(z: UnsafePointer<Float>, actions: UnsafePointer<Float>, rows: Int,
                       into out: UnsafeMutablePointer<Float>, workspace ws: ForwardWorkspace, sharedZ: Bool = false) {
        check(ws, rows: rows)
        guard let first = rewardFirst else { fatalError("reward(): model_kind \(config.kind.rawValue) has no reward head") }
        first.forward(z: z, ldz: sharedZ ? 0 : config.latentDim, actions: actions, rows: rows, y: ws.a, sharedRow: ws.sharedRow)
        rewardLayers.withUnsafeBufferPointer { ls in valueRest(ls, input: ws.a, rows: rows, out: out, ws: ws) }
    }

    /// The squashed-Gaussian policy prior π(z) (docs/algorithm.md §1.4, with the correct log-density of §6 D1).
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
        // Raw head output [rows, 2A] goes to whichever ping-pong buffer the last layer does not read.
        let raw = policyLayers.count & 1 == 0 ? ws.b : ws.a
        run(policyLayers, x: z, ldx: config.latentDim, rows: rows, out: raw, ws: ws)
        policySample(raw: raw, rawStride: 2 * config.actDim, rows: rows, noise: noise, meanOut: meanOut,
                     actionOut: actionOut, logProbOut: logProbOut, logStdOut: logStdOut)
    }

    /// Widest hidden layer of π: the size of each `policyHead` scratch row.
    public var policyHiddenWidth: Int { policyLayers.dropLast().map(\.outDim).max() ?? 1 }

    /// π's network alone: `raw = [μ_raw, log-std pre-activation]`, `[rows, 2A]`, for latents with
    /// leading dimension `ldz`. `ping`/`pong` are `[rows, policyHiddenWidth]` caller scratch.
    ///
    /// Why split from sampling: the planner draws up to three independent samples at each latent
    /// (docs/algorithm.md §2.3) and one shared z_0 serves every trajectory, so it evaluates the network once
    /// per latent and samples from the same output many times.
    public func policyHead(z: UnsafePointer<Float>, ldz: Int, rows: Int, raw: UnsafeMutablePointer<Float>,
                           ping: UnsafeMutablePointer<Float>, pong: UnsafeMutablePointer<Float>) {
        policyLayers.withUnsafeBufferPointer { ls in
            var input = z, ld = ldz
            let last = ls.count - 1
            for i in 0...last {
                let dst = i == last ? raw : (i & 1 == 0 ? ping : pong)
                ls[i].forward(x: input, ldx: ld, rows: rows, y: dst)
                input = UnsafePointer(dst); ld = ls[i].outDim
            }
        }
    }

    /// The squashed-Gaussian step of π on head outputs (the one definition of it): row r reads
    /// `raw + r * rawStride` (0 broadcasts one head row to every sample) and `noise` row r
    /// (nil: ε = 0, the mean). Outputs as for `policy`; any may be nil.
    ///
    /// Eight rows at a time, one action dimension per step, with the vector tanh/exp/log; each
    /// row's log-density still sums its dimensions in order.
    public func policySample(raw: UnsafePointer<Float>, rawStride: Int, rows: Int, noise: UnsafePointer<Float>?,
                             meanOut: UnsafeMutablePointer<Float>?, actionOut: UnsafeMutablePointer<Float>?,
                             logProbOut: UnsafeMutablePointer<Float>?, logStdOut: UnsafeMutablePointer<Float>?) {
        let A = config.actDim
        let lmin = SIMD8<Float>(repeating: Float(config.logStdMin))
        let half = SIMD8<Float>(repeating: Float(0.5 * (config.logStdMax - config.logStdMin)))
        let halfLog2Pi = SIMD8<Float>(repeating: Float(PolicyPrior.halfLog2Pi))
        let squashEps = SIMD8<Float>(repeating: Float(PolicyPrior.squashEps))
        var r0 = 0
        while r0 < rows {
            let lanes = Swift.min(8, rows - r0)
            var lp = SIMD8<Float>(repeating: 0)
            for i in 0..<A {
                var mu = SIMD8<Float>(repeating: 0), s = mu, eps = mu
                for l in 0..<lanes {
                    let row = raw + (r0 + l) * rawStride
                    mu[l] = row[i]; s[l] = row[A + i]
                    if let noise { eps[l] = noise[(r0 + l) * A + i] }
                }
                let logStd = lmin.addingProduct(half, vtanh(s) + 1)
                // Without noise ε = 0, so the action is the mean (no second tanh, no exp).
                let mean = noise == nil || meanOut != nil ? vtanh(mu) : SIMD8<Float>(repeating: 0)
                let act = noise == nil ? mean : vtanh(mu.addingProduct(eps, vexp(logStd)))
                if logProbOut != nil {
                    lp += -0.5 * eps * eps - logStd - halfLog2Pi
                    let q = 1 - act * act
                    lp -= vlog(q.replacing(with: 0, where: q .< 0) + squashEps)
                }
                for l in 0..<lanes {
                    let k = (r0 + l) * A + i
                    meanOut?[k] = mean[l]
                    actionOut?[k] = act[l]
                    logStdOut?[k] = logStd[l]
                }
            }
            if let logProbOut { for l in 0..<lanes { logProbOut[r0 + l] = lp[l] } }
            r0 += 8
        }
    }
}
