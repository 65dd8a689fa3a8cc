import CAllocCounter
import Foundation
import Testing

/// Positive control for the process-wide allocation counter that every
/// "allocates nothing" test relies on.
@Test func allocationCounterSeesCAndSwiftAllocations() {
    var before = iq_alloc_count()
    iq_alloc_probe()
    #expect(iq_alloc_count() - before >= 1)

    before = iq_alloc_count()
    let array = [Int](repeating: 7, count: Int.random(in: 100...200))
    #expect(iq_alloc_count() - before >= 1)
    #expect(array.count >= 100)
}

/// What the allocation tests rely on: a group counts exactly its members' allocations. A
/// thread outside it (like a test framework's worker or libzmq's I/O thread) allocating at the
/// same time never lands in the window; a thread that joins it does. Both threads are started
/// before the window opens (starting a thread allocates on the starting thread).
@Test func allocationGroupCountsItsMembersOnly() throws {
    let go = (DispatchSemaphore(value: 0), DispatchSemaphore(value: 0))
    let done = DispatchSemaphore(value: 0)
    let groupID = iq_alloc_group_create()
    #expect(groupID > 0)
    Thread.detachNewThread {
        go.0.wait()
        for _ in 0..<100 { iq_alloc_probe() }   // not a member: must not count
        done.signal()
    }
    Thread.detachNewThread {
        go.1.wait()
        iq_alloc_group_join(groupID)
        for _ in 0..<10 { iq_alloc_probe() }
        iq_alloc_group_join(0)
        done.signal()
    }
    let previous = iq_alloc_group_current()
    iq_alloc_group_join(groupID)
    defer { iq_alloc_group_join(previous) }
    let start = iq_alloc_group_count(groupID)
    iq_alloc_probe()
    #expect(iq_alloc_group_count(groupID) == start + 1, "the member's one malloc, exactly")

    let outsider = iq_alloc_group_count(groupID)
    go.0.signal(); done.wait()
    #expect(iq_alloc_group_count(groupID) == outsider)

    let member = iq_alloc_group_count(groupID)
    go.1.signal(); done.wait()
    #expect(iq_alloc_group_count(groupID) == member + 10)
}
