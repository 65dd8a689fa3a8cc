import IQKernels
/// Behaviour cloning baseline: maximum likelihood of the expert's action under the
/// squashed-Gaussian prior, encoder included. With u = atanh(a_E) (a_E clipped to
/// ±(1 − 1e-4) because saturated experts hit ±1 exactly) the negative log-density is
///   Σ_i ½((u_i − μ_i)/σ_i)² + log σ_i  + terms independent of the parameters.
public final class BCLoss<T: TrainScalar>: @unchecked Sendable {
    // Safety: used by one training thread.
    public let layout: ParamLayout
    public let rows: Int
    let enc: MLPCache<T>
    let pi: MLPCache<T>
    let dRaw: Tensor<T>
    public static var actionClip: Double { 1 - 1e-4 }

    public init(layout: ParamLayout, rows: Int) {
        self.layout = layout
        self.rows = rows
        enc = MLPCache(spec: layout.encoder, maxRows: rows)
        pi = MLPCache(spec: layout.policy, maxRows: rows)
        dRaw = Tensor(rows * 2 * layout.shape.actDim)
    }

    /// Mean negative log-likelihood over `rows` (obs = rows x D_o, act = rows x A);
    /// gradient into the encoder and policy parts of `grad` when non-nil.
    @discardableResult
    public func loss(theta: UnsafePointer<T>, grad: UnsafeMutablePointer<T>?, obs: UnsafePointer<T>,
                     act: UnsafePointer<T>) -> T {
        let A = layout.shape.actDim, L = layout.shape.latentDim
        var rng = SeededRandom(seed: 0)
        enc.input.p.update(from: obs, count: rows * layout.shape.obsDim)
        let z = enc.forward(params: theta + layout.encoderOffset, rows: rows, dropout: 0, rng: &rng)
        pi.input.p.update(from: z, count: rows * L)
        let raw = pi.forward(params: theta + layout.policyOffset, rows: rows, dropout: 0, rng: &rng)
        let lmin = T(layout.shape.logStdMin), half = T(0.5 * (layout.shape.logStdMax - layout.shape.logStdMin))
        let clip = T(Self.actionClip)
        let inv = 1 / T(rows)
        var total: T = 0
        for r in 0..<rows {
            for i in 0..<A {
                let mu = raw[r * 2 * A + i], s = raw[r * 2 * A + A + i]
                let ts = T.tanhf(s)
                let ls = lmin + half * (ts + 1)
                let a = min(max(act[r * A + i], -clip), clip)
                let u = T(0.5) * T.logn((1 + a) / (1 - a))
                let sigma = T.expo(ls)
                let d = (u - mu) / sigma
                total += T(0.5) * d * d + ls
                dRaw.p[r * 2 * A + i] = -d / sigma * inv
                dRaw.p[r * 2 * A + A + i] = (1 - d * d) * half * (1 - ts * ts) * inv
            }
        }
        guard let grad else { return total * inv }
        pi.backward(params: theta + layout.policyOffset, grads: grad + layout.policyOffset, dOut: dRaw.p, rows: rows,
                    wantInputGrad: true)
        enc.backward(params: theta + layout.encoderOffset, grads: grad + layout.encoderOffset, dOut: pi.dInput.p,
                     rows: rows, wantInputGrad: false)
        return total * inv
    }
}
