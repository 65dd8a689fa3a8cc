import IQModel

/// The planner's view of the policy prior: "evaluate the network once per latent" and "draw any
/// number of samples from that output", both delegated to `WorldModel` (the one definition of
/// π's network and squashed Gaussian, so the planner cannot drift from the runtime's prior).
///
/// Why split: docs/algorithm.md §2.3 draws up to three independent policy samples at each latent (ℓ_t, ã' and
/// the two terminal ones), and z_0 is shared by all trajectories. Evaluating the MLP once per
/// latent cuts the policy passes from 2H+2 to H batched passes per iteration (≈ 19% of the
/// plan's FLOPs at every preset).
struct PolicySampler: @unchecked Sendable {
    let model: WorldModel
    let actDim: Int
    let hiddenWidth: Int

    init(model: WorldModel) {
        self.model = model
        actDim = model.config.actDim
        hiddenWidth = model.policyHiddenWidth
    }

    /// raw = MLP(z), `[rows, 2A]`. `ping`/`pong` are `[rows, hiddenWidth]` scratch.
    @inline(__always)
    func head(z: UnsafePointer<Float>, ldz: Int, rows: Int, raw: UnsafeMutablePointer<Float>,
              ping: UnsafeMutablePointer<Float>, pong: UnsafeMutablePointer<Float>) {
        model.policyHead(z: z, ldz: ldz, rows: rows, raw: raw, ping: ping, pong: pong)
    }

    /// One sample per row from head outputs; `rawStride` 0 uses one head row for every sample.
    /// `noise` nil means ε = 0: the squashed mean and its log-probability.
    @inline(__always)
    func sample(raw: UnsafePointer<Float>, rawStride: Int, rows: Int, noise: UnsafePointer<Float>?,
                action: UnsafeMutablePointer<Float>?, logProb: UnsafeMutablePointer<Float>?) {
        model.policySample(raw: raw, rawStride: rawStride, rows: rows, noise: noise, meanOut: nil,
                           actionOut: action, logProbOut: logProb, logStdOut: nil)
    }
}
