import CAllocCounter
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
