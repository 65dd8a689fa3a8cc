import IQModel

/// The bridge to the deployable format: θ's order is exactly IQModel's `TensorLayout` file
/// order (encoder, dynamics, policy, q.0…; per layer weight, bias, ln.weight, ln.bias), so
/// export and import are a walk over the same list. θ is sized by `ParamLayout`
/// of the same config (which refuses the TD-MPC2 reward head the trainer does not train).
public enum WeightsBridge {
    /// Named tensors for `WorldModel(config:tensors:)` from a flat θ.
    public static func tensors<T: TrainScalar>(config: ModelConfig, theta: UnsafePointer<T>) -> [String: [Float]] {
        var out: [String: [Float]] = [:]
        var off = 0
        for s in TensorLayout(config).tensors {
            out[s.name] = (0..<s.count).map { Float(theta[off + $0]) }
            off += s.count
        }
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
    }
}
