import Foundation
import IQCalibration
import IQLink
import IQModel
@testable import IQAnalysis
import IQJSON
import Testing

/// Reward recovery aggregates per source and per episode exactly as its definition says:
/// per-step Pearson over every transition, per-episode Pearson of decoded vs true returns.
@Suite struct RewardRecoveryTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func episode(seed: Int, steps: Int, rewardScale: Float) -> Episode {
        var s: [StepRecord] = []
        for t in 0...steps {
            let x = Float(seed * 31 + t)
            let obs = ObservationRecord(seq: UInt64(t + 1), timestampNs: 0, values: [cos(x * 0.1), sin(x * 0.1), 0.3 * sin(x * 0.05)],
                                        episodeStart: t == 0, reward: t == 0 ? nil : rewardScale * Float(t % 7) / 7)
            let act = t < steps ? ActionRecord(seq: UInt64(t + 1), observationSeq: UInt64(t + 1), timestampNs: 0, values: [sin(x * 0.3)]) : nil
            s.append(StepRecord(observation: obs, action: act))
        }
        return Episode(steps: s)
    }

    @Test func aggregatesPerStepAndPerEpisode() throws {
        let cal = try Calibration.load(path: Self.root.appendingPathComponent("Calibration/pendulum-swingup.yaml").path)
        let model = WorldModel.initialised(config: try ModelConfig.preset("tiny", obsDim: 3, actDim: 1), seed: 3, nonzeroQ: true)
        let good = (0..<3).map { Self.episode(seed: $0, steps: 20, rewardScale: 1) }
        let poor = (3..<5).map { Self.episode(seed: $0, steps: 20, rewardScale: 0.1) }
        // An episode whose true reward never changes has nothing to correlate along time.
        let flat = [Self.episode(seed: 9, steps: 20, rewardScale: 0)]
        let r = RewardRecovery.evaluate(model: model, calibration: cal, sources: [("good", good), ("poor", poor), ("flat", flat)])
        #expect(r.transitions == 6 * 20)
        #expect(r.sources.map(\.episodes) == [3, 2, 1])
        #expect(r.withinEpisodeCount == 5 && r.constantRewardEpisodes == 1)
        // The same numbers by hand from DecodedRewards.
        var decodedReturns: [Double] = [], trueReturns: [Double] = [], allD: [Double] = [], allT: [Double] = []
        var within: [Double] = []
        for ep in good + poor + flat {
            let (d, t) = DecodedRewards.pairs(model: model, calibration: cal, episodes: [ep])
            allD += d; allT += t
            decodedReturns.append(d.reduce(0, +)); trueReturns.append(t.reduce(0, +))
            if t.contains(where: { $0 != t[0] }) { within.append(Stats.pearson(d, t)) }
        }
        #expect(within.count == 5)
        var means: [Double] = []
        for (lo, hi) in [(0, 60), (60, 100), (100, 120)] {
            means += [Double](repeating: allT[lo..<hi].reduce(0, +) / Double(hi - lo), count: hi - lo)
        }
        #expect(abs(r.sourceOnlyCorrelation - Stats.pearson(means, allT)) < 1e-12)
        #expect(abs(r.withinEpisodeCorrelation - within.reduce(0, +) / 5) < 1e-12)
        #expect(r.episodeCorrelation == Stats.pearson(decodedReturns, trueReturns))
        #expect(r.stepCorrelation == Stats.pearson(allD, allT))
        #expect(abs(r.sources[0].meanTrueReturn - trueReturns.prefix(3).reduce(0, +) / 3) < 1e-9)
        #expect(abs(r.sources[1].meanDecodedReturn - decodedReturns[3...4].reduce(0, +) / 2) < 1e-9)
    }

    /// An episode given as flat transitions (what the trainer unpacks from its replay buffer)
    /// decodes to exactly what the same episode gives as a log (row t holds obs_t with the action
    /// taken from it, and the reward arrives with obs_{t+1}); a transition without a reward is skipped.
    @Test func flatTransitionsDecodeLikeTheSameEpisodeLogged() throws {
        let cal = try Calibration.load(path: Self.root.appendingPathComponent("Calibration/pendulum-swingup.yaml").path)
        let model = WorldModel.initialised(config: try ModelConfig.preset("tiny", obsDim: 3, actDim: 1), seed: 7, nonzeroQ: true)
        let ep = Self.episode(seed: 4, steps: 9, rewardScale: 1)
        var obs: [Float] = [], next: [Float] = [], act: [Float] = [], reward: [Double] = []
        for t in 0..<ep.steps.count - 1 {
            obs += cal.normalise(observation: ep.steps[t].observation.values)
            next += cal.normalise(observation: ep.steps[t + 1].observation.values)
            act += cal.normalise(action: ep.steps[t].action!.values).map { min(max($0, -1), 1) }
            reward.append(Double(ep.steps[t + 1].observation.reward!))
        }
        let logged = DecodedRewards.transitions(model: model, calibration: cal, episodes: [ep])
        let replayed = DecodedRewards.transitions(model: model, obs: obs, act: act, next: next, truth: reward)
        #expect(replayed.decoded.count == 9 && replayed.step == Array(0..<9))
        #expect(replayed.decoded == logged.decoded && replayed.truth == logged.truth)
        #expect(replayed.q == logged.q && replayed.nextValue == logged.nextValue)
        reward[3] = .nan
        let gap = DecodedRewards.transitions(model: model, obs: obs, act: act, next: next, truth: reward)
        #expect(gap.step == [0, 1, 2, 4, 5, 6, 7, 8])
        // Another batch size may round differently in the matrix products: equal to float precision.
        let kept = Array(logged.decoded[0..<3] + logged.decoded[4...])
        #expect(zip(gap.decoded, kept).allSatisfy { abs($0 - $1) <= 1e-5 * max(abs($1), 1e-2) })
    }

    /// The terms written beside r̂ (`--series` q, next_value) are the model's own Q(h(s), a) and
    /// V(h(s')) averaged over the heads, recomputed here one transition at a time, and r̂ is
    /// q − γ·next_value.
    @Test func decodedRewardsTermsAreTheHeadsMeanQAndNextValue() throws {
        let cal = try Calibration.load(path: Self.root.appendingPathComponent("Calibration/pendulum-swingup.yaml").path)
        let model = WorldModel.initialised(config: try ModelConfig.preset("tiny", obsDim: 3, actDim: 1), seed: 5, nonzeroQ: true)
        let ep = Self.episode(seed: 2, steps: 6, rewardScale: 1)
        let tr = DecodedRewards.transitions(model: model, calibration: cal, episodes: [ep])
        #expect(tr.decoded.count == 6 && tr.q.count == 6 && tr.nextValue.count == 6 && tr.step == Array(0..<6))
        let c = model.config
        let ws = ForwardWorkspace(model: model, maxRows: 1)
        var z = [Float](repeating: 0, count: c.latentDim), zn = z, mean = [Float](repeating: 0, count: c.actDim)
        var q = [Float](repeating: 0, count: 1)
        for t in 0..<6 {
            let o = cal.normalise(observation: ep.steps[t].observation.values)
            let on = cal.normalise(observation: ep.steps[t + 1].observation.values)
            let a = cal.normalise(action: ep.steps[t].action!.values).map { min(max($0, -1), 1) }
            o.withUnsafeBufferPointer { model.encode(obs: $0.baseAddress!, rows: 1, into: &z, workspace: ws) }
            on.withUnsafeBufferPointer { model.encode(obs: $0.baseAddress!, rows: 1, into: &zn, workspace: ws) }
            model.policy(z: zn, rows: 1, noise: nil, meanOut: &mean, actionOut: nil, logProbOut: nil, logStdOut: nil, workspace: ws)
            var qs = 0.0, vs = 0.0
            for h in 0..<c.numQ {
                a.withUnsafeBufferPointer { model.q(head: h, z: z, actions: $0.baseAddress!, rows: 1, into: &q, workspace: ws) }
                qs += Double(q[0])
                model.q(head: h, z: zn, actions: mean, rows: 1, into: &q, workspace: ws)
                vs += Double(q[0])
            }
            let scale = max(1, abs(qs))
            #expect(abs(tr.q[t] - qs / Double(c.numQ)) <= 1e-5 * scale)
            #expect(abs(tr.nextValue[t] - vs / Double(c.numQ)) <= 1e-5 * scale)
            #expect(abs(tr.decoded[t] - (tr.q[t] - c.discount * tr.nextValue[t])) <= 1e-5 * scale)
        }
        #expect(Set(tr.q).count > 1 && Set(tr.nextValue).count > 1)
        // A step without an action is skipped, and the step column says where the gap is.
        var gappy = ep
        gappy.steps[2].action = nil
        let g = DecodedRewards.transitions(model: model, calibration: cal, episodes: [gappy])
        #expect(g.step == [0, 1, 3, 4, 5])
        // (Same values up to the batch's rounding: the model runs 5 rows instead of 6.)
        for (x, y) in zip(g.q, [tr.q[0], tr.q[1], tr.q[3], tr.q[4], tr.q[5]]) { #expect(abs(x - y) <= 1e-6 * max(1, abs(y))) }
    }
}

/// The metrics line format the trainer writes and the report reads.
@Suite struct MetricsRecordTests {
    @Test func roundTripsAndWritesNonFiniteAsNull() throws {
        let r = MetricsRecord(kind: "eval", values: ["env_step": 1000, "eval_return_plan": 312.5, "reward_correlation": .nan])
        #expect(r.line == #"{"env_step":1000,"eval_return_plan":312.5,"kind":"eval","reward_correlation":null}"#)
        let back = try StrictJSON.decode(MetricsRecord.self, from: r.line)
        #expect(back == MetricsRecord(kind: "eval", values: ["env_step": 1000, "eval_return_plan": 312.5]))
    }

    @Test func loadNamesABadLineButToleratesATruncatedLastOne() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UInt64.random(in: 0...UInt64.max)).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let good = MetricsRecord(kind: "update", values: ["updates": 50, "model_loss": 1.25]).line
        try (good + "\n" + good + "\n" + #"{"kind":"upd"#).write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try MetricsRecord.load(path: path).count == 2)
        try (good + "\n" + #"{"kind":"update","kind":"eval"}"# + "\n" + good + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: StrictJSON.Failure.self) { try MetricsRecord.load(path: path) }
        do { _ = try MetricsRecord.load(path: path) } catch { #expect("\(error)".contains("line 2") && "\(error)".contains("duplicate")) }
    }
}
