import Foundation
import IQKernels
import Testing
@testable import IQModel

@Test func parameterCountMatchesSpecHumanoid() throws {
    // docs/algorithm.md §1.8 sanity numbers for D_o = 67, A = 21 at the paper preset.
    let c = try ModelConfig.preset("paper", obsDim: 67, actDim: 21)
    let l = TensorLayout(c)
    func count(_ n: NetworkSpec) -> Int {
        n.layers.reduce(0) { $0 + $1.inDim * $1.outDim + $1.outDim + ($1.hasNorm ? 2 * $1.outDim : 0) }
    }
    #expect(count(l.encoder) == 150_528)
    #expect(count(l.dynamics) == 801_792)
    #expect(count(l.policy) == 548_906)
    #expect(count(l.q[0]) == 538_625)
    #expect(l.parameterCount == 150_528 + 801_792 + 548_906 + 5 * 538_625)
}

/// docs/algorithm.md §1.1-§1.6 as layer lists: hidden layers LayerNorm + Mish, the encoder's and
/// dynamics' last SimNorm(g), π's and Q's last a bare Linear, dropout on each Q member's first
/// layer only, and parameter offsets that follow file order.
@Test func layerListsFollowTheArchitecture() throws {
    let c = ModelConfig(obsDim: 3, actDim: 5, latentDim: 24, encoderHidden: [40, 17], mlpDim: 33, numQ: 3, simnormGroup: 6)
    let l = TensorLayout(c)
    #expect(l.encoder.layers.map(\.outDim) == [40, 17, 24] && l.encoder.inDim == 3)
    #expect(l.dynamics.inDim == 29 && l.dynamics.outDim == 24 && l.policy.outDim == 10 && l.q.allSatisfy { $0.outDim == 1 })
    for n in [l.encoder, l.dynamics] {
        #expect(n.layers.dropLast().allSatisfy { $0.activation == .mish } && n.layers.last!.activation == .simNorm(group: 6))
    }
    for n in [l.policy] + l.q {
        #expect(n.layers.dropLast().allSatisfy { $0.activation == .mish } && n.layers.last!.activation == LayerActivation.none)
    }
    #expect(l.layers.filter(\.dropout).map(\.prefix) == ["q.0.0", "q.1.0", "q.2.0"])
    #expect(l.reward.layers.isEmpty)
    for n in l.networks {
        #expect(n.offsets == n.layers.indices.map { i in n.layers[..<i].reduce(0) { $0 + $1.tensors.reduce(0) { $0 + $1.count } } })
        #expect(n.tensors.map(\.name).allSatisfy { $0.hasPrefix(n.layers[0].prefix.split(separator: ".").dropLast().joined(separator: ".")) })
    }
    #expect(l.tensors.reduce(0) { $0 + $1.count } == l.parameterCount)
}

@Test func unknownPresetIsAnError() {
    #expect(throws: WeightsError.self) { try ModelConfig.preset("huge", obsDim: 3, actDim: 1) }
}

@Test func initialisationFollowsSpec() throws {
    let c = try ModelConfig.preset("tiny", obsDim: 5, actDim: 2)
    let m = WorldModel.initialised(config: c, seed: 7)
    #expect(m.tensor(named: "q.3.2.weight")!.allSatisfy { $0 == 0 })
    #expect(m.tensor(named: "encoder.0.ln.weight")!.allSatisfy { $0 == 1 })
    #expect(m.tensor(named: "dynamics.1.bias")!.allSatisfy { $0 == 0 })
    let w = m.tensor(named: "policy.1.weight")!
    let mean = w.reduce(0, +) / Float(w.count)
    let std = (w.reduce(0) { $0 + $1 * $1 } / Float(w.count)).squareRoot()
    #expect(abs(mean) < 0.002 && abs(std - 0.02) < 0.001)
    let again = WorldModel.initialised(config: c, seed: 7)
    #expect(again.contentHash == m.contentHash)
    #expect(WorldModel.initialised(config: c, seed: 8).contentHash != m.contentHash)
    let nz = WorldModel.initialised(config: c, seed: 7, nonzeroQ: true)
    #expect(nz.tensor(named: "q.3.2.weight")!.contains { $0 != 0 })
    #expect(Array(nz.tensor(named: "policy.1.weight")!) == Array(w))
}

@Test func writeThenLoadRoundTrips() throws {
    let c = try ModelConfig.preset("tiny", obsDim: 5, actDim: 2)
    let m = WorldModel.initialised(config: c, seed: 1, nonzeroQ: true)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("iqm-\(UUID()).safetensors").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try m.write(to: path, extraMetadata: ["calibration_hash": "abc"])
    let (l, md) = try WorldModel.load(path: path)
    #expect(l.config == c)
    #expect(md["calibration_hash"] == "abc")
    #expect(md["format"] == "iqmpc.weights")
    #expect(l.contentHash == m.contentHash)
    #expect(l.tensorValues() == m.tensorValues())
}

@Test func forwardPassesProduceValidOutputs() throws {
    let c = try ModelConfig.preset("tiny", obsDim: 6, actDim: 3)
    let m = WorldModel.initialised(config: c, seed: 3, nonzeroQ: true)
    let rows = 4
    let ws = ForwardWorkspace(model: m, maxRows: rows)
    let obs = (0..<(rows * 6)).map { Float($0 % 7) * 0.3 - 1 }
    var z = [Float](repeating: 0, count: rows * 64)
    m.encode(obs: obs, rows: rows, into: &z, workspace: ws)
    for g in stride(from: 0, to: z.count, by: 8) {
        let s = z[g..<(g + 8)].reduce(0, +)
        #expect(abs(s - 1) < 1e-5)
        #expect(z[g..<(g + 8)].allSatisfy { $0 >= 0 })
    }
    var mean = [Float](repeating: 0, count: rows * 3), std = mean, act = mean
    var lp = [Float](repeating: 0, count: rows)
    m.policy(z: z, rows: rows, noise: nil, meanOut: &mean, actionOut: &act, logProbOut: &lp, logStdOut: &std, workspace: ws)
    #expect(mean == act)
    #expect(mean.allSatisfy { abs($0) < 1 } && std.allSatisfy { $0 > -10 && $0 < 2 })
    var next = z
    m.dynamics(z: z, actions: mean, rows: rows, into: &next, workspace: ws)
    #expect(next != z)
    var q = [Float](repeating: 0, count: rows)
    m.q(head: 2, z: z, actions: mean, rows: rows, into: &q, workspace: ws)
    #expect(q.allSatisfy { $0.isFinite && $0 != 0 })
    // A single row gives the same numbers as the batch's first row.
    var q1: Float = 0
    m.q(head: 2, z: z, actions: mean, rows: 1, into: &q1, workspace: ws)
    #expect(abs(q1 - q[0]) <= 1e-6 * max(1, abs(q[0])))
}


@Test func contentHashIgnoresExtraMetadataButNotWeights() throws {
    let c = try ModelConfig.preset("tiny", obsDim: 4, actDim: 2)
    let m = WorldModel.initialised(config: c, seed: 1)
    let a = try WorldModel.load(bytes: try m.fileBytes(extraMetadata: ["k": "1"])).0
    let b = try WorldModel.load(bytes: try m.fileBytes(extraMetadata: ["k": "2"])).0
    #expect(a.contentHash == b.contentHash)
    var t = m.tensorValues()
    t["encoder.1.bias"]![0] = 1e-7
    #expect(try WorldModel(config: c, tensors: t).contentHash != m.contentHash)
    #expect(throws: WeightsError.self) { try m.fileBytes(extraMetadata: ["config": "{}"]) }
}
