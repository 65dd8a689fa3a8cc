#if canImport(Glibc)
import Glibc
#endif
import IQKernels
import IQModel

/// The policy prior split into "evaluate the network once per latent" and "draw any number of
/// samples from that output".
///
/// Why: SPEC 2.3 draws up to three independent policy samples at each latent (ℓ_t, ã' and the
/// two terminal ones), and z_0 is shared by all trajectories. `WorldModel.policy` recomputes
/// the MLP per sample; evaluating it once per latent cuts the policy GEMMs from 2H+2 to H
/// batched passes per iteration (≈ 19% of the plan's FLOPs at every preset).
///
/// The MLP runs through IQKernels' `NormedLinear` on the model's own weights (the same layer
/// list and kernels `WorldModel` uses). The sampling step restates IQModel's squashed-Gaussian
/// formula (SPEC "Project decisions") because IQModel exposes no split API yet; a parity test
/// pins it to `WorldModel.policy`. Once IQModel offers a head/sample split this file should call it.
struct PolicySampler: @unchecked Sendable {
    let layers: ContiguousArray<NormedLinear>
    let actDim: Int
    let hiddenWidth: Int
    private let logStdMin: Float
    private let logStdHalfRange: Float

    init(model: WorldModel) {
        let specs = model.layout.policy
        func t(_ name: String) -> UnsafePointer<Float> { model.tensor(named: name)!.baseAddress! }
        layers = ContiguousArray(specs.map { s in
            NormedLinear(inDim: s.inDim, outDim: s.outDim, weight: t(s.prefix + ".weight"), bias: t(s.prefix + ".bias"),
                         lnGain: s.hasNorm ? t(s.prefix + ".ln.weight") : nil,
                         lnBias: s.hasNorm ? t(s.prefix + ".ln.bias") : nil, activation: s.activation)
        })
        actDim = model.config.actDim
        hiddenWidth = specs.dropLast().map(\.outDim).max() ?? 1
        logStdMin = Float(model.config.logStdMin)
        logStdHalfRange = Float(0.5 * (model.config.logStdMax - model.config.logStdMin))
    }

    /// raw = MLP(z), `[rows, 2A]` (μ_raw then the log-std pre-activation). `ping`/`pong` are
    /// `[rows, hiddenWidth]` scratch.
    func head(z: UnsafePointer<Float>, ldz: Int, rows: Int, raw: UnsafeMutablePointer<Float>,
              ping: UnsafeMutablePointer<Float>, pong: UnsafeMutablePointer<Float>) {
        layers.withUnsafeBufferPointer { ls in
            var input = z, ld = ldz
            let last = ls.count - 1
            for i in 0...last {
                let dst = i == last ? raw : (i & 1 == 0 ? ping : pong)
                ls[i].forward(x: input, ldx: ld, rows: rows, y: dst)
                input = UnsafePointer(dst); ld = ls[i].outDim
            }
        }
    }

    /// One sample per row from head outputs: a = tanh(μ_raw + ε σ) and its log-density
    /// Σ(−½ε² − log σ − ½ log 2π) − Σ log(max(0, 1 − a²) + 1e-6). `rawStride` is 0 to use one
    /// head row for every sample (the shared z_0), else 2A.
    func sample(raw: UnsafePointer<Float>, rawStride: Int, rows: Int, noise: UnsafePointer<Float>,
                action: UnsafeMutablePointer<Float>?, logProb: UnsafeMutablePointer<Float>?) {
        let A = actDim, lmin = logStdMin, half = logStdHalfRange
        let halfLog2Pi: Float = 0.918_938_533_204_672_7
        for r in 0..<rows {
            let mu = raw + r * rawStride, s = mu + A, eps = noise + r * A
            var lp: Float = 0
            for i in 0..<A {
                let logStd = lmin + half * (tanhf(s[i]) + 1)
                let e = eps[i]
                let a = tanhf(mu[i] + e * expf(logStd))
                lp += -0.5 * e * e - logStd - halfLog2Pi
                lp -= logf(max(0, 1 - a * a) + 1e-6)
                action?[r * A + i] = a
            }
            logProb?[r] = lp
        }
    }
}
