import CAllocCounter
import Testing

/// Positive control for the process-wide allocation counter this target's tests rely on:
/// a real malloc must be seen, and a region without allocations must count zero.
@Test func allocationCounterSeesAllocations() {
    let before = iq_alloc_count()
    iq_alloc_probe()
    #expect(iq_alloc_count() - before >= 1)
}
