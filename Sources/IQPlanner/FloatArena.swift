/// One aligned allocation carved into the planner's fixed buffers.
///
/// Why: every buffer size follows from (model config, planner config) at init, so the plan
/// itself never allocates; a single block with 64-byte-aligned slices also keeps GEMM inputs
/// aligned and makes "what does the planner hold" one number.
final class FloatArena: @unchecked Sendable {
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    private var used = 0

    /// `floats` and `ints` are upper bounds on what will be carved (the caller sums them).
    init(floats: Int, ints: Int, slices: Int) {
        capacity = (floats + ints) * 4 + slices * 64 + 64
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: capacity)
    }

    deinit { base.deallocate() }

    private func carve(bytes: Int) -> UnsafeMutableRawPointer {
        let start = (used + 63) & ~63
        if start + bytes > capacity { fatalError("FloatArena: sized too small (planner bug)") }
        used = start + bytes
        return base + start
    }

    func floats(_ n: Int) -> UnsafeMutablePointer<Float> {
        carve(bytes: max(n, 1) * 4).bindMemory(to: Float.self, capacity: max(n, 1))
    }

    func ints(_ n: Int) -> UnsafeMutablePointer<Int32> {
        carve(bytes: max(n, 1) * 4).bindMemory(to: Int32.self, capacity: max(n, 1))
    }

    var bytesUsed: Int { used }
}
