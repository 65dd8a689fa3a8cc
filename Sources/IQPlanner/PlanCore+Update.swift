#if canImport(Glibc)
import Glibc
#endif
import IQKernels

/// The MPPI update between iterations and the final action choice (docs/algorithm.md §2.2 steps 4.3-6).
/// Runs on the calling thread after every partition has scored its rows.
extension PlanCore {
    /// Warm start: mean = previous mean shifted one step (zeros at episode start), std = maxStd.
    func initialiseDistribution(episodeStart: Bool) {
        let H = horizon, A = actDim
        mean.update(repeating: 0, count: H * A)
        if !episodeStart && H > 1 {
            mean.update(from: prevMean + A, count: (H - 1) * A)
        }
        std.update(repeating: Float(config.maxStd), count: H * A)
    }

    /// Top-k elites, weights exp(T (v − max v)) normalised, weighted mean and clamped std.
    func updateDistribution() {
        let H = horizon, N = samples, A = actDim, k = eliteCount
        TopK.select(values: values, count: N, k: k, into: eliteIndex)
        let best = values[Int(eliteIndex[0])]
        let temperature = Float(config.temperature)
        var total: Float = 0, eliteSum: Float = 0
        // Non-finite trajectories score −∞ (`score`): weight 0 next to any finite elite. When
        // none is finite the values say nothing, and the elites share the weight equally.
        let anyFinite = best > -.infinity
        for i in 0..<k {
            let v = values[Int(eliteIndex[i])]
            let w = anyFinite ? expf(temperature * (v - best)) : 1
            eliteWeight[i] = w
            total += w
            eliteSum += v
        }
        eliteMeanValue[iteration] = eliteSum / Float(k)
        var normalised: Float = 0
        for i in 0..<k {
            eliteWeight[i] /= total
            normalised += eliteWeight[i]
        }
        let denom = normalised + 1e-9
        let minStd = Float(config.minStd), maxStd = Float(config.maxStd)
        for t in 0..<H {
            let m = mean + t * A, s = std + t * A
            let base = actions + t * N * A
            m.update(repeating: 0, count: A)
            // Zero-weight elites are skipped: a −∞ trajectory's actions may hold the NaN that made it so.
            for i in 0..<k where eliteWeight[i] > 0 {
                let w = eliteWeight[i], a = base + Int(eliteIndex[i]) * A
                for d in 0..<A { m[d] += w * a[d] }
            }
            for d in 0..<A { m[d] /= denom }
            s.update(repeating: 0, count: A)
            for i in 0..<k where eliteWeight[i] > 0 {
                let w = eliteWeight[i], a = base + Int(eliteIndex[i]) * A
                for d in 0..<A {
                    let diff = a[d] - m[d]
                    s[d] += w * diff * diff
                }
            }
            for d in 0..<A { s[d] = min(max((s[d] / denom).squareRoot(), minStd), maxStd) }
        }
        for i in 0..<k { (eliteFirstAction + i * A).update(from: actions + Int(eliteIndex[i]) * A, count: A) }
    }

    /// The executed action: an elite drawn by weight (or the weighted mean), plus std[0] ⊙ ε
    /// in training mode, clamped to [-1, 1]. Stores the mean for the next warm start.
    func selectAction(into out: UnsafeMutablePointer<Float>, trainingNoise: Bool) {
        let A = actDim
        switch config.actionSelection {
        case .sample:
            let u = rng.uniform(stream: streamID(plan: planIndex, iteration: 0, .eliteChoice), element: 0)
            // Inverse CDF; if rounding leaves the total just under u, the last elite with
            // non-zero weight takes the remainder.
            var chosen = 0
            var cumulative: Float = 0
            for i in 0..<eliteCount where eliteWeight[i] > 0 {
                chosen = i
                cumulative += eliteWeight[i]
                if u < cumulative { break }
            }
            out.update(from: eliteFirstAction + chosen * A, count: A)
        case .mean:
            out.update(from: mean, count: A)
        }
        if trainingNoise {
            let eps = partitions[0].noise  // >= A floats; free between iterations
            rng.fillNormal(stream: streamID(plan: planIndex, iteration: 0, .trainingNoise), counter: 0, into: eps, count: A)
            for d in 0..<A { out[d] += std[d] * eps[d] }
        }
        for d in 0..<A { out[d] = min(max(out[d], -1), 1) }
        prevMean.update(from: mean, count: horizon * A)
    }
}
