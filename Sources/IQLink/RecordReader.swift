import IQProto
#if canImport(Glibc)
import Glibc
#endif

/// Reads a `.iqlog` file written by `RecordWriter`, Python (`_VarintBytes(len) + msg`) or
/// any protobuf implementation's delimited writer, one record at a time (streaming: memory
/// use is bounded by `MAX_CONTROL_BYTES`, whatever the file size).
///
/// `init` reads and checks the header (it must be the first record, format version 1, with
/// a valid spec); `next()` returns steps until a clean end of file (nil). Every problem —
/// a length prefix cut short, a record longer than `MAX_CONTROL_BYTES`, a record cut short
/// by the end of the file, bytes that do not parse, a second header, a step without an
/// observation, vectors over the protocol bounds — throws `LinkError.record` naming the
/// byte offset where the offending record starts.
public final class RecordReader {
    public let path: String
    public private(set) var header: RecordHeaderInfo
    private var fd: Int32
    private let io: UnsafeMutableRawBufferPointer
    private var ioStart = 0
    private var ioEnd = 0
    private var atEOF = false
    private let record: UnsafeMutableRawBufferPointer
    private let arenaMemory: UnsafeMutableRawPointer
    private let arena: UnsafeMutablePointer<IqmpcArena>
    private static let arenaBytes = 4 << 20
    /// Length of the record read last (its bytes are in `record`).
    private var lastLength = 0
    /// Byte offset where the record returned last starts (for callers' own error messages).
    public private(set) var lastRecordOffset: Int64 = 0
    /// Byte offset of the next record's length prefix.
    public private(set) var offset: Int64 = 0

    public init(path: String) throws(LinkError) {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw .io(path: path, errno: errno) }
        io = .allocate(byteCount: 1 << 16, alignment: 16)
        record = .allocate(byteCount: LinkBounds.maxControlBytes, alignment: 16)
        arenaMemory = .allocate(byteCount: Self.arenaBytes, alignment: 64)
        arena = .allocate(capacity: 1)
        iqmpc_arena_init(arena, arenaMemory, Self.arenaBytes)
        header = RecordHeaderInfo(spec: PlantSpec(robotId: "", observations: [], actions: [], controlPeriodNs: 0, episodeLength: 0), source: "")
        guard let (start, r) = try readRecord() else {
            throw .record(offset: 0, problem: "file is empty: expected a RecordHeader first")
        }
        guard r.pointee.body_case == IQMPC__V1__RECORD__BODY_HEADER, let h = r.pointee.header else {
            throw .record(offset: start, problem: "first record is not a RecordHeader")
        }
        if iqmpc_record_strings_have_nul(record.baseAddress!.assumingMemoryBound(to: UInt8.self), lastLength) == 1 {
            throw .record(offset: start, problem: "header: a string (robot_id, a channel name or unit, an annotation) contains a NUL byte")
        }
        let parsed: RecordHeaderInfo
        do throws(LinkError) {
            parsed = try RecordHeaderInfo(c: h)
        } catch {
            throw .record(offset: start, problem: "header: \(error)")
        }
        if parsed.formatVersion != RecordHeaderInfo.currentFormatVersion {
            throw .record(offset: start, problem: "format_version \(parsed.formatVersion) is not supported (expected \(RecordHeaderInfo.currentFormatVersion))")
        }
        header = parsed
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
        io.deallocate()
        record.deallocate()
        arenaMemory.deallocate()
        arena.deallocate()
    }

    /// The next step, or nil at the end of the file.
    public func next() throws(LinkError) -> StepRecord? {
        guard let (start, r) = try readRecord() else { return nil }
        switch r.pointee.body_case {
        case IQMPC__V1__RECORD__BODY_STEP:
            guard let s = r.pointee.step, let o = s.pointee.observation else {
                throw .record(offset: start, problem: "step has no observation")
            }
            if o.pointee.n_values != header.spec.obsDim {
                throw .record(offset: start, problem: "step observation (seq \(o.pointee.seq)) has \(o.pointee.n_values) values, the header's spec says obs_dim \(header.spec.obsDim)")
            }
            var action: ActionRecord?
            if let a = s.pointee.action {
                if a.pointee.n_values != header.spec.actDim {
                    throw .record(offset: start, problem: "step action (observation seq \(o.pointee.seq)) has \(a.pointee.n_values) values, the header's spec says act_dim \(header.spec.actDim)")
                }
                action = ActionRecord(ActionView(a))
            }
            return StepRecord(observation: ObservationRecord(ObservationView(o)), action: action)
        case IQMPC__V1__RECORD__BODY_HEADER:
            throw .record(offset: start, problem: "a second RecordHeader (a file holds exactly one, first)")
        default:
            throw .record(offset: start, problem: "record has no body (neither header nor step)")
        }
    }

    /// Every remaining step.
    public func readAll() throws(LinkError) -> [StepRecord] {
        var out: [StepRecord] = []
        while let s = try next() { out.append(s) }
        return out
    }

    // MARK: framing

    /// Reads one delimited record into the arena; nil at a clean end of file.
    private func readRecord() throws(LinkError) -> (Int64, UnsafeMutablePointer<Iqmpc__V1__Record>)? {
        let start = offset
        lastRecordOffset = start
        var length: UInt64 = 0
        var shift: UInt64 = 0
        var prefixBytes = 0
        while true {
            guard let b = try readByte() else {
                if prefixBytes == 0 { return nil }
                throw .record(offset: start, problem: "length prefix cut short by the end of the file")
            }
            prefixBytes += 1
            length |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { break }
            shift += 7
            if prefixBytes >= 10 { throw .record(offset: start, problem: "length prefix is not a valid varint") }
        }
        offset += Int64(prefixBytes)
        if length > UInt64(LinkBounds.maxControlBytes) {
            throw .record(offset: start, problem: "record length \(length) exceeds MAX_CONTROL_BYTES \(LinkBounds.maxControlBytes)")
        }
        let n = Int(length)
        let got = try readExactly(n)
        offset += Int64(got)
        if got < n {
            throw .record(offset: start, problem: "record declares \(n) bytes but the file ends after \(got)")
        }
        lastLength = n
        iqmpc_arena_reset(arena)
        let refusedBefore = arena.pointee.exhausted
        guard let r = iqmpc__v1__record__unpack(&arena.pointee.allocator, n,
                                                record.baseAddress!.assumingMemoryBound(to: UInt8.self)) else {
            if arena.pointee.exhausted != refusedBefore {
                throw .record(offset: start, problem: "\(n) bytes unpack to more than the reader's \(Self.arenaBytes)-byte arena (hostile record)")
            }
            throw .record(offset: start, problem: "\(n) bytes do not parse as an iqmpc.v1.Record")
        }
        return (start, r)
    }

    private func fill() throws(LinkError) {
        guard !atEOF else { return }
        while true {
            let n = Glibc.read(fd, io.baseAddress, io.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: path, errno: errno)
            }
            ioStart = 0
            ioEnd = n
            if n == 0 { atEOF = true }
            return
        }
    }

    private func readByte() throws(LinkError) -> UInt8? {
        if ioStart == ioEnd { try fill() }
        if ioStart == ioEnd { return nil }
        let b = io[ioStart]
        ioStart += 1
        return b
    }

    /// Copies up to `n` bytes into `record`; fewer only at the end of the file.
    private func readExactly(_ n: Int) throws(LinkError) -> Int {
        var got = 0
        while got < n {
            if ioStart == ioEnd { try fill() }
            if ioStart == ioEnd { break }
            let take = min(n - got, ioEnd - ioStart)
            (record.baseAddress! + got).copyMemory(from: io.baseAddress! + ioStart, byteCount: take)
            ioStart += take
            got += take
        }
        return got
    }
}
