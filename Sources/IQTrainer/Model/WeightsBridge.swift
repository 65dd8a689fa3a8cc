import IQModel

/// The bridge to the deployable format: θ's order is exactly IQModel's `TensorLayout` file
/// order (encoder, dynamics, policy, q.0…; per layer weight, bias, ln.weight, ln.bias), so
/// export and import are a walk over the same list, and any disagreement in sizes is caught.
extension NetShape {
    public init(_ c: ModelConfig) {
        self.init(obsDim: c.obsDim, actDim: c.actDim, latentDim: c.latentDim, encoderHidden: c.encoderHidden,
                  mlpDim: c.mlpDim, numQ: c.numQ, simnormGroup: c.simnormGroup, logStdMin: c.logStdMin,
                  logStdMax: c.logStdMax)
    }
}

public enum WeightsBridge {
    /// Named tensors for `WorldModel(config:tensors:)` from a flat θ.
    public static func tensors<T: TrainScalar>(config: ModelConfig, theta: UnsafePointer<T>) -> [String: [Float]] {
        let specs = TensorLayout(config).tensors
        var out: [String: [Float]] = [:]
        var off = 0
        for s in specs {
            out[s.name] = (0..<s.count).map { Float(theta[off + $0]) }
            off += s.count
        }
        precondition(off == ParamLayout(NetShape(config)).total, "trainer and file layouts disagree")
        return out
    }

    public static func model<T: TrainScalar>(config: ModelConfig, theta: UnsafePointer<T>) throws -> WorldModel {
        try WorldModel(config: config, tensors: tensors(config: config, theta: theta))
    }

    /// θ from a model (initialisation from `WorldModel.initialised`, or warm start from a file).
    public static func load<T: TrainScalar>(_ model: WorldModel, into theta: UnsafeMutablePointer<T>) {
        var off = 0
        for s in model.layout.tensors {
            let t = model.tensor(named: s.name)!
            for i in 0..<s.count { theta[off + i] = T(t[i]) }
            off += s.count
        }
        precondition(off == ParamLayout(NetShape(model.config)).total, "trainer and file layouts disagree")
    }
}
