import IQModel

/// The squashed-Gaussian head of docs/algorithm.md §1.4 with the correct per-dimension
/// log-density (§6 D1):
///   log σ = lmin + ½(lmax − lmin)(tanh s + 1),  u = μ + ε σ,  a = tanh u,
///   ℓ = Σ_i (−½ε_i² − log σ_i − ½ log 2π) − Σ_i log(max(0, 1 − a_i²) + 1e-6).
/// ε is held fixed (reparameterisation), so the backward pass maps (∂a, ∂ℓ) to ∂(μ, s).
public final class PolicyHead<T: TrainScalar>: @unchecked Sendable {
    // Safety: owned and used by a single training thread.
    public let actDim: Int
    public let maxRows: Int
    public let logStdMin: Double
    public let logStdMax: Double
    public let eps: Tensor<T>
    public let action: Tensor<T>
    public let logProb: Tensor<T>
    public let logStd: Tensor<T>
    let tanhS: Tensor<T>
    public let dRaw: Tensor<T>
    public private(set) var rows = 0

    public init(actDim: Int, maxRows: Int, logStdMin: Double, logStdMax: Double) {
        self.actDim = actDim
        self.maxRows = maxRows
        self.logStdMin = logStdMin
        self.logStdMax = logStdMax
        let n = actDim * maxRows
        eps = Tensor(n); action = Tensor(n); logProb = Tensor(maxRows)
        logStd = Tensor(n); tanhS = Tensor(n); dRaw = Tensor(2 * n)
    }

    /// `raw` is the policy MLP output (rows x 2A). Set `eps` (rows x A) before calling.
    public func forward(raw: UnsafePointer<T>, rows: Int) {
        precondition(rows <= maxRows)
        self.rows = rows
        let A = actDim
        let lmin = T(logStdMin), half = T(0.5 * (logStdMax - logStdMin))
        let c = T(PolicyPrior.halfLog2Pi), te = T(PolicyPrior.squashEps)
        for r in 0..<rows {
            let mu = raw + r * 2 * A, s = mu + A
            var lp: T = 0
            for i in 0..<A {
                let k = r * A + i
                let ts = T.tanhf(s[i])
                tanhS.p[k] = ts
                let ls = lmin + half * (ts + 1)
                logStd.p[k] = ls
                let e = eps.p[k]
                let a = T.tanhf(mu[i] + e * T.expo(ls))
                action.p[k] = a
                lp += -T(0.5) * e * e - ls - c - T.logn(max(0, 1 - a * a) + te)
            }
            logProb.p[r] = lp
        }
    }

    /// Gradient w.r.t. the raw output into `dRaw` (rows x 2A). `dAction` may be nil (zero);
    /// `dLogProb` is per row (nil: zero).
    public func backward(dAction: UnsafePointer<T>?, dLogProb: UnsafePointer<T>?, rows: Int) {
        let A = actDim
        let half = T(0.5 * (logStdMax - logStdMin)), te = T(PolicyPrior.squashEps)
        for r in 0..<rows {
            let dl = dLogProb?[r] ?? 0
            let out = dRaw.p + r * 2 * A
            for i in 0..<A {
                let k = r * A + i
                let a = action.p[k]
                let q = 1 - a * a
                var du = (dAction?[k] ?? 0) * q
                if q > 0 { du += dl * 2 * a / (q + te) * q }
                let sigma = T.expo(logStd.p[k])
                let dls = du * eps.p[k] * sigma - dl
                out[i] = du
                let ts = tanhS.p[k]
                out[A + i] = dls * half * (1 - ts * ts)
            }
        }
    }
}
