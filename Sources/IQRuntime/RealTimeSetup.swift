#if canImport(Glibc)
import Glibc
#endif
import IQCalibration
import IQKernels
import Logging

/// Real-time set-up of the control process, applied in two phases:
/// 1. `applyScheduling` before any thread is started (planner workers, ZeroMQ I/O threads
///    inherit the CPU affinity and SCHED_FIFO policy of the thread that creates them);
/// 2. `lockMemory` after weights, planner and buffers exist, so everything the control step
///    touches is resident. `MCL_FUTURE` is only requested when the memlock limit cannot make
///    later allocations fail (unlimited or CAP_IPC_LOCK/root); otherwise only current pages
///    are locked.
/// Anything not permitted is logged as a warning naming the missing permission, and the
/// runtime continues: a developer laptop must still run it.
public enum RealTimeSetup {
    public struct Report: Sendable, Equatable {
        public var affinityApplied = false
        public var priorityApplied = false
        public var memoryLocked = false
        public var warnings: [String] = []
    }

    public static func applyScheduling(_ rt: Calibration.RealTime, logger: Logger) -> Report {
        var report = Report()
        #if os(Linux)
        if !rt.cpuAffinity.isEmpty {
            if Affinity.pinCurrentThread(to: rt.cpuAffinity) {
                report.affinityApplied = true
                logger.info("CPU affinity set to \(rt.cpuAffinity)")
            } else {
                report.warnings.append("CPU affinity \(rt.cpuAffinity) not applied: \(errnoText()) (CPUs must exist and be allowed by the cgroup/cpuset); continuing unpinned")
            }
        }
        if rt.priority > 0 {
            var param = sched_param(sched_priority: Int32(rt.priority))
            if sched_setscheduler(0, SCHED_FIFO, &param) == 0 {
                report.priorityApplied = true
                logger.info("SCHED_FIFO priority \(rt.priority)")
            } else {
                let e = errno
                let why = e == EPERM
                    ? "not permitted (needs CAP_SYS_NICE or RLIMIT_RTPRIO >= \(rt.priority), e.g. the systemd unit in Scripts/deploy/)"
                    : errnoText()
                report.warnings.append("SCHED_FIFO priority \(rt.priority) not applied: \(why); continuing with normal scheduling")
            }
        }
        #else
        if !rt.cpuAffinity.isEmpty || rt.priority > 0 {
            report.warnings.append("CPU affinity and SCHED_FIFO are only supported on Linux; continuing without")
        }
        #endif
        for w in report.warnings { logger.warning("\(w)") }
        return report
    }

    public static func lockMemory(_ rt: Calibration.RealTime, logger: Logger, report: inout Report) {
        guard rt.lockMemory else { return }
        #if os(Linux)
        var limit = rlimit()
        let unlimited = getrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &limit) == 0 && limit.rlim_cur == rlim_t.max
        let privileged = geteuid() == 0
        let flags = unlimited || privileged ? MCL_CURRENT | MCL_FUTURE : MCL_CURRENT
        if mlockall(Int32(flags)) == 0 {
            report.memoryLocked = true
            logger.info("memory locked (\(flags & MCL_FUTURE != 0 ? "current and future pages" : "current pages only: memlock limit is finite"))")
        } else {
            let e = errno
            let why = e == EPERM || e == ENOMEM
                ? "not permitted (needs CAP_IPC_LOCK or LimitMEMLOCK=infinity, e.g. the systemd unit in Scripts/deploy/; current limit \(limit.rlim_cur) bytes)"
                : errnoText()
            let w = "mlockall not applied: \(why); continuing, page faults may stall control steps"
            report.warnings.append(w)
            logger.warning("\(w)")
        }
        #else
        let w = "memory locking is only supported on Linux; continuing without"
        report.warnings.append(w)
        logger.warning("\(w)")
        #endif
    }

    private static func errnoText() -> String {
        let e = errno
        return "\(String(cString: strerror(e))) (errno \(e))"
    }
}
