import Foundation

/// Smooth "tolerance" rewards in the style of dm_control: 1 inside `[lower, upper]`, decaying
/// outside with a chosen sigmoid so that `valueAtMargin` is reached at distance `margin`.
/// Written from the published description of the idea; the shapes are the usual ones.
public enum Sigmoid: Sendable {
    case gaussian, linear, quadratic, reciprocal
}

@inline(__always)
public func tolerance(_ x: Double, lower: Double, upper: Double, margin: Double = 0,
                      sigmoid: Sigmoid = .gaussian, valueAtMargin: Double = 0.1) -> Double {
    if x >= lower && x <= upper { return 1 }
    if margin <= 0 { return 0 }
    let d = (x < lower ? lower - x : x - upper) / margin
    switch sigmoid {
    case .gaussian:
        // exp(-k d^2) with exp(-k) = valueAtMargin.
        let k = -log(valueAtMargin)
        return exp(-k * d * d)
    case .linear:
        let s = 1 - valueAtMargin
        let v = 1 - s * d
        return v > 0 ? v : 0
    case .quadratic:
        let s = sqrt(1 - valueAtMargin)
        let v = 1 - (s * d) * (s * d)
        return v > 0 ? v : 0
    case .reciprocal:
        let s = 1 / valueAtMargin - 1
        return 1 / (1 + s * d)
    }
}
