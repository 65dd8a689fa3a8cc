import IQKernels

/// Names of the planner's random streams (Philox stream ids).
///
/// stream = planIndex << 16 | iteration << 8 | kind. Inside a stream, the element index is
/// fixed by what the number is for: (t · rows + row) · actDim + d for per-step noise. So every
/// number belongs to one (plan, iteration, purpose, step, sample, dim) — a worker fills
/// exactly the slice for its rows and gets the same values any other split would.
enum StreamKind: UInt64 {
    case policyTrajectory = 1  // a_t ~ π(z_t) for the policy-prior trajectories (iteration 0)
    case actionNoise = 2       // Gaussian trajectory noise, per iteration
    case entropySample = 3     // fresh ã_t ~ π(z_t) whose log-prob is ℓ_t
    case nextSample = 4        // ã' ~ π(z_{t+1}) for V(z_{t+1})
    case terminalAction = 5    // ã_H ~ π(z_H) for the terminal Q
    case terminalEntropy = 6   // the independent terminal sample whose log-prob is ℓ_H
    case headPick = 7          // 2-of-K Q heads, per call
    case eliteChoice = 8       // the final elite draw
    case trainingNoise = 9     // exploration noise std[0] ⊙ ε in training mode
}

@inline(__always)
func streamID(plan: UInt64, iteration: Int, _ kind: StreamKind) -> UInt64 {
    (plan << 16) | (UInt64(iteration) << 8) | kind.rawValue
}

extension Philox {
    /// An integer in 0..<n from one 32-bit word (multiply-shift; n is tiny, bias < 2^-27).
    @inline(__always)
    func index(below n: Int, stream: UInt64, element: UInt64) -> Int {
        Int((UInt64(word(stream: stream, element: element)) &* UInt64(n)) >> 32)
    }
}
