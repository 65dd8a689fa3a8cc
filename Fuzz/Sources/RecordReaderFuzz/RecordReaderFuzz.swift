import Glibc
import IQLink

/// `.iqlog` reader harness: the input is a whole file. `RecordReader` reads from a path (it
/// streams through its own buffer), so the bytes go into an unlinked file on tmpfs and the
/// reader opens it by its /proc path: the exact code `iqmpc-train`, `iqmpc-sim replay` and the
/// report run on a file, including the buffer refills at 64 KiB boundaries.
nonisolated(unsafe) private var memoryFile: Int32 = -1

@_cdecl("LLVMFuzzerTestOneInput")
public func recordReaderFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if memoryFile < 0 {
        let dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp"
        let path = "\(dir)/iqmpc-fuzz-\(getpid()).iqlog"
        memoryFile = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(memoryFile >= 0, "cannot create \(path): errno \(errno)")
        unlink(path)   // gone when the process ends, whatever way it ends
    }
    precondition(ftruncate(memoryFile, 0) == 0)
    var written = 0
    while written < size {
        let n = pwrite(memoryFile, data + written, size - written, off_t(written))
        precondition(n > 0, "pwrite failed: errno \(errno)")
        written += n
    }
    do {
        let reader = try RecordReader(path: "/proc/self/fd/\(memoryFile)")
        let spec = reader.header.spec
        while let step = try reader.next() {
            // Whatever the reader returns must match the header it checked them against.
            precondition(step.observation.values.count == spec.obsDim)
            if let a = step.action { precondition(a.values.count == spec.actDim) }
            precondition(reader.lastRecordOffset < reader.offset && reader.offset <= Int64(size))
        }
    } catch {
        _ = "\(error)"   // every refusal must also describe itself without trapping
    }
    return 0
}
