import IQKernels
import IQModel
@testable import IQTrainer

/// Central finite differences in Double against the analytic gradient.
/// Returns the worst error relative to max(|g|, |fd|, 1e-3·max|g|): for smooth losses in
/// Double at h = 1e-5 it sits near 1e-8; a wrong or missing term gives O(1).
func worstRelativeError(analytic: [Double], count: Int, h: Double = 1e-5,
                        perturb: (Int, Double) -> Void, loss: () -> Double) -> (Double, Int) {
    let floor = max(1e-12, 1e-3 * (analytic.map { abs($0) }.max() ?? 0))
    var worst = 0.0
    var at = -1
    for i in 0..<count {
        perturb(i, h)
        let lp = loss()
        perturb(i, -2 * h)
        let lm = loss()
        perturb(i, h)
        let fd = (lp - lm) / (2 * h)
        let err = abs(fd - analytic[i]) / max(floor, abs(analytic[i]), abs(fd))
        if err > worst { worst = err; at = i }
    }
    return (worst, at)
}

/// A tiny architecture where every parameter can be checked: SimNorm group 4, 3 Q heads.
func tinyShape() -> ModelConfig {
    ModelConfig(obsDim: 3, actDim: 2, latentDim: 8, encoderHidden: [6], mlpDim: 7, numQ: 3, simnormGroup: 4)
}

/// Parameters scaled up from the reference init (std 0.02 makes every layer near-linear and
/// the checks weak), Q's zeroed last layer made non-zero.
func randomisedState(_ shape: ModelConfig, seed: UInt64) -> TrainState<Double> {
    let s = TrainState<Double>(layout: ParamLayout(shape), seed: seed)
    var r = SeededRandom(seed: seed &+ 99)
    for i in 0..<s.layout.total { s.theta.p[i] = r.normal() * 0.6 }
    s.target.p.update(from: s.theta.p + s.layout.qOffset, count: s.layout.qCount)
    for i in 0..<s.layout.qCount { s.target.p[i] += r.normal() * 0.1 }
    return s
}

func randomBatch(_ shape: ModelConfig, hyper: Hyper, seed: UInt64) -> Batch<Double> {
    let b = Batch<Double>(horizon: hyper.horizon, batch: hyper.batch, obsDim: shape.obsDim, actDim: shape.actDim)
    var r = SeededRandom(seed: seed)
    for i in 0..<b.obs.count { b.obs.p[i] = r.normal() }
    for i in 0..<b.act.count { b.act.p[i] = r.uniform() * 1.8 - 0.9 }
    return b
}
