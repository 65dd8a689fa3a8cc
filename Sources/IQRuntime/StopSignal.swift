#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// A stop request the control loop polls between frames. `StopSignal.process` is the one
/// SIGINT/SIGTERM set (async-signal-safe: a lock-free atomic store); tests and embedding
/// code make their own.
public final class StopSignal: Sendable {
    private let flag = Atomic<Int32>(0)

    public init() {}

    /// The signal number that asked to stop (0: a caller, not a signal).
    public var reason: Int32 { flag.load(ordering: .relaxed) - 1 }
    public var isRequested: Bool { flag.load(ordering: .relaxed) != 0 }
    public func request(signal: Int32 = 0) { flag.store(signal + 1, ordering: .relaxed) }

    public static let process = StopSignal()

    /// Routes SIGINT and SIGTERM to `StopSignal.process` (installed without SA_RESTART, so a
    /// blocking receive returns EINTR and the loop notices at once). Also unblocks them on
    /// the calling thread: a launcher may have passed a blocked signal mask down (e.g. a
    /// parent's worker thread), and a blocked SIGTERM would never stop the controller.
    public static func installProcessHandlers() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for sig in [SIGINT, SIGTERM] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { signo in StopSignal.process.request(signal: signo) }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(sig, &action, nil)
        }
    }
}
