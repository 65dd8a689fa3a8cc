import CAllocCounter
#if canImport(Glibc)
import Glibc
#endif

/// Heap allocations made by the control step, counted exactly: the control thread and the
/// planner's workers form one allocation group (CAllocCounter), so threads that are not part
/// of the step (a test harness, libzmq's I/O thread, the log drain) never land in the count.
///
/// The loop attributes what the group allocated since the previous call either to the step
/// it just answered (`closeStep`) or to work that is not a step (`skip`: handshakes, the
/// watchdog's log line, a receive timeout). Counting starts with the first answered step;
/// nothing is skipped "to let things settle".
///
/// Not thread-safe: the control thread owns it. `@unchecked Sendable` so a test can read it
/// after the loop stopped.
public final class AllocationWindow: @unchecked Sendable {
    /// The group id; 0 when the process ran out of groups (then nothing is counted).
    public let group: Int32
    public var isCounting: Bool { group > 0 }
    /// Allocations inside answered steps, and outside them (control messages, idle time).
    public private(set) var inSteps: UInt64 = 0
    public private(set) var outsideSteps: UInt64 = 0
    /// Answered steps covered.
    public private(set) var steps: UInt64 = 0
    private var last: UInt64 = 0
    private let allocating = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: 16)
    private var allocatingCount = 0

    public init() {
        group = iq_alloc_group_create()
        last = iq_alloc_group_count(group)
    }

    /// Diagnosis (IQMPC_TRACE_STEP_ALLOCATIONS=1): print the call stack of each allocation
    /// made inside a step.
    public static let traceSteps = getenv("IQMPC_TRACE_STEP_ALLOCATIONS") != nil

    /// Brackets a step for `traceSteps`.
    @inline(__always)
    public func traceStep(_ on: Bool) {
        if Self.traceSteps { iq_alloc_group_trace(on ? group : 0) }
    }

    deinit { allocating.deallocate() }

    /// Makes the calling thread count in this group (until `leave`); returns the group it
    /// counted in before, for `leave`.
    @discardableResult
    public func join() -> Int32 {
        let previous = iq_alloc_group_current()
        iq_alloc_group_join(group)
        return previous
    }

    /// The calling thread counts in `previous` again.
    public func leave(restoring previous: Int32) { iq_alloc_group_join(previous) }

    /// Runs `body` with the calling thread in this group: threads it starts (the planner's
    /// workers) join the group too.
    public func within<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        let previous = join()
        defer { leave(restoring: previous) }
        return try body()
    }

    /// What the group allocated since the last call was not part of a control step.
    @inline(__always)
    public func skip() {
        let now = iq_alloc_group_count(group)
        outsideSteps &+= now &- last
        last = now
    }

    /// What the group allocated since the last call belongs to answered step `index`.
    @inline(__always)
    public func closeStep(_ index: UInt64) {
        let now = iq_alloc_group_count(group)
        steps &+= 1
        if now != last {
            inSteps &+= now &- last
            if allocatingCount < allocating.count {
                allocating[allocatingCount] = index
                allocatingCount += 1
            }
        }
        last = now
    }

    /// The first (up to 16) steps during which the heap was used (diagnosis of a non-zero count).
    public var allocatingSteps: [UInt64] { Array(allocating.prefix(allocatingCount)) }

    public var summary: String {
        guard isCounting else { return "heap allocations in control steps: not counted (no allocation group left)" }
        var s = "heap allocations in control steps: \(inSteps) over \(steps) steps (control thread and planner workers, from the first step)"
        if inSteps > 0 { s += "; first allocating steps: \(allocatingSteps)" }
        return s
    }
}
