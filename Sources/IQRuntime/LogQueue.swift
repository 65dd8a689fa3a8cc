#if canImport(Glibc)
import Glibc
#endif
import IQKernels
import Logging
import Synchronization

/// Log lines leave the control thread through a bounded, lock-free queue and reach stderr
/// from a low-priority drain thread.
///
/// Why: swift-log's default handler writes to stderr synchronously on the thread that logs,
/// and the control thread logs exactly when things go wrong (a refused handshake, the
/// watchdog): a blocked terminal or a full pipe would then stall control. Here the calling
/// thread only formats its line (allocating; log lines are never inside a control step) and
/// claims a slot with one compare-and-swap; when every slot is taken the line is dropped and
/// counted (`dropped`), never waited for. The drain thread runs at the lowest normal priority
/// (SCHED_OTHER, nice 19), so under SCHED_FIFO it only writes while control sleeps.
///
/// The queue is a bounded multi-producer, single-consumer ring (a slot's sequence number says
/// whether it is free for position p or holds the line of position p).
public final class LogQueue: @unchecked Sendable {
    public static let shared = LogQueue(capacity: 1024)


    private let capacity: Int
    private let sequence: UnsafeMutablePointer<Atomic<Int>>
    private let lines: UnsafeMutablePointer<String?>
    private let enqueuePosition = Atomic<Int>(0)
    private var dequeuePosition = 0                 // drain thread only
    private let droppedCount = Atomic<UInt64>(0)
    private let writtenCount = Atomic<UInt64>(0)
    private let wake = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
    private let drainerStarted = Atomic<Bool>(false)
    /// Where lines go (stderr by default; a test may capture them).
    private let sink: @Sendable (String) -> Void

    public init(capacity: Int, sink: @escaping @Sendable (String) -> Void = LogQueue.writeToStandardError) {
        precondition(capacity > 1 && capacity & (capacity - 1) == 0, "capacity must be a power of two")
        self.capacity = capacity
        self.sink = sink
        sequence = .allocate(capacity: capacity)
        for i in 0..<capacity { (sequence + i).initialize(to: Atomic<Int>(i)) }
        lines = .allocate(capacity: capacity)
        lines.initialize(repeating: nil, count: capacity)
        sem_init(wake, 0, 0)
    }

    /// Lines refused because the queue was full.
    public var dropped: UInt64 { droppedCount.load(ordering: .relaxed) }
    /// Lines handed to the sink.
    public var written: UInt64 { writtenCount.load(ordering: .relaxed) }

    /// Queues one line without blocking; false (and counted) when the queue is full.
    @discardableResult
    public func enqueue(_ line: String) -> Bool {
        startDrainerIfNeeded()
        var position = enqueuePosition.load(ordering: .relaxed)
        while true {
            let slot = position & (capacity - 1)
            let seq = sequence[slot].load(ordering: .acquiring)
            if seq == position {
                let (exchanged, original) = enqueuePosition.compareExchange(expected: position, desired: position + 1,
                                                                            ordering: .relaxed)
                if exchanged {
                    lines[slot] = line
                    sequence[slot].store(position + 1, ordering: .releasing)
                    sem_post(wake)
                    return true
                }
                position = original
            } else if seq < position {
                droppedCount.add(1, ordering: .relaxed)       // full: the drain is behind
                return false
            } else {
                position = enqueuePosition.load(ordering: .relaxed)
            }
        }
    }

    /// Writes every queued line now, on the calling thread (exit paths). Lines queued while
    /// this runs may be left for the drain thread.
    public func flush() {
        drainLock.withLock { _ in drainAvailable() }
    }

    /// Serialises the drain thread and `flush` (never taken by producers).
    private let drainLock = Mutex<Void>(())

    private func drainAvailable() {
        while true {
            let slot = dequeuePosition & (capacity - 1)
            guard sequence[slot].load(ordering: .acquiring) == dequeuePosition + 1 else { return }
            let line = lines[slot]
            lines[slot] = nil
            sequence[slot].store(dequeuePosition + capacity, ordering: .releasing)
            dequeuePosition += 1
            if let line {
                sink(line)
                writtenCount.add(1, ordering: .relaxed)
            }
        }
    }

    private func startDrainerIfNeeded() {
        guard !drainerStarted.load(ordering: .relaxed) else { return }
        guard drainerStarted.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        // The drainer runs for the life of the process and keeps the queue alive.
        if case .success(let tid) = POSIXThread.start({ self.drainForever() }) { pthread_detach(tid) }
    }

    private func drainForever() {
        POSIXThread.lowerToBackground()   // off the real-time class of the thread that logged first
        while true {
            while sem_wait(wake) != 0 {}
            drainLock.withLock { _ in drainAvailable() }
        }
    }

    /// One write(2) per line on fd 2 (unbuffered, like stderr; no stdio lock shared with
    /// other threads).
    public static let writeToStandardError: @Sendable (String) -> Void = { line in
        var text = line
        text.append("\n")
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return }
            }
        }
    }

    /// A swift-log handler that queues here.
    public func handler(label: String) -> QueueLogHandler { QueueLogHandler(label: label, queue: self) }
}

/// swift-log's `LogHandler` over a `LogQueue`: formats on the calling thread, writes on the
/// drain thread. Lines read "<time> <level> <label>: <message> [metadata]".
public struct QueueLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public let label: String
    let queue: LogQueue

    public init(label: String, queue: LogQueue) {
        self.label = label
        self.queue = queue
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?,
                    source: String, file: String, function: String, line: UInt) {
        var all = metadata
        if let extra { all.merge(extra) { $1 } }
        let tail = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        queue.enqueue("\(Self.timestamp()) \(level) \(label): \(message)\(tail)")
    }

    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var parts = tm()
        gmtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let n = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S", &parts)
        let ms = ts.tv_nsec / 1_000_000
        let frac = ms < 10 ? "00\(ms)" : ms < 100 ? "0\(ms)" : "\(ms)"
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self) + ".\(frac)Z"
    }
}
