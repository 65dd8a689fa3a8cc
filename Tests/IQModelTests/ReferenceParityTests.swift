import IQTestSupport
import Foundation
import Testing
@testable import IQModel

/// Parity with Scripts/reference/forward.py, an independent float64 numpy implementation
/// written from docs/algorithm.md §1. Both read the same safetensors file.
///
/// Tolerance: normwise relative error per output vector and row,
/// maxᵢ|swiftᵢ − refᵢ| ≤ 1e-5 · maxᵢ|refᵢ|. (Elementwise relative error is not meaningful for
/// entries that are near zero by cancellation in a float32 dot product: their absolute error
/// is set by the summands' magnitude, not by the result's.)
struct ReferenceParityTests {
    static let python = "/usr/bin/python3"

    static func compare(_ swift: [Float], _ ref: [Double], _ what: String) -> Double {
        #expect(swift.count == ref.count, "\(what): length")
        let scale = ref.reduce(0) { max($0, abs($1)) }
        var worst = 0.0
        for (s, r) in zip(swift, ref) {
            let denom = max(scale, 1e-30)
            worst = max(worst, abs(Double(s) - r) / denom)
        }
        #expect(worst <= 1e-5, "\(what): worst relative error \(worst)")
        return worst
    }

    /// "odd": widths that are not multiples of 8, SimNorm groups of 4, two encoder hidden
    /// layers, three Q heads and other constants, so vector tails and generic paths are covered.
    static let odd = ModelConfig(obsDim: 5, actDim: 3, latentDim: 20, encoderHidden: [37, 12], mlpDim: 29,
                                 numQ: 3, simnormGroup: 4, logStdMin: -5, logStdMax: 1.5, discount: 0.95, entropyCoef: 3e-4)

    @Test(arguments: [("tiny", 8, 3, 17), ("small", 24, 6, 9), ("paper", 67, 21, 3), ("odd", 5, 3, 11)])
    func batchedForwardMatchesNumpy(preset: String, obsDim: Int, actDim: Int, rows: Int) throws {
        let c = preset == "odd" ? Self.odd : try ModelConfig.preset(preset, obsDim: obsDim, actDim: actDim)
        let m = WorldModel.initialised(config: c, seed: 11, nonzeroQ: true)
        // Perturb LayerNorm affine and biases too, so every tensor influences the outputs.
        var t = m.tensorValues()
        var rnd = TestRandom(s: 5)
        for k in t.keys.sorted() where !k.hasSuffix(".weight") || k.hasSuffix(".ln.weight") {
            t[k] = t[k]!.map { $0 + rnd.next() * 0.2 }
        }
        let model = try WorldModel(config: c, tensors: t)
        let path = temporaryPath(".safetensors"), input = temporaryPath(".json")
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: input) }
        try model.write(to: path)

        let obs = rnd.vector(rows * obsDim, scale: 2)
        let actions = rnd.vector(rows * actDim)
        let noise = rnd.normals(rows * actDim)
        func rowsJSON(_ v: [Float], _ w: Int) -> String {
            "[" + (0..<rows).map { r in "[" + v[(r * w)..<((r + 1) * w)].map { "\($0)" }.joined(separator: ",") + "]" }.joined(separator: ",") + "]"
        }
        try "{\"obs\":\(rowsJSON(obs, obsDim)),\"actions\":\(rowsJSON(actions, actDim)),\"noise\":\(rowsJSON(noise, actDim))}"
            .write(toFile: input, atomically: true, encoding: .utf8)
        let out = try runProcess(Self.python, [repositoryRoot + "/Scripts/reference/forward.py", "--weights", path, "--batch", input])
        let ref = (try JSONSerialization.jsonObject(with: out) as! [String: Any])["rows"] as! [[String: Any]]

        let L = c.latentDim, A = actDim
        let ws = ForwardWorkspace(model: model, maxRows: rows)
        var z = [Float](repeating: 0, count: rows * L), next = z
        var mean = [Float](repeating: 0, count: rows * A), act = mean, logStd = mean
        var logProb = [Float](repeating: 0, count: rows)
        model.encode(obs: obs, rows: rows, into: &z, workspace: ws)
        model.policy(z: z, rows: rows, noise: noise, meanOut: &mean, actionOut: &act,
                     logProbOut: &logProb, logStdOut: &logStd, workspace: ws)
        model.dynamics(z: z, actions: actions, rows: rows, into: &next, workspace: ws)
        var q = [[Float]](repeating: [Float](repeating: 0, count: rows), count: c.numQ)
        for k in 0..<c.numQ { model.q(head: k, z: z, actions: actions, rows: rows, into: &q[k], workspace: ws) }

        var worst = 0.0
        for r in 0..<rows {
            let row = ref[r]
            func d(_ key: String) -> [Double] { (row[key] as! [Any]).map { ($0 as! NSNumber).doubleValue } }
            func s(_ v: [Float], _ w: Int) -> [Float] { Array(v[(r * w)..<((r + 1) * w)]) }
            worst = max(worst, Self.compare(s(z, L), d("latent"), "\(preset) latent row \(r)"))
            worst = max(worst, Self.compare(s(mean, A), d("policy_mean"), "\(preset) policy_mean row \(r)"))
            worst = max(worst, Self.compare(s(logStd, A), d("policy_log_std"), "\(preset) log_std row \(r)"))
            worst = max(worst, Self.compare(s(act, A), d("policy_action"), "\(preset) action row \(r)"))
            worst = max(worst, Self.compare([logProb[r]], [(row["log_prob"] as! NSNumber).doubleValue], "\(preset) log_prob row \(r)"))
            worst = max(worst, Self.compare(s(next, L), d("next_latent"), "\(preset) next_latent row \(r)"))
            worst = max(worst, Self.compare((0..<c.numQ).map { q[$0][r] }, d("q"), "\(preset) q row \(r)"))
        }
        print("parity \(preset): worst relative error \(worst) over \(rows) rows")
    }
}

/// A file written by a third party (numpy, shuffled tensor order, unpadded header, config
/// JSON with floats like `-10.0`) loads, and evaluates like the reference.
@Test func numpyWrittenFileLoadsAndMatchesReference() throws {
    let path = temporaryPath(".safetensors")
    defer { try? FileManager.default.removeItem(atPath: path) }
    _ = try runProcess(ReferenceParityTests.python, [repositoryRoot + "/Scripts/reference/write_random.py",
                                                     "--out", path, "--obs-dim", "7", "--act-dim", "3", "--seed", "4"])
    let (m, md) = try WorldModel.load(path: path)
    #expect(md["exporter"] == "numpy write_random.py")
    #expect(m.config.logStdMin == -10 && m.config.obsDim == 7)
    let obs: [Float] = [0.3, -1.2, 0.8, 2.0, -0.4, 0.1, 1.5]
    let ev = try m.evaluate(obs: obs)
    let out = try runProcess(ReferenceParityTests.python, [repositoryRoot + "/Scripts/reference/forward.py", "--weights", path,
                                                           "--obs=" + obs.map { "\($0)" }.joined(separator: ",")])
    let ref = try JSONSerialization.jsonObject(with: out) as! [String: Any]
    func d(_ k: String) -> [Double] { (ref[k] as! [Any]).map { ($0 as! NSNumber).doubleValue } }
    _ = ReferenceParityTests.compare(ev.latent, d("latent"), "latent")
    _ = ReferenceParityTests.compare(ev.policyMean, d("policy_mean"), "policy_mean")
    _ = ReferenceParityTests.compare(ev.policyLogStd, d("policy_log_std"), "policy_log_std")
    _ = ReferenceParityTests.compare(ev.q, d("q"), "q")
}
