import Foundation
import Testing
@testable import IQLink

@Suite(.serialized) struct RecordTests {
    static func sampleSteps(_ n: Int, obs: Int = 4, act: Int = 2) -> [StepRecord] {
        (0..<n).map { i in
            let o = ObservationRecord(seq: UInt64(i + 1), timestampNs: UInt64(1000 * i),
                                      values: (0..<obs).map { Float(i) + Float($0) / 10 },
                                      episodeStart: i == 0, terminal: i == n - 1, reward: i % 2 == 0 ? Float(i) : nil,
                                      episode: 3)
            let a = i == n - 1 ? nil : ActionRecord(seq: UInt64(i + 1), observationSeq: UInt64(i + 1), timestampNs: UInt64(1000 * i + 5),
                                                    values: (0..<act).map { -Float(i) - Float($0) },
                                                    diagnostics: PlanDiagnostics(source: .planner, iterations: 6, planTimeUs: 900))
            return StepRecord(observation: o, action: a)
        }
    }

    static func write(_ path: String, header: RecordHeaderInfo, steps: [StepRecord]) throws {
        let w = try RecordWriter(path: path, header: header)
        for s in steps { try w.write(s) }
        try w.close()
    }

    func header() -> RecordHeaderInfo {
        RecordHeaderInfo(spec: sampleSpec(), source: "iqmpc test", seed: 7, annotations: ["expert": "energy", "calibration": "abc123"])
    }

    @Test func writeThenReadRoundTripsHeaderAndSteps() throws {
        let path = tempDir().appendingPathComponent("roundtrip.iqlog").path
        let steps = Self.sampleSteps(1000)
        try Self.write(path, header: header(), steps: steps)
        let r = try RecordReader(path: path)
        #expect(r.header == header())
        #expect(try r.readAll() == steps)
        #expect(try r.next() == nil)
    }

    /// Writes a valid file and returns its bytes and the offset of each record.
    func validFile(steps: Int) throws -> (bytes: [UInt8], offsets: [Int]) {
        let path = tempDir().appendingPathComponent("valid.iqlog").path
        try Self.write(path, header: header(), steps: Self.sampleSteps(steps))
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var offsets: [Int] = []
        var i = 0
        while i < bytes.count {
            offsets.append(i)
            var len = 0, shift = 0
            while true { let b = bytes[i]; i += 1; len |= Int(b & 0x7f) << shift; if b & 0x80 == 0 { break }; shift += 7 }
            i += len
        }
        return (bytes, offsets)
    }

    func readError(_ bytes: [UInt8]) -> LinkError? {
        let path = tempDir().appendingPathComponent("bad.iqlog").path
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        do {
            let r = try RecordReader(path: path)
            _ = try r.readAll()
            return nil
        } catch { return error }
    }

    @Test func truncatedRecordNamesItsOffset() throws {
        let (bytes, offsets) = try validFile(steps: 5)
        let last = offsets.last!
        // Cut inside the last record's body.
        guard case .record(let off, let problem)? = readError(Array(bytes.dropLast(3))) else { Issue.record("no error"); return }
        #expect(off == Int64(last) && problem.contains("file ends"))
        // Cut inside a multi-byte length prefix.
        var prefixOnly = Array(bytes[..<last])
        prefixOnly += [0x80]
        guard case .record(let off2, let p2)? = readError(prefixOnly) else { Issue.record("no error"); return }
        #expect(off2 == Int64(last) && p2.contains("length prefix"))
    }

    @Test func oversizedRecordIsRefusedBeforeReading() throws {
        let (bytes, offsets) = try validFile(steps: 2)
        var evil = Array(bytes[..<offsets[1]])
        varint(UInt64(LinkBounds.maxControlBytes + 1), &evil)
        evil += [UInt8](repeating: 0, count: 16)
        guard case .record(let off, let problem)? = readError(evil) else { Issue.record("no error"); return }
        #expect(off == Int64(offsets[1]) && problem.contains("exceeds MAX_CONTROL_BYTES"))
    }

    @Test func malformedAndMisplacedRecordsAreRefused() throws {
        let (bytes, offsets) = try validFile(steps: 3)
        // Garbage body of the right length.
        var garbage = Array(bytes[..<offsets[2]])
        garbage += [4, 0xff, 0xff, 0xff, 0xff]
        guard case .record(let off, let problem)? = readError(garbage) else { Issue.record("no error"); return }
        #expect(off == Int64(offsets[2]) && problem.contains("do not parse"))
        // A step first (header missing).
        let stepFirst = Array(bytes[offsets[1]...])
        guard case .record(0, let p2)? = readError(stepFirst) else { Issue.record("no error"); return }
        #expect(p2.contains("not a RecordHeader"))
        // A second header.
        let twoHeaders = Array(bytes[..<offsets[1]]) + Array(bytes[..<offsets[1]])
        guard case .record(let off3, let p3)? = readError(twoHeaders) else { Issue.record("no error"); return }
        #expect(off3 == Int64(offsets[1]) && p3.contains("second RecordHeader"))
        // An empty record (no body).
        guard case .record(let off4, let p4)? = readError(Array(bytes[..<offsets[1]]) + [0]) else { Issue.record("no error"); return }
        #expect(off4 == Int64(offsets[1]) && p4.contains("no body"))
        // An empty file.
        guard case .record(0, let p5)? = readError([]) else { Issue.record("no error"); return }
        #expect(p5.contains("empty"))
        // A missing file is an I/O error naming the path.
        #expect(throws: LinkError.self) { _ = try RecordReader(path: "/nonexistent/x.iqlog") }
    }

    @Test func writerRefusesVectorsBeyondTheBounds() throws {
        let path = tempDir().appendingPathComponent("w.iqlog").path
        let w = try RecordWriter(path: path, header: header())
        let wide = ObservationRecord(seq: 1, timestampNs: 1, values: [Float](repeating: 0, count: 257))
        #expect(throws: LinkError.dimensionOutOfBounds(field: .observationValues, count: 257, limit: 256)) {
            try w.write(observation: wide, action: nil)
        }
        try w.close()
    }

    @Test func readerStreamsLargeFilesWithBoundedMemory() throws {
        // ~6 MB of steps; the reader holds one record at a time.
        let path = tempDir().appendingPathComponent("big.iqlog").path
        let w = try RecordWriter(path: path, header: RecordHeaderInfo(spec: sampleSpec(obs: 256), source: "iqmpc test"))
        let values = [Float](repeating: 0.5, count: 256)
        for i in 0..<5000 {
            try w.write(observation: ObservationRecord(seq: UInt64(i + 1), timestampNs: 0, values: values), action: nil)
        }
        try w.close()
        let r = try RecordReader(path: path)
        var count = 0
        while let s = try r.next() { count += 1; if s.observation.seq != UInt64(count) { Issue.record("order"); break } }
        #expect(count == 5000)
        #expect(r.offset == w.bytesWritten)
    }

    @Test func wrongLengthStepsAreRefusedWithTheirOffset() throws {
        let dir = tempDir()
        for (name, obs, act) in [("short-obs", 3, 2), ("long-act", 4, 3)] {
            let path = dir.appendingPathComponent("\(name).iqlog").path
            let w = try RecordWriter(path: path, header: header())      // obs_dim 4, act_dim 2
            try w.write(Self.sampleSteps(1)[0])
            let offset = w.bytesWritten
            try w.write(Self.sampleSteps(2, obs: obs, act: act)[0])
            try w.close()
            let r = try RecordReader(path: path)
            _ = try r.next()
            #expect {
                _ = try r.next()
            } throws: { e in
                guard case .record(let off, let problem) = e as? LinkError else { return false }
                return off == Int64(offset) && problem.contains(obs != 4 ? "obs_dim 4" : "act_dim 2")
            }
        }
    }

    @Test func headerStringWithANulByteIsRefused() throws {
        let path = tempDir().appendingPathComponent("nul.iqlog").path
        var spec = sampleSpec()
        spec.robotId = "pendulum-swingup@evil"
        try Self.write(path, header: RecordHeaderInfo(spec: spec, source: "iqmpc test"), steps: Self.sampleSteps(2))
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let at = try #require(bytes.range(of: Data("@evil".utf8)))
        bytes[at.lowerBound] = 0
        try bytes.write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try RecordReader(path: path)
        } throws: { e in
            guard case .record(0, let problem) = e as? LinkError else { return false }
            return problem.contains("NUL")
        }
    }
}
