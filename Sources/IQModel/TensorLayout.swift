import IQKernels

/// One layer of docs/algorithm.md §1.1: Linear(in → out), then, unless `activation` is `.none`,
/// LayerNorm and the activation. `dropout`: training multiplies this layer's Linear output by
/// a dropout mask (a Q member's first layer); inference ignores it.
public struct LayerSpec: Sendable, Equatable {
    /// Tensor name prefix in the weights file, e.g. "q.3.1".
    public let prefix: String
    public let inDim: Int
    public let outDim: Int
    public let activation: LayerActivation
    public let dropout: Bool
    public var hasNorm: Bool { activation != .none }

    /// The layer's tensors in file order, which is also the order of its parameters in the
    /// trainer's flat vector: weight [out, in], bias [out], then LayerNorm gain and bias.
    public var tensors: [TensorSpec] {
        var t = [TensorSpec(name: prefix + ".weight", shape: [outDim, inDim]),
                 TensorSpec(name: prefix + ".bias", shape: [outDim])]
        if hasNorm {
            t.append(TensorSpec(name: prefix + ".ln.weight", shape: [outDim]))
            t.append(TensorSpec(name: prefix + ".ln.bias", shape: [outDim]))
        }
        return t
    }

    public var paramCount: Int { outDim * inDim + outDim + (hasNorm ? 2 * outDim : 0) }
}

/// One tensor the file must contain.
public struct TensorSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public var count: Int { shape.reduce(1, *) }
}

/// One network as an ordered list of layers, with where each layer's parameters start in the
/// network's contiguous block (file order).
public struct NetworkSpec: Sendable, Equatable {
    public let layers: [LayerSpec]
    /// Parameter offset of each layer from the network's first parameter.
    public let offsets: [Int]
    public let paramCount: Int

    public init(_ layers: [LayerSpec]) {
        self.layers = layers
        var o: [Int] = [], total = 0
        for l in layers { o.append(total); total += l.paramCount }
        offsets = o
        paramCount = total
    }

    /// docs/algorithm.md §1.1 `mlp`: layers between consecutive `widths`, named
    /// "`name`.0", "`name`.1", …; every hidden layer is LayerNorm + Mish, the last one `last`;
    /// `dropoutFirst` marks the first layer for dropout.
    public init(_ name: String, widths: [Int], last: LayerActivation, dropoutFirst: Bool = false) {
        self.init((0..<(widths.count - 1)).map { i in
            LayerSpec(prefix: "\(name).\(i)", inDim: widths[i], outDim: widths[i + 1],
                      activation: i == widths.count - 2 ? last : .mish, dropout: dropoutFirst && i == 0)
        })
    }

    public var inDim: Int { layers[0].inDim }
    public var outDim: Int { layers[layers.count - 1].outDim }
    public var maxWidth: Int { layers.reduce(0) { max($0, $1.inDim, $1.outDim) } }
    public var tensors: [TensorSpec] { layers.flatMap(\.tensors) }
}

/// The fixed architecture of docs/algorithm.md §1 as layer lists: the one definition of the
/// networks. The runtime's layers (`WorldModel`), the weights file's tensor names and shapes
/// (loader, writer, initialiser) and the trainer's flat parameter vector all read it.
public struct TensorLayout: Sendable {
    public let encoder: NetworkSpec
    public let dynamics: NetworkSpec
    public let policy: NetworkSpec
    public let q: [NetworkSpec]
    /// TD-MPC2's reward head R(z, a) → `num_bins` logits; no layers for IQ-MPC.
    public let reward: NetworkSpec

    public init(_ c: ModelConfig) {
        let za = c.latentDim + c.actDim
        let sim = LayerActivation.simNorm(group: c.simnormGroup)
        encoder = NetworkSpec("encoder", widths: [c.obsDim] + c.encoderHidden + [c.latentDim], last: sim)
        dynamics = NetworkSpec("dynamics", widths: [za, c.mlpDim, c.mlpDim, c.latentDim], last: sim)
        policy = NetworkSpec("policy", widths: [c.latentDim, c.mlpDim, c.mlpDim, 2 * c.actDim], last: .none)
        q = (0..<c.numQ).map { k in
            NetworkSpec("q.\(k)", widths: [za, c.mlpDim, c.mlpDim, c.valueOutputs], last: .none, dropoutFirst: true)
        }
        reward = c.kind == .tdmpc2 ? NetworkSpec("reward", widths: [za, c.mlpDim, c.mlpDim, c.numBins], last: .none) : NetworkSpec([])
    }

    /// Every network, in file order (encoder, dynamics, policy, q.0 … q.K-1, then reward for TD-MPC2).
    public var networks: [NetworkSpec] { [encoder, dynamics, policy] + q + (reward.layers.isEmpty ? [] : [reward]) }

    /// Every layer, in file order.
    public var layers: [LayerSpec] { networks.flatMap(\.layers) }

    /// Every tensor, in file order.
    public var tensors: [TensorSpec] { layers.flatMap(\.tensors) }

    /// Learnable parameters (LayerNorm gains and biases included, as in docs/algorithm.md §1.8's count).
    public var parameterCount: Int { networks.reduce(0) { $0 + $1.paramCount } }

    /// Widest activation any layer produces or consumes (sizes workspace buffers).
    public var maxWidth: Int { layers.reduce(0) { max($0, $1.inDim, $1.outDim) } }
}

extension TensorLayout {
    /// docs/algorithm.md §1.8, the one definition of the initial parameters: hands `set` every
    /// parameter's index (file order) and value. Linear weights trunc-normal(0, 0.02, ±2) drawn
    /// from `rng`, biases 0, LayerNorm gains 1 and biases 0, and each value head's (every Q
    /// member's, and TD-MPC2's reward head's) last weight 0, so Q ≡ 0 at start; `keepValueHeads`
    /// keeps those drawn instead (tests that need non-zero Q). `drawZeroed`: zeroed weights still
    /// take their draws, so no other value depends on `keepValueHeads` (`WorldModel.initialised`);
    /// without it they take none (the trainer's `TrainState(layout:seed:)`, whose sequence the
    /// update benchmark's checksums pin).
    public func initialise(rng: inout SeededRandom, keepValueHeads: Bool = false, drawZeroed: Bool,
                           _ set: (_ index: Int, _ value: Double) -> Void) {
        let valueLast = Set((q + [reward]).compactMap { $0.layers.last?.prefix })
        var i = 0
        func fill(_ n: Int, _ value: () -> Double) { for _ in 0..<n { set(i, value()); i += 1 } }
        for l in layers {
            let zero = !keepValueHeads && valueLast.contains(l.prefix)
            if zero && !drawZeroed {
                fill(l.outDim * l.inDim) { 0 }
            } else {
                fill(l.outDim * l.inDim) { let v = rng.truncatedNormal(std: 0.02); return zero ? 0 : v }
            }
            fill(l.outDim) { 0 }
            if l.hasNorm { fill(l.outDim) { 1 }; fill(l.outDim) { 0 } }
        }
    }
}
