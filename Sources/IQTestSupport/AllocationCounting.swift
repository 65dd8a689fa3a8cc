import CAllocCounter

/// A fresh allocation group the calling thread counts in until `leave()`. Threads it starts
/// that join the creator's group (the planner's workers) count too, so a window over `count`
/// is exact: threads that other tests leave behind, libzmq's I/O threads or the test
/// framework's own workers can never land in it, and no "fewest of N windows" is needed.
public struct CountingGroup: Sendable {
    public let id: Int32
    private let previous: Int32

    public init() {
        id = iq_alloc_group_create()
        previous = iq_alloc_group_current()
        iq_alloc_group_join(id)
    }

    /// Allocations made in the group so far.
    public var count: UInt64 { iq_alloc_group_count(id) }

    /// The calling thread counts in the group it counted in before `init` again.
    public func leave() { iq_alloc_group_join(previous) }
}

/// The counter did not see the positive control's allocation: a zero would prove nothing.
public struct AllocationCounterBlind: Error, CustomStringConvertible {
    public var description: String {
        "positive control failed: the allocation group did not see a real malloc (groups exhausted, or the counter is not linked)"
    }
}

/// Heap allocations made by `body`, counted in one window over a fresh allocation group (the
/// calling thread and the threads it starts that join it). Before the window a real malloc is
/// made in the group and must be seen (the positive control), so a test asserting 0 can fail.
public func heapAllocations(_ body: () throws -> Void) throws -> UInt64 {
    try heapAllocations(setUp: {}, body)
}

/// As `heapAllocations(_:)`, with a subject made by `setUp` inside the group but before the
/// window: threads it starts (a planner's workers) join the group, and what building it
/// allocates is not counted.
public func heapAllocations<Subject>(setUp: () throws -> Subject, _ body: (Subject) throws -> Void) throws -> UInt64 {
    let group = CountingGroup()
    defer { group.leave() }
    let subject = try setUp()
    let probe = group.count
    iq_alloc_probe()
    guard group.id > 0, group.count > probe else { throw AllocationCounterBlind() }
    let before = group.count
    try body(subject)
    return group.count - before
}
