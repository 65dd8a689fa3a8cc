import IQProto
#if canImport(Glibc)
import Glibc
#endif

/// Writes a `.iqlog` file: length-delimited `iqmpc.v1.Record`s (varint byte count, then the
/// message — the framing of Python's `_VarintBytes(len) + msg` and Java's
/// `writeDelimitedTo`), a `RecordHeader` first, then `RecordStep`s.
///
/// Writes go through a buffer flushed when full and on `close()`/`flush()`; a record that
/// would exceed `MAX_CONTROL_BYTES` is refused so that every reader can read the file.
/// Not thread-safe: one writer per file, used from one thread at a time.
public final class RecordWriter {
    public let path: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private let pack: UnsafeMutableRawBufferPointer
    /// Bytes handed to the file so far (including the buffered ones).
    public private(set) var bytesWritten: Int64 = 0
    public private(set) var stepsWritten: Int = 0

    /// Creates (or truncates) `path` and writes the header record.
    public init(path: String, header: RecordHeaderInfo) throws(LinkError) {
        try header.spec.validate()
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw .io(path: path, errno: errno) }
        pack = .allocate(byteCount: LinkBounds.maxControlBytes, alignment: 16)
        buffer.reserveCapacity(1 << 16)
        let scope = CScope()
        let n = header.buildC(scope) { r in Self.packRecord(r, into: pack) }
        do throws(LinkError) {
            try append(count: n.get())
        } catch {
            Glibc.close(fd)
            fd = -1
            throw error
        }
    }

    deinit {
        if fd >= 0 { try? close() }
        pack.deallocate()
    }

    public func write(_ step: StepRecord) throws(LinkError) {
        guard fd >= 0 else { throw .io(path: path, errno: EBADF) }
        if step.observation.values.count > LinkBounds.maxObsDim {
            throw .dimensionOutOfBounds(field: .observationValues, count: step.observation.values.count, limit: LinkBounds.maxObsDim)
        }
        if let a = step.action, a.values.count > LinkBounds.maxActDim {
            throw .dimensionOutOfBounds(field: .actionValues, count: a.values.count, limit: LinkBounds.maxActDim)
        }
        let scope = CScope()
        let n = step.buildC(scope) { r in Self.packRecord(r, into: pack) }
        try append(count: n.get())
        stepsWritten += 1
    }

    public func write(observation: ObservationRecord, action: ActionRecord?) throws(LinkError) {
        try write(StepRecord(observation: observation, action: action))
    }

    /// Hands buffered records to the kernel.
    public func flush() throws(LinkError) {
        var start = 0
        while start < buffer.count {
            let n = buffer[start...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, errno: errno)
            }
            start += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    public func close() throws(LinkError) {
        guard fd >= 0 else { return }
        defer { Glibc.close(fd); fd = -1 }
        try flush()
        if fsync(fd) != 0 && errno != EINVAL { throw .io(path: path, errno: errno) }
    }

    private func append(count: Int) throws(LinkError) {
        var len = UInt64(count)
        repeat {
            let byte = UInt8(len & 0x7f)
            len >>= 7
            buffer.append(len == 0 ? byte : byte | 0x80)
        } while len != 0
        buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: pack[0..<count]))
        bytesWritten += Int64(varintSize(UInt64(count)) + count)
        if buffer.count >= 1 << 16 { try flush() }
    }

    static func packRecord(_ r: UnsafeMutablePointer<Iqmpc__V1__Record>, into out: UnsafeMutableRawBufferPointer) -> Result<Int, LinkError> {
        let size = iqmpc__v1__record__get_packed_size(r)
        if size > LinkBounds.maxControlBytes { return .failure(.oversized(byteCount: size, limit: LinkBounds.maxControlBytes)) }
        return .success(iqmpc__v1__record__pack(r, out.baseAddress!.assumingMemoryBound(to: UInt8.self)))
    }
}

func varintSize(_ v: UInt64) -> Int {
    var n = 1
    var x = v >> 7
    while x != 0 { n += 1; x >>= 7 }
    return n
}
