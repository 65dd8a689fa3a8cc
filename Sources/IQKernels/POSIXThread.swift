#if canImport(Glibc)
import Glibc
#endif

/// The project's plain POSIX threads: the planner's workers and the runtime's drain threads
/// (log lines, telemetry). Plain pthreads rather than Foundation's `Thread` because they must
/// inherit the starting thread's scheduling (SCHED_FIFO for the workers) and be joinable.
public enum POSIXThread {
    /// Starts `body` on a new thread. Returns its id, or pthread_create's error code. Allocates
    /// (the closure's box): start-up only.
    public static func start(_ body: @escaping @Sendable () -> Void) -> Result<pthread_t, POSIXThreadError> {
        final class Box: @unchecked Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, box)
        if rc != 0 {
            Unmanaged<Box>.fromOpaque(box).release()
            return .failure(POSIXThreadError(code: rc))
        }
        return .success(tid)
    }

    /// Moves the calling thread off any real-time class it inherited to SCHED_OTHER at nice 19
    /// (Linux applies `setpriority` to the calling thread), so background work such as
    /// draining queues only runs while real-time threads sleep.
    public static func lowerToBackground() {
        var param = sched_param(sched_priority: 0)
        _ = sched_setscheduler(0, Int32(SCHED_OTHER), &param)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
    }
}

public struct POSIXThreadError: Error, CustomStringConvertible {
    public let code: Int32
    public var description: String { "pthread_create failed (\(code))" }
}
