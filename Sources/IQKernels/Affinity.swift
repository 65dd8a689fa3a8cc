#if canImport(Glibc)
import Glibc
#endif

/// CPU affinity, the one place that reads and sets it: the planner's and trainer's worker
/// pool pins its threads, the runtime pins its control thread from the calibration.
///
/// `sched_getaffinity`/`sched_setaffinity` are looked up at run time: Glibc's Swift module
/// does not export these _GNU_SOURCE calls. A failed lookup means "no pinning", never a crash.
public enum Affinity {
    public typealias Call = @convention(c) (pid_t, Int, UnsafeMutableRawPointer) -> Int32
    static let maskBytes = 128
    static let getAffinity: Call? = lookup("sched_getaffinity")
    static let setAffinity: Call? = lookup("sched_setaffinity")

    private static func lookup(_ name: String) -> Call? {
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(sym, to: Call.self)
    }

    /// CPUs this thread may run on, in order (empty when unknown).
    public static func allowedCPUs() -> [Int32] {
        guard let get = getAffinity else { return [] }
        var mask = [UInt8](repeating: 0, count: maskBytes)
        guard mask.withUnsafeMutableBytes({ get(0, maskBytes, $0.baseAddress!) }) == 0 else { return [] }
        return (0..<(maskBytes * 8)).filter { mask[$0 / 8] & (1 << ($0 % 8)) != 0 }.map(Int32.init)
    }

    /// Restricts the calling thread (pid 0 = this thread) to `cpus`. False, with `errno`
    /// set, when the call is missing or refused (CPUs that do not exist or the cpuset forbids).
    @discardableResult
    public static func pinCurrentThread(to cpus: [Int]) -> Bool {
        guard let set = setAffinity else { errno = ENOSYS; return false }
        var mask = [UInt8](repeating: 0, count: maskBytes)
        for cpu in cpus {
            guard cpu >= 0, cpu < maskBytes * 8 else { errno = EINVAL; return false }
            mask[cpu / 8] |= UInt8(1 << (cpu % 8))
        }
        return mask.withUnsafeMutableBytes { set(0, maskBytes, $0.baseAddress!) } == 0
    }

    /// One CPU, best effort (worker threads run unpinned where the OS refuses).
    public static func pinCurrentThread(to cpu: Int32) {
        pinCurrentThread(to: [Int(cpu)])
    }
}
