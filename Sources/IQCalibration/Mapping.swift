/// The observation and action mapping: the one definition of the numbers between the wire
/// (physical units) and the model. The trainer and the runtime both call these functions,
/// so a model is deployed with exactly the arithmetic it was trained with.
/// The pointer versions allocate nothing (control step); the array versions are for
/// offline code.
extension Calibration {
    /// `model input[i] = (raw[i] - offset[i]) / scale[i]`.
    @inlinable
    public func normalise(observation raw: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(raw.count >= obsDim && out.count >= obsDim, "normalise: buffers shorter than obs_dim")
        observations.withUnsafeBufferPointer { ch in
            for i in 0..<ch.count { out[i] = (raw[i] - ch[i].offset) / ch[i].scale }
        }
    }

    /// `physical[i] = offset[i] + scale[i] * a[i]` for model actions `a` in [-1, 1]; not clamped
    /// (the safety supervisor clamps to the hard limits and rate-limits afterwards).
    @inlinable
    public func denormalise(action a: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(a.count >= actDim && out.count >= actDim, "denormalise: buffers shorter than act_dim")
        actions.withUnsafeBufferPointer { ch in
            for i in 0..<ch.count { out[i] = ch[i].offset + ch[i].scale * a[i] }
        }
    }

    /// Inverse of `denormalise`, clamped to [-1, 1] (the range a tanh-squashed policy can
    /// express): turns recorded physical commands into model actions for training.
    @inlinable
    public func normalise(action physical: UnsafeBufferPointer<Float>, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(physical.count >= actDim && out.count >= actDim, "normalise(action:): buffers shorter than act_dim")
        actions.withUnsafeBufferPointer { ch in
            for i in 0..<ch.count { out[i] = min(1, max(-1, (physical[i] - ch[i].offset) / ch[i].scale)) }
        }
    }

    public func normalise(observation raw: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: obsDim)
        raw.withUnsafeBufferPointer { r in out.withUnsafeMutableBufferPointer { normalise(observation: r, into: $0) } }
        return out
    }

    public func denormalise(action a: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: actDim)
        a.withUnsafeBufferPointer { r in out.withUnsafeMutableBufferPointer { denormalise(action: r, into: $0) } }
        return out
    }

    public func normalise(action physical: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: actDim)
        physical.withUnsafeBufferPointer { r in out.withUnsafeMutableBufferPointer { normalise(action: r, into: $0) } }
        return out
    }
}
