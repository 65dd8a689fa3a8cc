import Foundation
import IQCalibration
import IQModel

/// The behaviour-cloning baseline: same network family and file format, the encoder and
/// policy trained by maximum likelihood on the demonstrations (dynamics and Q stay at their
/// initial values, so only the policy prior is meaningful when deploying it).
public final class BCRun: @unchecked Sendable {
    // Safety: driven by one thread.
    public let config: ModelConfig
    public let layout: ParamLayout
    public let state: TrainState<Float>
    let loss: BCLoss<Float>
    let batch: Batch<Float>
    let expert: ReplayBuffer
    let hyper: Hyper
    let calibration: Calibration
    let fingerprint: String

    public init(preset: String, calibration: Calibration, expert: ReplayBuffer, episodeLength: Int, batch: Int,
                seed: UInt64, fingerprint: String) throws {
        try TrainerLimits.check("batch", batch, in: TrainerLimits.batch)
        var h = Hyper()
        h.batch = batch
        h.horizon = 1
        h.discount = Hyper.discount(episodeLength: episodeLength)
        hyper = h
        var c = try ModelConfig.preset(preset, obsDim: expert.obsDim, actDim: expert.actDim)
        c.discount = h.discount
        config = c
        layout = ParamLayout(c)
        state = TrainState(layout: layout, seed: seed)
        WeightsBridge.load(WorldModel.initialised(config: c, seed: seed), into: state.theta.p)
        state.syncTarget()
        loss = BCLoss(layout: layout, rows: 2 * batch)
        self.batch = Batch(horizon: 1, batch: batch, obsDim: expert.obsDim, actDim: expert.actDim)
        self.expert = expert
        self.calibration = calibration
        self.fingerprint = fingerprint
    }

    /// One Adam step (encoder lr scaled by 0.3, clip 20) on 2B expert transitions.
    @discardableResult
    public func step() -> Double {
        expert.sample(into: batch, rowOffset: 0, count: 2 * hyper.batch, rng: &state.rng)
        state.grad.zero()
        let l = loss.loss(theta: state.theta.p, grad: state.grad.p, obs: batch.obs.p, act: batch.act.p)
        let lay = layout
        let ranges = [lay.encoderRange, lay.policyRange]
        Optimiser.clipGlobalNorm(state.grad.p, ranges: ranges, maxNorm: hyper.gradClip)
        state.modelSteps += 1
        Optimiser.adam(theta: state.theta.p, grad: state.grad.p, m: state.adamM.p, v: state.adamV.p, range: lay.encoderRange,
                       lr: hyper.lr * hyper.encoderLrScale, step: state.modelSteps, eps: hyper.modelAdamEps)
        Optimiser.adam(theta: state.theta.p, grad: state.grad.p, m: state.adamM.p, v: state.adamV.p, range: lay.policyRange,
                       lr: hyper.lr, step: state.modelSteps, eps: hyper.modelAdamEps)
        return Double(l)
    }

    public func model() throws -> WorldModel { try WeightsBridge.model(config: config, theta: state.theta.p) }

    public func write(path: String) throws {
        var md = calibration.mappingMetadata()
        md["iqmpc.trainer"] = "iqmpc-train bc (behaviour cloning baseline)"
        md["iqmpc.train.updates"] = String(state.modelSteps)
        md["iqmpc.train.demos_fingerprint"] = fingerprint
        try model().write(to: path, extraMetadata: md)
    }
}
