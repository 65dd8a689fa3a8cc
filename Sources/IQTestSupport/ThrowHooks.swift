#if canImport(Glibc)
import Glibc
#endif

/// Swift Testing installs the runtime's "will throw" hooks to record a backtrace for every
/// thrown error, and that costs one heap allocation per `throw` — typed throws included.
/// Deployed binaries have no hook, so refusing a bad frame allocates nothing there; tests
/// that count allocations on fault paths wrap the measured region in `suspended` to see
/// what production sees. Tests only; never call it in the control loop.
public enum ThrowHooks {
    /// Runs `body` with the hooks cleared, then restores them. Not thread-safe against
    /// other tests changing the hooks; test targets run serially.
    public static func suspended<R>(_ body: () throws -> R) rethrows -> R {
        let process = dlopen(nil, RTLD_NOW)
        defer { if let process { dlclose(process) } }
        let names: [String] = ["_swift_willThrow", "_swift_willThrowTypedImpl"]
        let slots = names.compactMap { (name: String) -> UnsafeMutablePointer<UnsafeRawPointer?>? in
            dlsym(process, name)?.assumingMemoryBound(to: UnsafeRawPointer?.self)
        }
        let saved = slots.map { $0.pointee }
        for s in slots { s.pointee = nil }
        defer { for (s, v) in zip(slots, saved) { s.pointee = v } }
        return try body()
    }
}
