/// Why a weights file or a tensor set was rejected. Messages name the offending tensor,
/// field or byte offset so that an exporter can fix its output.
public enum WeightsError: Error, Equatable, CustomStringConvertible {
    case io(String)
    case format(String)
    case config(String)
    case tensor(name: String, problem: String)
    /// A caller-supplied vector (observation, action) that does not fit the model.
    case input(String)

    public var description: String {
        switch self {
        case .io(let m): return "weights I/O: \(m)"
        case .format(let m): return "weights format: \(m)"
        case .config(let m): return "weights config: \(m)"
        case .tensor(let n, let p): return "weights tensor \"\(n)\": \(p)"
        case .input(let m): return "input: \(m)"
        }
    }
}
