import IQKernels
import IQModel

/// TD-MPC2's trajectory value, for models converted from TD-MPC2 checkpoints
/// (docs/gpu-training.md): G = Σ_{t<H} γ^t R(z_t, a_t) + γ^H · ½(Q_i + Q_j)(z_H, ã_H), with
/// R and Q decoded from their two-hot logits, ã_H drawn from π(z_H), and (i, j) the head pair
/// drawn for the iteration's terminal call. No entropy terms: TD-MPC2 plans on its learned
/// reward, not on rewards decoded from Q.
///
/// Same contract as the IQ-MPC scorer: writes only rows [r0, r1) of `values` (a non-finite value
/// scores −∞), every draw keyed by (kind, step, row), so values do not depend on the thread
/// split; no allocation.
extension PlanCore {
    func scoreTDMPC2(partition part: Partition) {
        let H = horizon, N = samples, A = actDim, L = latentDim
        let r0 = part.r0, n = part.rows
        let ws = part.workspace
        let model = self.model
        var zc = part.zCur, zn = part.zNext
        let g = part.value, reward = part.qStep
        g.update(repeating: 0, count: n)
        var disc: Float = 1
        for t in 0..<H {
            // The deadline block, as in the IQ-MPC scorer: one horizon step of this partition.
            if pastDeadline() { return }
            let at = UnsafePointer(actions + (t * N + r0) * A)
            // Step 0 reads the one shared z_0 (latent half of each first layer computed once).
            let zt = t == 0 ? UnsafePointer(z0) : UnsafePointer(zc)
            model.reward(z: zt, actions: at, rows: n, into: reward, workspace: ws, sharedZ: t == 0)
            model.dynamics(z: zt, actions: at, rows: n, into: zn, workspace: ws, sharedZ: t == 0)
            for r in 0..<n { g[r] += disc * reward[r] }
            disc *= gamma
            swap(&zc, &zn)
        }
        sampler.head(z: zc, ldz: L, rows: n, raw: part.rawCur, ping: part.ping, pong: part.pong)
        policySample(kind: .terminalAction, t: 0, raw: part.rawCur, rawStride: 2 * A, part: part,
                     action: part.termAction, logProb: nil)
        model.qPair(heads: pair(2 * H), reduce: .mean, z: zc, actions: part.termAction, rows: n,
                    into: part.qTerm, workspace: ws)
        let out = values + r0
        for r in 0..<n {
            let v = g[r] + disc * part.qTerm[r]
            out[r] = v.isFinite ? v : -.infinity
        }
    }
}
