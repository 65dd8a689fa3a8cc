/// Durations in nanoseconds, kept as a log-linear histogram (64 sub-buckets per power of
/// two: percentiles within 1.6 %) so that a run of any length costs a fixed 30 KiB and
/// recording a sample is a few integer operations and no allocation. Min, max, count and
/// sum are exact.
/// `@unchecked Sendable`: written by one thread; read after it has stopped.
public final class LatencyHistogram: @unchecked Sendable {
    static let subBits = 6
    static let subBuckets = 1 << subBits
    /// Covers up to 2^58 ns (9 years).
    static let bucketCount = (58 - subBits + 1) * subBuckets

    private let buckets: UnsafeMutablePointer<UInt64>
    public private(set) var count: UInt64 = 0
    public private(set) var sum: UInt64 = 0
    public private(set) var min: UInt64 = .max
    public private(set) var max: UInt64 = 0

    public init() {
        buckets = .allocate(capacity: Self.bucketCount)
        buckets.initialize(repeating: 0, count: Self.bucketCount)
    }

    deinit { buckets.deallocate() }

    public func reset() {
        buckets.update(repeating: 0, count: Self.bucketCount)
        count = 0; sum = 0; min = .max; max = 0
    }

    @inline(__always)
    static func index(_ ns: UInt64) -> Int {
        if ns < UInt64(subBuckets) { return Int(ns) }
        let msb = 63 - ns.leadingZeroBitCount                   // >= subBits
        let shift = msb - subBits
        let sub = Int(ns >> UInt64(shift)) & (subBuckets - 1)  // mantissa below the leading 1
        return Swift.min((shift + 1) * subBuckets + sub, bucketCount - 1)
    }

    /// Smallest value that falls into bucket `i` (and the next bucket's start is its end).
    static func lowerBound(_ i: Int) -> UInt64 {
        if i < subBuckets { return UInt64(i) }
        let shift = i / subBuckets - 1
        let sub = UInt64(i % subBuckets)
        return (UInt64(subBuckets) | sub) << UInt64(shift)
    }

    @inline(__always)
    public func record(_ ns: UInt64) {
        buckets[Self.index(ns)] &+= 1
        count &+= 1
        sum &+= ns
        if ns < min { min = ns }
        if ns > max { max = ns }
    }

    /// Value at quantile `q` in [0, 1]: the midpoint of the bucket holding it, clamped to the
    /// exact min and max.
    public func quantile(_ q: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = Swift.max(1, UInt64((q * Double(count)).rounded(.up)))
        var seen: UInt64 = 0
        for i in 0..<Self.bucketCount {
            seen += buckets[i]
            if seen >= rank {
                let lo = Self.lowerBound(i)
                let hi = i + 1 < Self.bucketCount ? Self.lowerBound(i + 1) : lo
                let mid = lo + (hi - lo) / 2
                return Swift.min(Swift.max(mid, min), max)
            }
        }
        return max
    }

    public var mean: Double { count == 0 ? 0 : Double(sum) / Double(count) }

    /// "min 1.2 / p50 3.4 / p99 … / max … µs".
    public func summary(unitDivisor: Double = 1e3, unit: String = "us") -> String {
        guard count > 0 else { return "no samples" }
        func f(_ ns: UInt64) -> String { format(Double(ns) / unitDivisor) }
        return "min \(f(min))  p50 \(f(quantile(0.5)))  p99 \(f(quantile(0.99)))  p99.9 \(f(quantile(0.999)))  max \(f(max)) \(unit)  (n=\(count))"
    }
}

/// Fixed-precision number text without Foundation's String(format:).
package func format(_ x: Double, decimals: Int = 1) -> String {
    if !x.isFinite { return "\(x)" }
    var p = 1.0
    for _ in 0..<decimals { p *= 10 }
    let r = (abs(x) * p).rounded()
    let whole = UInt64(r / p)
    var frac = String(UInt64(r) - whole * UInt64(p))
    while frac.count < decimals { frac = "0" + frac }
    return (x < 0 && r != 0 ? "-" : "") + "\(whole)" + (decimals > 0 ? "." + frac : "")
}
