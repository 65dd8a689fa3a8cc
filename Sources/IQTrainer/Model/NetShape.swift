import IQKernels
/// The trainer's view of the architecture (docs/algorithm.md §1): sizes plus where each network's
/// parameters live in one flat vector θ = [encoder | dynamics | policy | Q_0 … Q_{K-1}].
/// One flat vector makes Adam, global-norm clipping, Polyak averaging and checkpoints
/// single loops over contiguous memory.
public struct NetShape: Sendable, Equatable, Codable {
    public var obsDim: Int
    public var actDim: Int
    public var latentDim: Int
    public var encoderHidden: [Int]
    public var mlpDim: Int
    public var numQ: Int
    public var simnormGroup: Int
    public var logStdMin: Double
    public var logStdMax: Double

    public init(obsDim: Int, actDim: Int, latentDim: Int, encoderHidden: [Int], mlpDim: Int,
                numQ: Int = 5, simnormGroup: Int = 8, logStdMin: Double = -10, logStdMax: Double = 2) {
        self.obsDim = obsDim; self.actDim = actDim; self.latentDim = latentDim
        self.encoderHidden = encoderHidden; self.mlpDim = mlpDim; self.numQ = numQ
        self.simnormGroup = simnormGroup; self.logStdMin = logStdMin; self.logStdMax = logStdMax
    }

    public var encoder: MLPSpec {
        MLPSpec(input: obsDim, hidden: encoderHidden, output: latentDim, finalAct: .simNorm,
                dropoutFirst: false, simnormGroup: simnormGroup)
    }
    public var dynamics: MLPSpec {
        MLPSpec(input: latentDim + actDim, hidden: [mlpDim, mlpDim], output: latentDim, finalAct: .simNorm,
                dropoutFirst: false, simnormGroup: simnormGroup)
    }
    public var policy: MLPSpec {
        MLPSpec(input: latentDim, hidden: [mlpDim, mlpDim], output: 2 * actDim, finalAct: nil,
                dropoutFirst: false, simnormGroup: simnormGroup)
    }
    public var q: MLPSpec {
        MLPSpec(input: latentDim + actDim, hidden: [mlpDim, mlpDim], output: 1, finalAct: nil,
                dropoutFirst: true, simnormGroup: simnormGroup)
    }
}

/// Offsets of each network inside θ.
public struct ParamLayout: Sendable, Equatable {
    public let shape: NetShape
    public let encoder: MLPSpec, dynamics: MLPSpec, policy: MLPSpec, q: MLPSpec
    public let encoderOffset: Int, dynamicsOffset: Int, policyOffset: Int, qOffset: Int
    public let total: Int

    public init(_ shape: NetShape) {
        self.shape = shape
        encoder = shape.encoder; dynamics = shape.dynamics; policy = shape.policy; q = shape.q
        encoderOffset = 0
        dynamicsOffset = encoder.paramCount
        policyOffset = dynamicsOffset + dynamics.paramCount
        qOffset = policyOffset + policy.paramCount
        total = qOffset + shape.numQ * q.paramCount
    }

    public func qHeadOffset(_ k: Int) -> Int { qOffset + k * q.paramCount }
    public var qCount: Int { shape.numQ * q.paramCount }
    /// The model optimiser's range (encoder, dynamics) ∪ Q; π sits between them.
    public var encoderRange: Range<Int> { encoderOffset..<dynamicsOffset }
    public var dynamicsRange: Range<Int> { dynamicsOffset..<policyOffset }
    public var policyRange: Range<Int> { policyOffset..<qOffset }
    public var qRange: Range<Int> { qOffset..<total }

    /// docs/algorithm.md §1.8: Linear weights N(0, 0.02²) truncated at ±2 (absolute), biases 0, LayerNorm
    /// gain 1 / bias 0, and every Q head's last Linear zeroed so Q ≡ 0 at start.
    public func initialise<T: TrainScalar>(_ theta: UnsafeMutablePointer<T>, rng: inout SeededRandom) {
        func initMLP(_ spec: MLPSpec, at base: Int, zeroLast: Bool) {
            for (i, l) in spec.layers.enumerated() {
                let w = theta + base + spec.offsets[i]
                let nw = l.outDim * l.inDim
                let zero = zeroLast && i == spec.layers.count - 1
                for j in 0..<nw {
                    if zero { w[j] = 0; continue }
                    var v = rng.normal() * 0.02
                    while abs(v) > 2 { v = rng.normal() * 0.02 }
                    w[j] = T(v)
                }
                (w + nw).update(repeating: 0, count: l.outDim)
                if l.normed {
                    (w + nw + l.outDim).update(repeating: 1, count: l.outDim)
                    (w + nw + 2 * l.outDim).update(repeating: 0, count: l.outDim)
                }
            }
        }
        initMLP(encoder, at: encoderOffset, zeroLast: false)
        initMLP(dynamics, at: dynamicsOffset, zeroLast: false)
        initMLP(policy, at: policyOffset, zeroLast: false)
        for k in 0..<shape.numQ { initMLP(q, at: qHeadOffset(k), zeroLast: true) }
    }
}
