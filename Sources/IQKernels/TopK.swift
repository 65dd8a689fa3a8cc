/// Top-k selection over a short score vector (the planner's 512 trajectory values), into
/// caller-owned index storage, with a fixed total order so the elite set and its order are
/// reproducible: higher value first, equal values by lower index, NaN below everything.
/// A bounded min-heap: O(n log k) comparisons, no scratch beyond the k output slots.
public enum TopK {
    /// Writes the indices of the `k` best of `values[0..<count]` to `indices`, best first.
    /// Requires 1 <= k <= count.
    public static func select(values: UnsafePointer<Float>, count: Int, k: Int, into indices: UnsafeMutablePointer<Int32>) {
        if k < 1 || k > count { fatalError("TopK: k must be in 1...count") }  // not precondition: -Ounchecked drops it
        // Heap of the k best seen so far; root = worst of them.
        for i in 0..<k {
            indices[i] = Int32(i)
            siftUp(values, indices, i)
        }
        for i in k..<count where better(values, Int32(i), indices[0]) {
            indices[0] = Int32(i)
            siftDown(values, indices, 0, k)
        }
        // Heap sort: repeatedly move the worst to the end → best first.
        var n = k
        while n > 1 {
            n -= 1
            let t = indices[0]; indices[0] = indices[n]; indices[n] = t
            siftDown(values, indices, 0, n)
        }
    }

    /// Strict "a ranks above b".
    static func better(_ v: UnsafePointer<Float>, _ a: Int32, _ b: Int32) -> Bool {
        let x = v[Int(a)], y = v[Int(b)]
        if x.isNaN { return y.isNaN && a < b }
        if y.isNaN { return true }
        return x > y || (x == y && a < b)
    }

    static func siftUp(_ v: UnsafePointer<Float>, _ h: UnsafeMutablePointer<Int32>, _ start: Int) {
        var c = start
        while c > 0 {
            let p = (c - 1) / 2
            guard better(v, h[p], h[c]) else { return }
            let t = h[p]; h[p] = h[c]; h[c] = t
            c = p
        }
    }

    static func siftDown(_ v: UnsafePointer<Float>, _ h: UnsafeMutablePointer<Int32>, _ start: Int, _ n: Int) {
        var p = start
        while true {
            let l = 2 * p + 1
            if l >= n { return }
            var worst = l
            if l + 1 < n && better(v, h[l], h[l + 1]) { worst = l + 1 }
            guard better(v, h[p], h[worst]) else { return }
            let t = h[p]; h[p] = h[worst]; h[worst] = t
            p = worst
        }
    }
}
