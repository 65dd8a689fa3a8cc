#if canImport(Glibc)
import Glibc
#endif
import CAllocCounter
import CRealtimeSanitizer
import Synchronization

/// Work split into fixed partitions 0..<partitions: partition p always covers the same part,
/// so results do not depend on which thread ran it (the planner's scoring, the trainer's
/// row blocks).
public protocol PartitionedJob: AnyObject, Sendable {
    func run(partition: Int)
}

/// A fixed set of worker threads, started once (with the planner, or with a training run).
///
/// Why this shape: a plan must not allocate or take a blocking lock, and every iteration
/// needs all partitions done before the next step. So the calling thread publishes a job by
/// bumping an atomic generation (release), then every thread, the caller included, claims
/// partitions one at a time from an atomic counter until none is left, and the caller spins
/// until all are done (acquire). Claiming instead of a fixed partition per thread means a
/// worker that the OS has not scheduled (a loaded machine) delays nothing: the caller runs
/// its partitions. Workers spin while jobs keep coming; after `spinNs` without work they
/// sleep on a POSIX semaphore, and `wake()` (called ahead of the first job, e.g. before the
/// planner's encoder runs) posts it, so the wake-up latency overlaps useful work. sem_post
/// never blocks and nothing here allocates after `init`.
public final class WorkerPool: @unchecked Sendable {
    private let control: PoolControl
    private var threads: [pthread_t] = []
    public let workerCount: Int
    /// Partitions per job: the calling thread's plus one per worker.
    public var partitions: Int { workerCount + 1 }

    public init(workers: Int, pin: Bool, spinNs: UInt64) {
        workerCount = workers
        control = PoolControl(workers: workers, spinNs: spinNs)
        guard workers > 0 else { return }
        let cpus = pin ? Affinity.allowedCPUs() : []
        for w in 0..<workers {
            // Workers count their heap use in the starting thread's allocation group, as they
            // inherit its scheduling: together they are one real-time job.
            let context = WorkerContext(control: control, partition: w + 1, allocationGroup: iq_alloc_group_current(),
                                        cpu: cpus.count > 1 ? cpus[(w + 1) % cpus.count] : nil)
            switch POSIXThread.start({ context.run() }) {
            case .success(let tid): threads.append(tid)
            case .failure(let e): fatalError("WorkerPool: \(e)")
            }
        }
        // Start-up (a worker pinning itself allocates) must be over before the first job: a
        // pool is ready, and its steady state begins, when init returns.
        while control.started.load(ordering: .acquiring) < workers { sched_yield() }
    }

    /// Makes sleeping workers start spinning (cheap no-op when they are already awake).
    public func wake() {
        for w in 0..<workerCount where control.sleeping[w].load(ordering: .sequentiallyConsistent) == 1 {
            sem_post(control.semaphores + w)
        }
    }

    /// Runs partitions 0..<`count` of `job` (default: one per thread) on this thread and the
    /// workers, whichever claims each first; returns when all are done. One caller at a time.
    public func run(_ job: PartitionedJob, partitions count: Int? = nil) {
        let n = count ?? partitions
        precondition(n >= 1 && n < 1 << 16)
        let c = control
        guard workerCount > 0, n > 1 else {
            for p in 0..<n { job.run(partition: p) }
            return
        }
        c.job = job
        c.done.store(0, ordering: .sequentiallyConsistent)
        let g = c.generation.load(ordering: .sequentiallyConsistent) &+ 1
        c.claim.store(PoolControl.claimWord(generation: g, count: n, next: 0), ordering: .sequentiallyConsistent)
        c.generation.store(g, ordering: .sequentiallyConsistent)
        wake()
        c.claimAndRun(generation: g)
        var spins = 0
        while c.done.load(ordering: .acquiring) != n {
            spins += 1
            if spins & 255 == 0 { sched_yield() }
        }
    }

    public func shutdown() {
        guard !threads.isEmpty else { return }
        control.stop.store(true, ordering: .sequentiallyConsistent)
        control.claim.store(0, ordering: .sequentiallyConsistent)
        control.generation.add(1, ordering: .sequentiallyConsistent)
        for w in 0..<workerCount { sem_post(control.semaphores + w) }
        for t in threads { pthread_join(t, nil) }
        threads.removeAll()
    }

    deinit { shutdown() }
}

/// State shared between the pool and its threads.
/// `@unchecked Sendable`: the raw pointers are allocated in init, freed in deinit, and only
/// used through atomics / semaphores in between; `job` is written before the generation
/// bump (release) and read after it (acquire).
final class PoolControl: @unchecked Sendable {
    let generation = Atomic<Int>(0)
    /// (generation, partition count, next unclaimed partition) of the current job in one word,
    /// so a thread still looking at an old job can never claim a partition of a new one.
    let claim = Atomic<Int>(0)
    /// Partitions finished in the current job.
    let done = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)
    /// Workers that finished their start-up (pinned, in the allocation group, looping).
    let started = Atomic<Int>(0)
    let sleeping: UnsafeMutablePointer<Atomic<Int>>
    let semaphores: UnsafeMutablePointer<sem_t>
    var job: PartitionedJob?
    let spinNs: UInt64
    let workers: Int

    init(workers: Int, spinNs: UInt64) {
        self.workers = workers
        self.spinNs = spinNs
        let n = max(workers, 1)
        sleeping = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: n)
        for i in 0..<n { (sleeping + i).initialize(to: Atomic<Int>(0)) }
        semaphores = UnsafeMutablePointer<sem_t>.allocate(capacity: n)
        for i in 0..<n { sem_init(semaphores + i, 0, 0) }
    }

    static func claimWord(generation g: Int, count n: Int, next i: Int) -> Int {
        ((g & 0x7FFF_FFFF) << 32) | (n << 16) | i
    }

    /// Claims and runs partitions of job `generation` until none is left. `job` is read only
    /// after a successful claim: the caller cannot publish another job before this partition
    /// is done, so the reference is stable while it is read.
    func claimAndRun(generation g: Int) {
        let tag = g & 0x7FFF_FFFF
        while true {
            let v = claim.load(ordering: .acquiring)
            guard v >> 32 == tag else { return }
            let n = (v >> 16) & 0xFFFF, i = v & 0xFFFF
            guard i < n else { return }
            guard claim.compareExchange(expected: v, desired: v + 1, ordering: .acquiringAndReleasing).exchanged else {
                continue
            }
            job!.run(partition: i)
            done.add(1, ordering: .releasing)
        }
    }

    deinit {
        let n = max(workers, 1)
        for i in 0..<n { sem_destroy(semaphores + i) }
        semaphores.deallocate()
        sleeping.deinitialize(count: n)
        sleeping.deallocate()
    }
}

/// One worker thread's loop.
final class WorkerContext: @unchecked Sendable {
    let control: PoolControl
    let partition: Int
    let cpu: Int32?
    let allocationGroup: Int32

    init(control: PoolControl, partition: Int, allocationGroup: Int32, cpu: Int32?) {
        self.allocationGroup = allocationGroup
        self.control = control
        self.partition = partition
        self.cpu = cpu
    }

    func run() {
        if let cpu { Affinity.pinCurrentThread(to: cpu) }
        // Joined after start-up: from here on the worker's heap use is the job's.
        iq_alloc_group_join(allocationGroup)
        let c = control
        c.started.add(1, ordering: .releasing)
        let me = partition - 1
        // Generation 0 is the pool's value at creation: a job published before this thread got
        // here must still be seen as new (reading the current value instead would skip it).
        var seen = 0
        while true {
            var spins = 0
            var idleSince = MonotonicClock.nanoseconds()
            while c.generation.load(ordering: .acquiring) == seen {
                spins += 1
                guard spins & 255 == 0 else { continue }
                let now = MonotonicClock.nanoseconds()
                if now &- idleSince < c.spinNs {
                    sched_yield()
                    continue
                }
                c.sleeping[me].store(1, ordering: .sequentiallyConsistent)
                if c.generation.load(ordering: .sequentiallyConsistent) == seen {
                    while sem_wait(c.semaphores + me) != 0 {}  // EINTR: retry
                }
                c.sleeping[me].store(0, ordering: .sequentiallyConsistent)
                idleSince = MonotonicClock.nanoseconds()
            }
            seen = c.generation.load(ordering: .acquiring)
            if c.stop.load(ordering: .acquiring) { return }
            iq_rt_section_enter()   // a job is real-time work (RTSan, Scripts/rtsan.sh)
            c.claimAndRun(generation: seen)
            iq_rt_section_exit()
        }
    }
}
