import CAllocCounter

/// A fresh allocation group the calling thread counts in until `leave()`; planner workers it
/// starts join the group too, so a window over `count` is exact (threads other suites leave
/// behind cannot land in it).
struct CountingGroup {
    let id: Int32
    private let previous: Int32

    init() {
        id = iq_alloc_group_create()
        previous = iq_alloc_group_current()
        iq_alloc_group_join(id)
    }

    var count: UInt64 { iq_alloc_group_count(id) }

    func leave() { iq_alloc_group_join(previous) }
}
