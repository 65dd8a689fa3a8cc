#if canImport(Glibc)
import Glibc
#endif
import IQKernels
import IQLink
import Synchronization

/// Telemetry samples leave the control thread through a bounded single-producer ring and are
/// published by a low-priority thread.
///
/// Why: publishing from the control step put libzmq's PUB work in the step, and that allocates
/// whenever a subscriber connects (attaching its pipe, registering its subscription) and once
/// more about 255 samples later (that pipe's second 256-message chunk): at times no start-up
/// warm-up can anticipate, since subscribers come and go. The control thread now only copies
/// the sample into a slot (no system call, no lock, no allocation); the drain thread
/// (SCHED_OTHER, nice 19, polling every `pollIntervalNs`: nothing wakes it from the step)
/// publishes what it finds, so under SCHED_FIFO it only runs while control sleeps. A full ring
/// refuses the new sample and counts it (`dropped`); the step never waits.
public final class TelemetryQueue: @unchecked Sendable {
    public let publisher: TelemetryPublisher
    private let capacity: Int
    private let slots: UnsafeMutablePointer<TelemetrySample>
    private let head = Atomic<Int>(0)      // next position to write (control thread)
    private let tail = Atomic<Int>(0)      // next position to publish (drain thread)
    private let droppedCount = Atomic<UInt64>(0)
    private let publishedCount = Atomic<UInt64>(0)
    private let stopping = Atomic<Bool>(false)
    private let pollIntervalNs: UInt64
    private var thread: pthread_t?

    /// Starts the drain thread. From here on only that thread uses `publisher`'s socket.
    public init(publisher: TelemetryPublisher, capacity: Int = 512, pollIntervalNs: UInt64 = 2_000_000) {
        precondition(capacity > 1 && capacity & (capacity - 1) == 0, "capacity must be a power of two")
        self.publisher = publisher
        self.capacity = capacity
        self.pollIntervalNs = pollIntervalNs
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: TelemetrySample(), count: capacity)
        if case .success(let tid) = POSIXThread.start({ self.drainUntilStopped() }) { thread = tid }
    }

    deinit {
        slots.deinitialize(count: capacity)
        slots.deallocate()
    }

    /// Samples refused because the ring was full.
    public var dropped: UInt64 { droppedCount.load(ordering: .relaxed) }
    /// Samples handed to the publisher (sent or refused by its socket, see its counters).
    public var published: UInt64 { publishedCount.load(ordering: .relaxed) }

    /// Queues one sample; false (and counted) when the ring is full. Control thread only.
    /// Allocation-free, lock-free, no system call.
    @discardableResult
    @inline(__always)
    public func push(_ sample: TelemetrySample) -> Bool {
        let h = head.load(ordering: .relaxed)
        if h &- tail.load(ordering: .acquiring) >= capacity {
            droppedCount.add(1, ordering: .relaxed)
            return false
        }
        slots[h & (capacity - 1)] = sample
        head.store(h &+ 1, ordering: .releasing)
        return true
    }

    /// Publishes every queued sample (drain thread; also used by `stop`).
    private func drainAvailable() {
        var t = tail.load(ordering: .relaxed)
        let h = head.load(ordering: .acquiring)
        while t != h {
            let sample = slots[t & (capacity - 1)]
            t &+= 1
            tail.store(t, ordering: .releasing)
            _ = try? publisher.publish(sample)
            publishedCount.add(1, ordering: .relaxed)
        }
    }

    private func drainUntilStopped() {
        POSIXThread.lowerToBackground()   // off the control thread's inherited real-time class
        while !stopping.load(ordering: .acquiring) {
            drainAvailable()
            var ts = timespec(tv_sec: Int(pollIntervalNs / 1_000_000_000), tv_nsec: Int(pollIntervalNs % 1_000_000_000))
            nanosleep(&ts, nil)
        }
        drainAvailable()   // what the control thread queued before `stop`
    }

    /// Publishes what is queued and ends the drain thread; the publisher may then be closed.
    public func stop() {
        guard let t = thread else { return }
        thread = nil
        stopping.store(true, ordering: .releasing)
        pthread_join(t, nil)
    }
}
