import CAllocCounter
import Foundation
import Testing
@testable import IQModel
import IQTestSupport

/// TD-MPC2 models: the `model_kind` header field, the reward head and two-hot Q heads.
@Suite struct TDMPC2ModelTests {
    static func config(obs: Int = 5, act: Int = 2, bins: Int = 101) -> ModelConfig {
        var c = try! ModelConfig.preset("tiny", obsDim: obs, actDim: act)
        c.kind = .tdmpc2; c.numBins = bins
        return c
    }

    /// Random weights with output layers large enough that the two-hot softmax is far from uniform.
    static func model(_ c: ModelConfig = config(), seed: UInt64 = 3) -> WorldModel {
        let m = WorldModel.initialised(config: c, seed: seed, nonzeroQ: true)
        var t = m.tensorValues()
        var r = TestRandom(s: seed)
        for k in t.keys.sorted() where k.hasSuffix(".2.weight") && (k.hasPrefix("q.") || k.hasPrefix("reward.")) {
            t[k] = r.vector(t[k]!.count, scale: 0.5)
        }
        // Plus a ramp over the bins, so the decoded values are O(1–100) like real returns.
        for (n, k) in t.keys.sorted().filter({ $0.hasSuffix(".2.bias") && ($0.hasPrefix("q.") || $0.hasPrefix("reward.")) }).enumerated() {
            let ramp = Float(n % 3 + 1) * (n & 1 == 0 ? 1 : -1) / Float(c.numBins)
            t[k] = r.vector(t[k]!.count, scale: 1).enumerated().map { $1 + 4 * ramp * Float($0) }
        }
        return try! WorldModel(config: c, tensors: t)
    }

    /// An independent double-precision forward pass of one value head (Linear→LN→Mish twice,
    /// Linear), then softmax · bins and symexp, straight from the tensors.
    static func naiveValue(_ m: WorldModel, prefix: String, z: [Float], a: [Float]) -> Double {
        var x = (z + a).map(Double.init)
        for i in 0..<3 {
            let w = Array(m.tensor(named: "\(prefix).\(i).weight")!).map(Double.init)
            let b = Array(m.tensor(named: "\(prefix).\(i).bias")!).map(Double.init)
            let n = b.count, k = x.count
            var y = (0..<n).map { o in b[o] + (0..<k).reduce(0.0) { $0 + w[o * k + $1] * x[$1] } }
            if i < 2 {
                let g = Array(m.tensor(named: "\(prefix).\(i).ln.weight")!), be = Array(m.tensor(named: "\(prefix).\(i).ln.bias")!)
                let mu = y.reduce(0, +) / Double(n)
                let v = y.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(n)
                y = (0..<n).map { o in (y[o] - mu) / (v + 1e-5).squareRoot() * Double(g[o]) + Double(be[o]) }
                y = y.map { $0 * tanh(log1p(exp($0))) }
            }
            x = y
        }
        let c = m.config
        let mx = x.max()!
        let e = x.map { exp($0 - mx) }
        let s = e.reduce(0, +)
        let step = (c.vMax - c.vMin) / Double(c.numBins - 1)
        let two = (0..<c.numBins).reduce(0.0) { $0 + e[$1] / s * (c.vMin + Double($1) * step) }
        return two < 0 ? -(exp(-two) - 1) : exp(two) - 1
    }

    /// Float32 against double precision: the decoded value is symexp of a softmax-weighted mean
    /// of bins spanning ±10, so float32 rounding of the logits (≈1e-6 relative) moves that mean
    /// by up to ~1e-5 whatever the value, and symexp turns it into a relative error of the
    /// value above 1 (absolute below). Hence 1e-4 here; against PyTorch's own float32 forward
    /// (Scripts/convert/test_convert.py) the bound is 1e-5.
    @Test func rewardAndQHeadsDecodeTwoHotLogits() throws {
        for bins in [101, 8, 13] {
            let m = Self.model(Self.config(bins: bins))
            var r = TestRandom(s: 9)
            let obs = r.vector(5), act = r.vector(2, scale: 0.9)
            let e = try m.evaluate(obs: obs, action: act)
            let reward = try #require(e.reward)
            let ref = Self.naiveValue(m, prefix: "reward", z: e.latent, a: act)
            #expect(abs(Double(reward) - ref) <= 1e-4 * max(abs(ref), 1), "bins \(bins): reward \(reward) vs \(ref)")
            for k in 0..<m.config.numQ {
                let qref = Self.naiveValue(m, prefix: "q.\(k)", z: e.latent, a: act)
                #expect(abs(Double(e.q[k]) - qref) <= 1e-4 * max(abs(qref), 1), "bins \(bins) head \(k): \(e.q[k]) vs \(qref)")
            }
            #expect(e.json.contains("\"reward\":"))
            #expect((e.q + [reward]).contains { abs($0) > 1 }, "the ramp gives values beyond ±1")
        }
    }

    @Test func fileRoundTripKeepsKindAndBins() throws {
        let m = Self.model(Self.config(bins: 51))
        let (back, md) = try WorldModel.load(bytes: try m.fileBytes())
        #expect(md["model_kind"] == "tdmpc2")
        #expect(back.config == m.config)
        #expect(back.contentHash == m.contentHash)
        #expect(back.tensorValues() == m.tensorValues())
        #expect(back.layout.tensors.contains { $0.name == "reward.2.weight" && $0.shape == [51, 128] })
        // The kind is part of the content hash: the same config JSON as IQ-MPC would not load anyway.
        let iq = WorldModel.initialised(config: try ModelConfig.preset("tiny", obsDim: 5, actDim: 2), seed: 3)
        #expect(iq.contentHash != m.contentHash)
        #expect(!(try m.evaluate(obs: [0, 0, 0, 0, 0])).json.isEmpty)
        #expect((try iq.evaluate(obs: [0, 0, 0, 0, 0])).reward == nil)
        #expect(!(try iq.evaluate(obs: [0, 0, 0, 0, 0])).json.contains("reward"))
    }

    /// Files written before `model_kind` existed (no such key) load as IQ-MPC; unknown kinds and
    /// kind/config mismatches are refused naming the field.
    @Test func headerKindDefaultsAndRefusals() throws {
        let iq = WorldModel.initialised(config: try ModelConfig.preset("tiny", obsDim: 3, actDim: 1), seed: 1)
        var c = try SafeTensors.decode(try iq.fileBytes())
        c.metadata.removeValue(forKey: "model_kind")
        let old = try WorldModel(contents: c)
        #expect(old.config.kind == .iqmpc)
        #expect(old.contentHash == iq.contentHash)

        func refusal(_ edit: (inout SafeTensors.Contents) -> Void) -> String {
            var d = try! SafeTensors.decode(try! Self.model().fileBytes())
            edit(&d)
            do { _ = try WorldModel(contents: d); return "accepted" } catch { return "\(error)" }
        }
        #expect(refusal { $0.metadata["model_kind"] = "dreamer" }.contains("model_kind \"dreamer\""))
        #expect(refusal { $0.metadata["model_kind"] = "iqmpc" }.contains("num_bins is only valid for model_kind tdmpc2"), "the first offending field, sorted")
        #expect(refusal { $0.tensors.removeValue(forKey: "reward.1.ln.bias") }.contains("reward.1.ln.bias"))
        #expect(refusal { $0.metadata["config"] = $0.metadata["config"]!.replacingOccurrences(of: ",\"num_bins\":101", with: "") }
            .contains("num_bins missing"))
        #expect(refusal { $0.metadata["config"] = $0.metadata["config"]!.replacingOccurrences(of: "\"vmax\":10", with: "\"vmax\":-20") }
            .contains("vmin"))
        #expect(refusal { $0.tensors["q.3.2.bias"]!.values[7] = .nan }.contains("q.3.2.bias"))
        // The Swift writer cannot be asked to forge the kind through extra metadata.
        #expect(throws: WeightsError.self) { try iq.fileBytes(extraMetadata: ["model_kind": "tdmpc2"]) }
    }

    /// Batched reward and Q calls equal their single-row results bit for bit, and allocate nothing.
    @Test func rewardForwardIsAllocationFreeAndRowIndependent() throws {
        let m = Self.model()
        let rows = 37, L = m.config.latentDim, A = m.config.actDim
        var r = TestRandom(s: 5)
        let z = r.vector(rows * L, scale: 0.2), a = r.vector(rows * A, scale: 0.9)
        let ws = ForwardWorkspace(model: m, maxRows: rows)
        var outR = [Float](repeating: 0, count: rows), outQ = outR, one: Float = 0
        m.reward(z: z, actions: a, rows: rows, into: &outR, workspace: ws)
        m.q(head: 2, z: z, actions: a, rows: rows, into: &outQ, workspace: ws)
        var allocations: UInt64 = 0
        z.withUnsafeBufferPointer { zp in
            a.withUnsafeBufferPointer { ap in
                outR.withUnsafeMutableBufferPointer { rp in
                    allocations = (try? heapAllocations {
                        for _ in 0..<50 {
                            m.reward(z: zp.baseAddress!, actions: ap.baseAddress!, rows: rows, into: rp.baseAddress!, workspace: ws)
                            m.q(head: 1, z: zp.baseAddress!, actions: ap.baseAddress!, rows: rows, into: rp.baseAddress!, workspace: ws)
                        }
                    }) ?? .max   // .max: the counter's positive control failed
                }
            }
        }
        #expect(allocations == 0)
        m.reward(z: z, actions: a, rows: rows, into: &outR, workspace: ws)
        for row in [0, 11, 36] {
            m.reward(z: Array(z[(row * L)..<((row + 1) * L)]), actions: Array(a[(row * A)..<((row + 1) * A)]), rows: 1, into: &one, workspace: ws)
            #expect(abs(one - outR[row]) <= 1e-6 * max(abs(one), 1e-3), "row \(row)")
        }
        #expect(Set(outR.map(\.bitPattern)).count > rows / 2, "rewards vary across rows")
    }
}
