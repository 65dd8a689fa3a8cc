import IQKernels
import IQModel

/// Where each network's parameters live in the trainer's flat vector
/// θ = [encoder | dynamics | policy | Q_0 … Q_{K-1}]. The networks are IQModel's
/// `TensorLayout` (docs/algorithm.md §1), and θ's order is the weights file's tensor order,
/// so export and import are a walk over the same list. One flat vector makes Adam,
/// global-norm clipping, Polyak averaging and checkpoints single loops over contiguous memory.
public struct ParamLayout: Sendable, Equatable {
    /// The model's configuration (sizes and the policy's log-std range).
    public let shape: ModelConfig
    /// The networks; `q` is every member's (the members differ only in their tensor names).
    public let encoder: NetworkSpec, dynamics: NetworkSpec, policy: NetworkSpec, q: NetworkSpec
    public let encoderOffset: Int, dynamicsOffset: Int, policyOffset: Int, qOffset: Int
    public let total: Int

    public init(_ config: ModelConfig) {
        // Not `precondition`: this module builds with -Ounchecked, which removes those.
        if config.kind != .iqmpc { fatalError("the trainer trains IQ-MPC models, not \(config.kind.rawValue)") }
        let t = TensorLayout(config)
        shape = config
        encoder = t.encoder; dynamics = t.dynamics; policy = t.policy; q = t.q[0]
        encoderOffset = 0
        dynamicsOffset = encoder.paramCount
        policyOffset = dynamicsOffset + dynamics.paramCount
        qOffset = policyOffset + policy.paramCount
        total = qOffset + config.numQ * q.paramCount
    }

    public func qHeadOffset(_ k: Int) -> Int { qOffset + k * q.paramCount }
    public var qCount: Int { shape.numQ * q.paramCount }
    /// The model optimiser's range (encoder, dynamics) ∪ Q; π sits between them.
    public var encoderRange: Range<Int> { encoderOffset..<dynamicsOffset }
    public var dynamicsRange: Range<Int> { dynamicsOffset..<policyOffset }
    public var policyRange: Range<Int> { policyOffset..<qOffset }
    public var qRange: Range<Int> { qOffset..<total }

    /// docs/algorithm.md §1.8 (`TensorLayout.initialise`; zeroed weights take no draws).
    public func initialise<T: TrainScalar>(_ theta: UnsafeMutablePointer<T>, rng: inout SeededRandom) {
        TensorLayout(shape).initialise(rng: &rng, drawZeroed: false) { theta[$0] = T($1) }
    }
}
