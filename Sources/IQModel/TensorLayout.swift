import IQKernels

/// One layer's place in the file: tensor name prefix, widths and activation.
public struct LayerSpec: Sendable, Equatable {
    public let prefix: String      // e.g. "q.3.1"
    public let inDim: Int
    public let outDim: Int
    public let activation: LayerActivation
    public var hasNorm: Bool { activation != .none }
}

/// One tensor the file must contain.
public struct TensorSpec: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    public var count: Int { shape.reduce(1, *) }
}

/// The fixed architecture of docs/algorithm.md §1, expressed as layer lists. This is the single
/// place that decides tensor names and shapes; loader, writer, initialiser and forward
/// passes all read it.
public struct TensorLayout: Sendable {
    public let encoder: [LayerSpec]
    public let dynamics: [LayerSpec]
    public let policy: [LayerSpec]
    public let q: [[LayerSpec]]
    /// TD-MPC2's reward head R(z, a) → `num_bins` logits; empty for IQ-MPC.
    public let reward: [LayerSpec]

    public init(_ c: ModelConfig) {
        func mlp(_ name: String, _ dims: [Int], last: LayerActivation) -> [LayerSpec] {
            (0..<(dims.count - 1)).map { i in
                LayerSpec(prefix: "\(name).\(i)", inDim: dims[i], outDim: dims[i + 1],
                          activation: i == dims.count - 2 ? last : .mish)
            }
        }
        let za = c.latentDim + c.actDim
        let sim = LayerActivation.simNorm(group: c.simnormGroup)
        encoder = mlp("encoder", [c.obsDim] + c.encoderHidden + [c.latentDim], last: sim)
        dynamics = mlp("dynamics", [za, c.mlpDim, c.mlpDim, c.latentDim], last: sim)
        policy = mlp("policy", [c.latentDim, c.mlpDim, c.mlpDim, 2 * c.actDim], last: .none)
        q = (0..<c.numQ).map { k in mlp("q.\(k)", [za, c.mlpDim, c.mlpDim, c.valueOutputs], last: .none) }
        reward = c.kind == .tdmpc2 ? mlp("reward", [za, c.mlpDim, c.mlpDim, c.numBins], last: .none) : []
    }

    /// Every layer, in file order (encoder, dynamics, policy, q.0 … q.K-1, then reward for TD-MPC2).
    public var layers: [LayerSpec] { encoder + dynamics + policy + q.flatMap { $0 } + reward }

    /// Every tensor, in file order.
    public var tensors: [TensorSpec] {
        layers.flatMap { l -> [TensorSpec] in
            var t = [TensorSpec(name: l.prefix + ".weight", shape: [l.outDim, l.inDim]),
                     TensorSpec(name: l.prefix + ".bias", shape: [l.outDim])]
            if l.hasNorm {
                t.append(TensorSpec(name: l.prefix + ".ln.weight", shape: [l.outDim]))
                t.append(TensorSpec(name: l.prefix + ".ln.bias", shape: [l.outDim]))
            }
            return t
        }
    }

    /// Learnable parameters (LayerNorm gains and biases included, as in docs/algorithm.md §1.8's count).
    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.count } }

    /// Widest activation any layer produces or consumes (sizes workspace buffers).
    public var maxWidth: Int { layers.reduce(0) { max($0, $1.inDim, $1.outDim) } }
}
