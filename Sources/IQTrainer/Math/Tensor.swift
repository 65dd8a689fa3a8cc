/// A fixed-size heap buffer owned by the trainer. Training scratch is sized once for the
/// largest batch and reused by pointer, so an update creates no Swift arrays.
public final class Tensor<T: TrainScalar>: @unchecked Sendable {
    // Safety: a Tensor is only touched by the thread running the trainer that owns it.
    public let count: Int
    public let p: UnsafeMutablePointer<T>

    public init(_ count: Int) {
        self.count = count
        p = .allocate(capacity: max(count, 1))
        p.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(_ values: [T]) {
        self.init(values.count)
        for i in 0..<values.count { p[i] = values[i] }
    }

    deinit { p.deallocate() }

    public func zero() { p.update(repeating: 0, count: count) }
    public func zero(_ n: Int) { p.update(repeating: 0, count: n) }
    public var array: [T] { Array(UnsafeBufferPointer(start: p, count: count)) }
    public subscript(i: Int) -> T {
        get { p[i] }
        set { p[i] = newValue }
    }
}
