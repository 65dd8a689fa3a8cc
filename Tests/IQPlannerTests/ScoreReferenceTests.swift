import Foundation
import IQTestSupport
import IQKernels
import IQModel
import Testing
@testable import IQPlanner

/// The planner's trajectory value against Scripts/reference/score.py, an independent float64
/// numpy implementation written from the equations (docs/algorithm.md §2.3), term by term.
///
/// What makes the check able to fail: a nonzero entropy coefficient (0.05, so the ℓ terms move
/// the value), a discount other than 0.99, Q heads whose output depends on z and a (random
/// weights with every bias and LayerNorm perturbed), and two distinct heads, so the γV term,
/// the entropy terms, their signs, min-vs-mean and the head indices all show.
///
/// Tolerance: each term t satisfies |swift − ref| ≤ 1e-4 · scale, scale = |ref| for q, V, ℓ,
/// the terminal and the terminal Q; for r_t = q_t − γV_{t+1} and the value, which are
/// differences, the scale is the magnitude of their summands (|q_t| + γ|V_{t+1}|, and
/// Σ γ^t(|r_t|+α|ℓ_t|) + γ^H|terminal|): a float32 difference is only as exact as its parts.
struct ScoreReferenceTests {
    static let python = "/usr/bin/python3"

    static func binDir() throws -> String {
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        return URL(fileURLWithPath: exe).deletingLastPathComponent().path
    }

    static func model(preset: String, obs: Int, act: Int, seed: UInt64) throws -> WorldModel {
        var c = try ModelConfig.preset(preset, obsDim: obs, actDim: act)
        c.entropyCoef = 0.05
        c.discount = 0.97
        let m = WorldModel.initialised(config: c, seed: seed, nonzeroQ: true)
        var t = m.tensorValues()
        var rnd = SplitMix(state: seed &+ 17)
        for k in t.keys.sorted() where !k.hasSuffix(".weight") || k.hasSuffix(".ln.weight") {
            t[k] = t[k]!.map { $0 + rnd.uniform() * 0.4 - 0.2 }
        }
        // Larger last-layer Q weights: Q values of order 1-10 so the γV term is far from zero.
        for k in t.keys.sorted() where k.hasPrefix("q.") && k.hasSuffix(".weight") && !k.hasSuffix(".ln.weight") {
            if t[k]!.count == c.mlpDim { t[k] = t[k]!.map { $0 + rnd.uniform() * 2 - 1 } }
        }
        return try WorldModel(config: c, tensors: t)
    }

    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
    }

    static func json(_ data: Data) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func numbers(_ any: Any?) -> [Double] {
        if let n = any as? NSNumber { return [n.doubleValue] }
        return (any as? [Any] ?? []).map { ($0 as! NSNumber).doubleValue }
    }

    /// Worst error / scale over the terms; records a failure for any term above 1e-4.
    static func compare(_ got: [String: [Double]], _ ref: [String: [Double]], gamma: Double, alpha: Double,
                        _ what: String) -> Double {
        var worst = 0.0
        func check(_ key: String, _ i: Int, scale: Double) {
            let g = got[key]![i], r = ref[key]![i]
            let e = abs(g - r) / max(scale, 1e-12)
            worst = max(worst, e)
            #expect(e <= 1e-4, "\(what) \(key)[\(i)]: \(g) vs reference \(r) (relative \(e))")
        }
        let H = ref["rewards"]!.count
        #expect(got["rewards"]!.count == H && got["log_pi"]!.count == H + 1, "\(what): term counts")
        var total = 0.0, disc = 1.0
        for t in 0..<H {
            let q = ref["q"]![t], v = ref["next_v"]![t], r = ref["rewards"]![t], l = ref["log_pi"]![t]
            check("q", t, scale: abs(q))
            check("next_v", t, scale: abs(v))
            check("log_pi", t, scale: abs(l))
            check("rewards", t, scale: abs(q) + gamma * abs(v))
            check("anchor", t, scale: abs(ref["anchor"]![t]))
            total += disc * (abs(r) + alpha * abs(l) + ref["anchor"]![t])
            disc *= gamma
        }
        check("log_pi", H, scale: abs(ref["log_pi"]![H]))
        check("terminal_q", 0, scale: abs(ref["terminal_q"]![0]))
        check("terminal", 0, scale: abs(ref["terminal"]![0]))
        check("value", 0, scale: total + disc * abs(ref["terminal"]![0]))
        return worst
    }

    @Test(arguments: [("tiny", 5, 2, 3), ("small", 24, 6, 3), ("paper", 17, 6, 3), ("tiny", 4, 1, 6)])
    func cliAndAPIMatchNumpyReference(preset: String, obsDim: Int, actDim: Int, horizon: Int) throws {
        let bin = try Self.binDir()
        try #require(FileManager.default.isExecutableFile(atPath: bin + "/iqmpc-runtime"), "iqmpc-runtime not built in \(bin)")
        let m = try Self.model(preset: preset, obs: obsDim, act: actDim, seed: UInt64(obsDim * 31 + horizon))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("score-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try m.write(to: path)
        var rnd = SplitMix(state: UInt64(obsDim + 100 * horizon))
        let obs = (0..<obsDim).map { _ in rnd.uniform() * 4 - 2 }
        let actions = (0..<(horizon * actDim)).map { _ in rnd.uniform() * 2 - 1 }
        let heads = (1, m.config.numQ - 2)  // 1 and 3 for five heads
        func csv(_ v: [Float]) -> String { v.map { String(format: "%.9g", Double($0)) }.joined(separator: ",") }
        // A nonzero prior anchor (docs/algorithm.md §2.3), so its term is checked too.
        let kappa = 0.75
        let args = ["--weights", path, "--obs=" + csv(obs), "--actions=" + csv(actions), "--heads=\(heads.0),\(heads.1)",
                    "--prior-anchor=\(kappa)"]
        let ref = try Self.json(runProcess(Self.python, [repositoryRoot + "/Scripts/reference/score.py"] + args))
        let cli = try Self.json(runProcess(bin + "/iqmpc-runtime", ["score"] + args + ["--json"]))
        let api = try TrajectoryScorer.score(model: m, observation: obs, actions: actions, heads: heads, priorAnchor: kappa)

        let keys = ["value", "rewards", "log_pi", "terminal", "q", "next_v", "terminal_q", "anchor"]
        var r: [String: [Double]] = [:], c: [String: [Double]] = [:]
        for k in keys { r[k] = Self.numbers(ref[k]); c[k] = Self.numbers(cli[k]) }
        let a: [String: [Double]] = [
            "value": [Double(api.value)], "rewards": api.rewards.map(Double.init), "log_pi": api.logPi.map(Double.init),
            "terminal": [Double(api.terminal)], "q": api.q.map(Double.init), "next_v": api.nextV.map(Double.init),
            "terminal_q": [Double(api.terminalQ)], "anchor": api.anchor.map(Double.init),
        ]
        let gamma = Double(m.config.discount), alpha = Double(m.config.entropyCoef)
        let worstCLI = Self.compare(c, r, gamma: gamma, alpha: alpha, "\(preset) CLI")
        let worstAPI = Self.compare(a, r, gamma: gamma, alpha: alpha, "\(preset) API")
        // The terms are not degenerate: the entropy and γV terms move the value.
        let ell = r["log_pi"]!, q = r["q"]!
        #expect(ell.allSatisfy { abs(alpha * $0) > 1e-3 }, "\(preset): entropy terms too small to test \(ell)")
        #expect(q.contains { abs($0) > 0.1 }, "\(preset): Q too small to test \(q)")
        #expect(r["anchor"]!.allSatisfy { $0 > 1e-3 }, "\(preset): anchor terms too small to test \(r["anchor"]!)")
        print("score parity \(preset) H=\(horizon): worst CLI \(worstCLI), API \(worstAPI); value \(r["value"]![0])")
    }

    /// The head pair matters (a wrong index or min/mean mix-up would not show with one head pair).
    @Test func headPairsGiveDifferentValues() throws {
        let m = try Self.model(preset: "tiny", obs: 5, act: 2, seed: 3)
        let obs: [Float] = [0.3, -1, 0.5, 2, -0.2], act: [Float] = [0.5, -0.5, 0.1, 0.9, -0.7, 0.2]
        let a = try TrajectoryScorer.score(model: m, observation: obs, actions: act, heads: (0, 1))
        let b = try TrajectoryScorer.score(model: m, observation: obs, actions: act, heads: (2, 4))
        let c = try TrajectoryScorer.score(model: m, observation: obs, actions: act, heads: (1, 0))
        #expect(a.value != b.value)
        #expect(a == c, "the pair is unordered")
    }

    @Test func badInputIsRefused() throws {
        let m = Fixture.model()
        let obs = [Float](repeating: 0.1, count: 5)
        func message(_ o: [Float], _ a: [Float], _ h: (Int, Int)) -> String {
            do { _ = try TrajectoryScorer.score(model: m, observation: o, actions: a, heads: h); return "" } catch { return error.description }
        }
        #expect(message(obs, [0.1, 0.2, 0.3], (0, 1)).contains("H × act_dim"))
        #expect(message(obs, [], (0, 1)).contains("H × act_dim"))
        #expect(message(obs, [0.1, 2], (0, 1)).contains("[-1, 1]"))
        #expect(message(obs, [0.1, 0.2], (1, 1)).contains("distinct"))
        #expect(message(obs, [0.1, 0.2], (0, 5)).contains("distinct"))
        #expect(message([1, 2], [0.1, 0.2], (0, 1)).contains("obs_dim"))
        #expect(message([.nan, 0, 0, 0, 0], [0.1, 0.2], (0, 1)).contains("non-finite"))
    }
}

/// A trajectory whose value is not finite scores −∞: never an elite while a finite one exists,
/// and weight 0 if the elite set must include it.
struct NonFiniteValueTests {
    func core(samples: Int, elites: Int) -> PlanCore {
        var c = Fixture.config(samples: samples, elites: elites, policy: 0, iterations: 1)
        c.horizon = 2
        let core = PlanCore(model: Fixture.model(), config: c, seed: 5)
        let obs: [Float] = [0.2, -0.4, 0.6, 0.1, -0.9]
        obs.withUnsafeBufferPointer { core.startLatent(observation: $0.baseAddress!) }
        core.initialiseDistribution(episodeStart: true)
        core.iteration = 0
        core.drawHeads()
        core.sampleGaussian(partition: 0)
        // NaN in one trajectory's second action and +∞ in another's first: both values overflow.
        let N = samples, A = 2
        core.actions[(1 * N + 5) * A] = .nan
        core.actions[(0 * N + 9) * A + 1] = .infinity
        core.score(partition: 0)
        return core
    }

    @Test func nonFiniteTrajectoriesAreNeverElites() {
        let c = core(samples: 16, elites: 8)
        #expect(c.values[5] == -.infinity && c.values[9] == -.infinity)
        for r in 0..<16 where r != 5 && r != 9 { #expect(c.values[r].isFinite, "row \(r): \(c.values[r])") }
        c.updateDistribution()
        let elites = (0..<8).map { Int(c.eliteIndex[$0]) }
        #expect(!elites.contains(5) && !elites.contains(9))
        for i in 0..<(2 * 2) { #expect(c.mean[i].isFinite && c.std[i].isFinite) }
    }

    @Test func forcedNonFiniteElitesGetNoWeight() {
        let c = core(samples: 16, elites: 16)
        c.updateDistribution()
        for i in 0..<16 {
            let row = Int(c.eliteIndex[i])
            if row == 5 || row == 9 { #expect(c.eliteWeight[i] == 0) } else { #expect(c.eliteWeight[i] > 0) }
        }
        #expect(Int(c.eliteIndex[14]) == 5 && Int(c.eliteIndex[15]) == 9, "−∞ ranks last, ties by index")
        for i in 0..<(2 * 2) { #expect(c.mean[i].isFinite && c.std[i].isFinite) }
    }
}


/// Elites and policy-prior trajectories follow the sample count at the paper's fractions.
@Test func eliteCountIsAFractionOfTheSamples() throws {
    var c = PlannerConfig()
    for (n, elites, policy) in [(512, 64, 24), (256, 32, 12), (64, 8, 3), (16, 2, 1), (4, 1, 0), (1, 1, 0)] {
        c.setSamples(n)
        #expect(c.samples == n && c.elites == elites && c.policyTrajectories == policy, "N = \(n): \(c.elites), \(c.policyTrajectories)")
        try c.validate()
    }
}
