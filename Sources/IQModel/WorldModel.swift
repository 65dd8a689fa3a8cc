@_exported import IQWeightsFile
import Crypto
import Foundation
import IQKernels

/// The frozen IQ-MPC world model: encoder h, latent dynamics d, policy prior π and the
/// Q ensemble (docs/algorithm.md §1), with all weights in one aligned block.
///
/// API (shape agreed in CONTRACTS.md):
/// - build: `init(config:tensors:)` (validates names, sizes, finiteness),
///   `load(path:)` / `write(to:extraMetadata:)` (safetensors, see docs/weights-format.md),
///   `initialised(config:seed:nonzeroQ:)` (docs/algorithm.md §1.8);
/// - facts: `config`, `layout`, `parameterCount`, `contentHash`, `tensor(named:)`, `tensorValues()`;
/// - forward passes (WorldModel+Forward.swift): `encode`, `dynamics`, `policy`, `q`, `qPair` on
///   caller-owned row-major buffers with a per-thread `ForwardWorkspace`; no heap allocation,
///   bit-identical for identical inputs.
///
/// `@unchecked Sendable`: weights are written only inside the initialisers and read-only
/// afterwards; all per-call scratch lives in the caller's `ForwardWorkspace`.
public final class WorldModel: @unchecked Sendable {
    public let config: ModelConfig
    public let layout: TensorLayout
    /// Format identifier and version written to `__metadata__`.
    public static let formatName = "iqmpc.weights"
    public static let formatVersion = "1"

    private let block: UnsafeMutablePointer<Float>
    private let blockCount: Int
    /// Offset of each tensor (in floats) inside `block`, 16-float aligned.
    private let offsets: [String: Int]

    /// Cached sizes checked on every forward call (the layout's computed ones allocate).
    let maxWidth: Int

    let encoderLayers: ContiguousArray<NormedLinear>
    let dynamicsLayers: ContiguousArray<NormedLinear>
    let policyLayers: ContiguousArray<NormedLinear>
    let qLayers: ContiguousArray<ContiguousArray<NormedLinear>>
    /// TD-MPC2's reward head (empty for IQ-MPC) and the two-hot decoder of its and Q's logits.
    let rewardLayers: ContiguousArray<NormedLinear>
    let rewardFirst: LatentActionLinear?
    let twoHot: TwoHot?
    /// First layers of the dynamics and of each Q head in split form (latent product plus
    /// action term), over the same weights plus one transposed copy of their action columns.
    let dynamicsFirst: LatentActionLinear
    let qFirst: ContiguousArray<LatentActionLinear>
    /// Whether every dynamics and policy-head product runs on the packed kernels, whose rows'
    /// bits do not depend on their position in the batch. The planner may then evaluate a
    /// sub-range of rows on its own (it caches the policy-prior trajectories' rollout).
    public var rolloutRowsIndependent: Bool {
        dynamicsFirst.packedLatent != nil && dynamicsLayers.dropFirst().allSatisfy { $0.packed != nil }
            && policyLayers.allSatisfy { $0.packed != nil }
    }

    /// Owns the derived weight copies (packed panels, transposed action columns) the layers reference.
    private let derivedBlock: UnsafeMutablePointer<Float>

    /// Builds a model from named tensors (the trainer's export path). Every tensor of the
    /// layout must be present with the right element count and finite values; unknown
    /// names are rejected so a typo cannot silently drop a layer.
    public convenience init(config: ModelConfig, tensors: [String: [Float]], kernels: Kernels = .packed) throws {
        try self.init(config: config, checked: tensors.mapValues { (shape: nil as [Int]?, values: $0) }, kernels: kernels)
    }

    /// Which matrix-product path the layers take. `.packed` (default) is the planner's fast path;
    /// `.blas` keeps every product in OpenBLAS, so a benchmark can compare both in one run.
    public enum Kernels: String, Sendable, CaseIterable { case packed, blas }
    public let kernels: Kernels

    /// The same weights with the other product path (for side-by-side benchmarks).
    public func withKernels(_ k: Kernels) -> WorldModel {
        // The tensors were validated when this model was built, so this cannot fail.
        try! WorldModel(config: config, tensors: tensorValues(), kernels: k)
    }

    init(config: ModelConfig, checked tensors: [String: (shape: [Int]?, values: [Float])], kernels: Kernels = .packed) throws {
        try config.validate()
        let layout = TensorLayout(config)
        let specs = layout.tensors
        let known = Set(specs.map(\.name))
        if let extra = tensors.keys.sorted().first(where: { !known.contains($0) }) {
            throw WeightsError.tensor(name: extra, problem: "not part of the model for this config (extra tensor)")
        }
        for s in specs {
            guard let t = tensors[s.name] else {
                throw WeightsError.tensor(name: s.name, problem: "missing (expected shape \(s.shape))")
            }
            if let shape = t.shape, shape != s.shape {
                throw WeightsError.tensor(name: s.name, problem: "shape \(shape) but the config needs \(s.shape)")
            }
            guard t.values.count == s.count else {
                throw WeightsError.tensor(name: s.name, problem: "\(t.values.count) values but the config needs \(s.count) (shape \(s.shape))")
            }
            if let bad = t.values.firstIndex(where: { !$0.isFinite }) {
                throw WeightsError.tensor(name: s.name, problem: "non-finite value \(t.values[bad]) at flat index \(bad)")
            }
        }
        var offsets: [String: Int] = [:]
        var total = 0
        for s in specs { offsets[s.name] = total; total += (s.count + 15) / 16 * 16 }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(total, 16) * 4, alignment: 64)
        let block = raw.bindMemory(to: Float.self, capacity: max(total, 16))
        block.initialize(repeating: 0, count: max(total, 16))
        for s in specs {
            tensors[s.name]!.values.withUnsafeBufferPointer { src in
                (block + offsets[s.name]!).update(from: src.baseAddress!, count: s.count)
            }
        }
        self.config = config
        self.kernels = kernels
        self.layout = layout
        self.block = block
        self.blockCount = total
        self.offsets = offsets
        self.maxWidth = layout.maxWidth
        // Derived copies built once here: every 16-wide layer's weights in PackedGemm panels,
        // and for each first layer over concat(z, a) its latent columns packed and its action
        // columns transposed to [A, out]. Sized first so one allocation holds them all.
        let L = config.latentDim, A = config.actDim
        func rounded(_ n: Int) -> Int { (n + 15) / 16 * 16 }
        func packable(_ inDim: Int, _ out: Int) -> Bool { kernels == .packed && PackedGemm.canPack(inDim: inDim, outDim: out) }
        let firstSpecs = [layout.dynamics.layers[0]] + layout.q.map { $0.layers[0] } + layout.reward.layers.prefix(1)
        var derivedCount = 0
        for l in layout.layers where packable(l.inDim, l.outDim) { derivedCount += rounded(PackedGemm.packedCount(inDim: l.inDim, outDim: l.outDim)) }
        for l in firstSpecs {
            derivedCount += rounded(A * l.outDim)
            if packable(L, l.outDim) { derivedCount += rounded(PackedGemm.packedCount(inDim: L, outDim: l.outDim)) }
        }
        if config.kind == .tdmpc2 { derivedCount += rounded(config.numBins) }
        derivedCount = max(derivedCount, 16)
        let derived = UnsafeMutableRawPointer.allocate(byteCount: derivedCount * 4, alignment: 64)
            .bindMemory(to: Float.self, capacity: derivedCount)
        derived.initialize(repeating: 0, count: derivedCount)
        var next = derived
        func take(_ n: Int) -> UnsafeMutablePointer<Float> { let p = next; next += rounded(n); return p }

        func build(_ network: NetworkSpec) -> ContiguousArray<NormedLinear> {
            ContiguousArray(network.layers.map { l in
                let weight = UnsafePointer(block + offsets[l.prefix + ".weight"]!)
                var packed: UnsafePointer<Float>? = nil
                if packable(l.inDim, l.outDim) {
                    let dst = take(PackedGemm.packedCount(inDim: l.inDim, outDim: l.outDim))
                    PackedGemm.pack(weight: weight, ldw: l.inDim, inDim: l.inDim, outDim: l.outDim, into: dst)
                    packed = UnsafePointer(dst)
                }
                return NormedLinear(inDim: l.inDim, outDim: l.outDim, weight: weight,
                                    bias: UnsafePointer(block + offsets[l.prefix + ".bias"]!),
                                    lnGain: l.hasNorm ? UnsafePointer(block + offsets[l.prefix + ".ln.weight"]!) : nil,
                                    lnBias: l.hasNorm ? UnsafePointer(block + offsets[l.prefix + ".ln.bias"]!) : nil,
                                    activation: l.activation, packed: packed)
            })
        }
        encoderLayers = build(layout.encoder)
        dynamicsLayers = build(layout.dynamics)
        policyLayers = build(layout.policy)
        qLayers = ContiguousArray(layout.q.map(build))
        rewardLayers = build(layout.reward)
        let firsts = [dynamicsLayers[0]] + qLayers.map { $0[0] } + rewardLayers.prefix(1)
        var split: [LatentActionLinear] = []
        for layer in firsts {
            let n = layer.outDim
            let columns = take(A * n)
            for o in 0..<n { for d in 0..<A { columns[d * n + o] = layer.weight[o * (L + A) + L + d] } }
            var packedLatent: UnsafePointer<Float>? = nil
            if packable(L, n) {
                let dst = take(PackedGemm.packedCount(inDim: L, outDim: n))
                PackedGemm.pack(weight: layer.weight, ldw: L + A, inDim: L, outDim: n, into: dst)
                packedLatent = UnsafePointer(dst)
            }
            split.append(LatentActionLinear(layer: layer, latentDim: L, actDim: A, actionColumns: UnsafePointer(columns),
                                            packedLatent: packedLatent))
        }
        derivedBlock = derived
        dynamicsFirst = split[0]
        qFirst = ContiguousArray(split[1...config.numQ])
        rewardFirst = rewardLayers.isEmpty ? nil : split.last
        twoHot = config.kind == .tdmpc2 ? TwoHot(bins: take(config.numBins), count: config.numBins, vMin: config.vMin, vMax: config.vMax) : nil
        Gemm.useSingleThread()
    }

    deinit { block.deallocate(); derivedBlock.deallocate() }

    /// Learnable parameters, LayerNorm gains and biases included.
    public var parameterCount: Int { layout.parameterCount }

    /// Read-only view of one tensor's values (row-major), or nil if the name is unknown.
    public func tensor(named name: String) -> UnsafeBufferPointer<Float>? {
        guard let o = offsets[name], let s = layout.tensors.first(where: { $0.name == name }) else { return nil }
        return UnsafeBufferPointer(start: block + o, count: s.count)
    }

    /// Copies of all tensors by name (for the trainer and for exporting).
    public func tensorValues() -> [String: [Float]] {
        var d: [String: [Float]] = [:]
        for s in layout.tensors { d[s.name] = Array(tensor(named: s.name)!) }
        return d
    }

    /// SHA-256 (hex) over the format tag, the canonical config JSON and every tensor's
    /// name, shape and little-endian bytes in layout order. Metadata other than the config
    /// is excluded, so re-saving with different extra metadata keeps the hash.
    public var contentHash: String {
        var h = Crypto.SHA256()
        h.update(data: Array("\(WorldModel.formatName)/\(WorldModel.formatVersion)\n".utf8))
        if config.kind != .iqmpc { h.update(data: Array("model_kind=\(config.kind.rawValue)\n".utf8)) }
        h.update(data: Array(config.canonicalJSON.utf8))
        for s in layout.tensors {
            h.update(data: Array("\n\(s.name)\(s.shape)\n".utf8))
            let p = tensor(named: s.name)!
            #if _endian(little)
            h.update(bufferPointer: UnsafeRawBufferPointer(p))
            #else
            for v in p { withUnsafeBytes(of: v.bitPattern.littleEndian) { h.update(bufferPointer: $0) } }
            #endif
        }
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
