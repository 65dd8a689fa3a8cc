import IQKernels
import IQModel

/// One iteration's work for one partition: draw its Gaussian trajectories, then score all
/// its trajectories with the reward-decoded value (docs/algorithm.md §2.3). Runs on the
/// partition's own thread; reads the shared mean/std/heads/job, writes only rows [r0, r1) of
/// `actions` and `values`.
extension PlanCore: PartitionedJob {
    func run(partition p: Int) { sampleAndScore(partition: p) }

    func sampleAndScore(partition p: Int) {
        sampleGaussian(partition: p)
        score(partition: p)
    }

    /// Rows >= Nπ of this partition: a = clamp(mean + std ⊙ ε, -1, 1) for every step.
    func sampleGaussian(partition p: Int) {
        let part = partitions[p]
        let H = horizon, N = samples, A = actDim
        let r0 = part.r0
        let plan = planIndex, it = iteration

        // Gaussian trajectories (rows >= Nπ): a = clamp(mean + std ⊙ ε, -1, 1).
        let s0 = max(r0, policyRows)
        if s0 < part.r1 {
            let stream = streamID(plan: plan, iteration: it, .actionNoise)
            let count = (part.r1 - s0) * A
            for t in 0..<H {
                // part.noise holds rows*A floats; count <= rows*A.
                rng.fillNormal(stream: stream, counter: UInt64((t * N + s0) * A), into: part.noise, count: count)
                let m = mean + t * A, s = std + t * A
                let dst = actions + (t * N + s0) * A
                for r in 0..<(part.r1 - s0) {
                    let e = part.noise + r * A, a = dst + r * A
                    for d in 0..<A { a[d] = min(max(m[d] + s[d] * e[d], -1), 1) }
                }
            }
        }
    }

    /// The value of every trajectory of this partition, into `values[r0..<r1]`. A trajectory
    /// whose value is not finite (NaN from an overflow, ±∞) scores −∞, so it is never an elite
    /// while any finite one exists. With `trace` set, row r0's terms are also written there.
    func score(partition p: Int) {
        let part = partitions[p]
        let H = horizon, N = samples, A = actDim, L = latentDim
        let r0 = part.r0, n = part.rows
        let it = iteration
        if pastDeadline() { return }
        let ws = part.workspace
        let model = self.model

        if model.config.kind == .tdmpc2 { return scoreTDMPC2(partition: part) }

        // Value: G = Σ_t γ^t (q_t − γ V_{t+1} − α ℓ_t) + γ^H (Qavg(z_H, ã_H) − α ℓ_H).
        // The policy head runs once per latent (z_0: one shared row); samples reuse it. Both Q
        // calls at a latent z_{t+1} (V_{t+1}, and q_{t+1} or the terminal value) run together, so
        // a head both drew computes its latent product once (`WorldModel.qCalls`). The order of
        // evaluation differs from the equation's; every draw is keyed by (kind, step, row), so
        // the values do not.
        // Step 0 reads the one shared z_0 (the model computes its latent half once per layer);
        // later steps read this partition's rolled-out latents.
        // Rows of this partition that are policy-prior trajectories with a cached rollout.
        let c = cacheRollout ? max(0, min(part.r1, policyRows) - r0) : 0
        var zc = part.zCur, zn = part.zNext
        var rawCur = part.rawCur, rawNext = part.rawNext
        var qStep = part.qStep, qNext = part.qNext
        let g = part.value
        g.update(repeating: 0, count: n)
        var disc: Float = 1
        let gamma = self.gamma, alpha = self.alpha
        // q_0 = min of two heads at (z_0, a_0).
        model.qPair(heads: pair(0), reduce: .min, z: z0, actions: actions + r0 * A, rows: n, into: qStep,
                    workspace: ws, sharedZ: true)
        for t in 0..<H {
            // The deadline block: one horizon step of this partition (see Planner).
            if pastDeadline() { return }
            let at = UnsafePointer(actions + (t * N + r0) * A)
            let zt = t == 0 ? UnsafePointer(z0) : UnsafePointer(zc)
            // ℓ_t: log-prob of a fresh sample at z_t.
            policySample(kind: .entropySample, t: t, raw: t == 0 ? rawZ0 : rawCur, rawStride: t == 0 ? 0 : 2 * A,
                         part: part, action: nil, logProb: part.entropyStep)
            if anchorPerDim > 0 {
                anchor(actions: at, raw: t == 0 ? rawZ0 : rawCur, rawStride: t == 0 ? 0 : 2 * A, rows: n,
                       weight: anchorPerDim, discount: disc, into: g, trace: trace.map { $0.anchor + t })
            }
            // z_{t+1} = d(z_t, a_t), and the policy head there. The first `c` rows are policy-prior
            // trajectories: computed in iteration 0, copied from the cache afterwards.
            if c > 0 && it > 0 {
                if n > c {
                    model.dynamics(z: t == 0 ? zt : zt + c * L, actions: at + c * A, rows: n - c, into: zn + c * L,
                                   workspace: ws, sharedZ: t == 0)
                    sampler.head(z: zn + c * L, ldz: L, rows: n - c, raw: rawNext + c * 2 * A, ping: part.ping, pong: part.pong)
                }
                zn.update(from: policyZCache + (t * policyRows + r0) * L, count: c * L)
                rawNext.update(from: policyRawCache + (t * policyRows + r0) * 2 * A, count: c * 2 * A)
            } else {
                model.dynamics(z: zt, actions: at, rows: n, into: zn, workspace: ws, sharedZ: t == 0)
                sampler.head(z: zn, ldz: L, rows: n, raw: rawNext, ping: part.ping, pong: part.pong)
                if c > 0 {
                    (policyZCache + (t * policyRows + r0) * L).update(from: zn, count: c * L)
                    (policyRawCache + (t * policyRows + r0) * 2 * A).update(from: rawNext, count: c * 2 * A)
                }
            }
            // ã' for V_{t+1}.
            policySample(kind: .nextSample, t: t, raw: rawNext, rawStride: 2 * A, part: part,
                         action: part.sampled, logProb: part.logProb)
            let vCall = WorldModel.QCall(heads: pair(2 * t + 1), actions: part.sampled, reduce: .min, out: part.qa)
            if t + 1 < H {
                // With q_{t+1} = min-Q(z_{t+1}, a_{t+1}).
                let next = WorldModel.QCall(heads: pair(2 * (t + 1)), actions: actions + ((t + 1) * N + r0) * A,
                                            reduce: .min, out: qNext)
                part.sharedLatentRows &+= n * model.qCalls(z: zn, rows: n, vCall, next, workspace: ws)
            } else {
                // With the terminal value: Q averaged over two heads at an on-policy action ã_H.
                policySample(kind: .terminalAction, t: 0, raw: rawNext, rawStride: 2 * A, part: part,
                             action: part.termAction, logProb: nil)
                let terminal = WorldModel.QCall(heads: pair(2 * H), actions: part.termAction, reduce: .mean, out: part.qTerm)
                part.sharedLatentRows &+= n * model.qCalls(z: zn, rows: n, vCall, terminal, workspace: ws)
            }
            let q = qStep, ent = part.entropyStep, v = part.qa, lp = part.logProb
            for r in 0..<n {
                let reward = q[r] - gamma * (v[r] - alpha * lp[r])
                g[r] += disc * (reward - alpha * ent[r])
            }
            if let trace {
                trace.q[t] = q[0]; trace.nextQ[t] = v[0]; trace.nextLogPi[t] = lp[0]
                trace.logPi[t] = ent[0]; trace.reward[t] = q[0] - gamma * (v[0] - alpha * lp[0])
            }
            disc *= gamma
            swap(&zc, &zn)
            swap(&rawCur, &rawNext)
            swap(&qStep, &qNext)
        }
        // Terminal entropy from a sample independent of ã_H.
        policySample(kind: .terminalEntropy, t: 0, raw: rawCur, rawStride: 2 * A, part: part, action: nil, logProb: part.logProb)
        let out = values + r0
        for r in 0..<n {
            let v = g[r] + disc * (part.qTerm[r] - alpha * part.logProb[r])
            out[r] = v.isFinite ? v : -.infinity
        }
        if let trace {
            trace.logPi[H] = part.logProb[0]; trace.terminalQ[0] = part.qTerm[0]
            trace.terminalAction.update(from: part.termAction, count: A)
        }
    }

    /// g[r] −= discount · weight · Σ_d (a[r,d] − tanh μ[r,d])²: the prior anchor of one step
    /// (docs/algorithm.md §2.3), μ the policy head's mean output at z_t (the same vtanh as the
    /// prior's own mean action). `trace` gets row 0's undiscounted term.
    @inline(__always)
    func anchor(actions a: UnsafePointer<Float>, raw: UnsafePointer<Float>, rawStride: Int, rows n: Int,
                weight: Float, discount: Float, into g: UnsafeMutablePointer<Float>, trace: UnsafeMutablePointer<Float>?) {
        let A = actDim
        var r0 = 0
        while r0 < n {
            let lanes = min(8, n - r0)
            var sum = SIMD8<Float>(repeating: 0)
            for d in 0..<A {
                var mu = SIMD8<Float>(repeating: 0), x = mu
                for l in 0..<lanes {
                    mu[l] = raw[(r0 + l) * rawStride + d]
                    x[l] = a[(r0 + l) * A + d]
                }
                let diff = x - vtanh(mu)
                sum += diff * diff
            }
            let term = weight * sum
            for l in 0..<lanes { g[r0 + l] -= discount * term[l] }
            if r0 == 0, let trace { trace.pointee = term[0] }
            r0 += 8
        }
    }

    /// The head pair drawn for Q call `call` of this iteration.
    @inline(__always)
    func pair(_ call: Int) -> (Int, Int) { (Int(heads[2 * call]), Int(heads[2 * call + 1])) }

    /// A policy sample per row from head outputs, with noise from (kind, step t) for this partition's rows.
    @inline(__always)
    func policySample(kind: StreamKind, t: Int, raw: UnsafePointer<Float>, rawStride: Int, part: Partition,
                              action: UnsafeMutablePointer<Float>?, logProb: UnsafeMutablePointer<Float>?) {
        let A = actDim, n = part.rows
        let stream = streamID(plan: planIndex, iteration: iteration, kind)
        if deterministicPolicy {
            sampler.sample(raw: raw, rawStride: rawStride, rows: n, noise: nil, action: action, logProb: logProb)
            return
        }
        rng.fillNormal(stream: stream, counter: UInt64((t * samples + part.r0) * A), into: part.noise, count: n * A)
        sampler.sample(raw: raw, rawStride: rawStride, rows: n, noise: part.noise, action: action, logProb: logProb)
    }
}
