import CAllocCounter
@testable import IQLink
import IQTestSupport
import Testing

@Suite(.serialized) struct CodecTests {
    let out = UnsafeMutableRawBufferPointer.allocate(byteCount: LinkBounds.maxControlBytes, alignment: 16)

    @Test func observationRoundTripKeepsEveryField() throws {
        let codec = FrameCodec()
        let values: [Float] = [0.5, -1.25, .nan, .infinity, -.infinity, 3e38]
        let bytes = try values.withUnsafeBufferPointer {
            try codec.encodeObservation(seq: 42, timestampNs: 123_456_789_012, values: $0, episodeStart: true,
                                        terminal: true, reward: -0.75, episode: 7)
        }
        let copy = Array(bytes)
        let decoder = FrameCodec()
        guard case .observation(let o) = try copy.withUnsafeBytes({ try decoder.decode($0) }) else {
            Issue.record("not an observation"); return
        }
        #expect(o.seq == 42 && o.timestampNs == 123_456_789_012 && o.episodeStart && o.terminal && o.episode == 7)
        #expect(o.reward == -0.75)
        // NaN and infinities are the supervisor's business: they must survive decode bit for bit.
        #expect(o.values.map(\.bitPattern) == values.map(\.bitPattern))
    }

    @Test func absentRewardDecodesAsNil() throws {
        let codec = FrameCodec()
        let bytes = Array(try [Float(1)].withUnsafeBufferPointer { try codec.encodeObservation(seq: 1, timestampNs: 2, values: $0) })
        guard case .observation(let o) = try bytes.withUnsafeBytes({ try codec.decode($0) }) else { Issue.record("kind"); return }
        #expect(o.reward == nil && !o.episodeStart && !o.terminal)
    }

    @Test func actionRoundTripKeepsDiagnostics() throws {
        let codec = FrameCodec()
        let diag = PlanDiagnostics(source: .policyPrior, iterations: 3, planTimeUs: 1234, deadlineMissed: true, fault: .stale)
        let bytes = Array(try [Float(0.25), -2].withUnsafeBufferPointer {
            try codec.encodeAction(seq: 9, observationSeq: 8, timestampNs: 77, values: $0, diagnostics: diag)
        })
        guard case .action(let a) = try bytes.withUnsafeBytes({ try codec.decode($0) }) else { Issue.record("kind"); return }
        #expect(a.seq == 9 && a.observationSeq == 8 && a.timestampNs == 77)
        #expect(Array(a.values) == [0.25, -2])
        #expect(a.diagnostics == diag)
    }

    @Test func controlMessagesRoundTrip() throws {
        let codec = FrameCodec()
        func decode(_ b: UnsafeRawBufferPointer) throws -> Frame { let c = Array(b); return try c.withUnsafeBytes { try codec.decode($0) } }

        guard case .reset(let seed) = try decode(codec.encodeReset(seed: 99)) else { Issue.record("reset"); return }
        #expect(seed == 99)
        guard case .heartbeat(let h) = try decode(codec.encodeHeartbeat(timestampNs: 5, role: .simulator)) else { Issue.record("hb"); return }
        #expect(h == HeartbeatView(timestampNs: 5, role: .simulator))
        guard case .error(let e) = try decode(codec.encodeError(code: .badFrame, fatal: false, fault: .nonFinite, message: "values[3] is NaN")) else { Issue.record("err"); return }
        #expect(e.code == .badFrame && !e.fatal && e.fault == .nonFinite && e.message == "values[3] is NaN")
        guard case .shutdown = try decode(codec.encodeShutdown(reason: "bye")) else { Issue.record("shutdown"); return }
        #expect(try codec.shutdownReason() == "bye")

        var t = TelemetrySample()
        t.step = 10; t.observationSeq = 11; t.receiveNs = 1; t.decodeNs = 2; t.planNs = 3; t.encodeNs = 4; t.sendNs = 5
        t.iterations = 6; t.source = .safe; t.counters.malformed = 7; t.counters.skippedFrames = 8; t.counters.outOfRange = 9
        guard case .telemetry = try decode(codec.encodeTelemetry(t)) else { Issue.record("telemetry"); return }
        #expect(try codec.telemetry() == t)

        let hello = HelloMessage(role: .simulator, spec: sampleSpec(obs: 5, act: 3), software: "iqmpc-sim test", mode: .lockstep)
        guard case .hello = try decode(codec.encodeHello(hello)) else { Issue.record("hello"); return }
        #expect(try codec.hello() == hello)

        let ack = HelloAckMessage.refuse(.specMismatch, message: "obsDim: plant 5, expected 4", role: .controller, software: "rt")
        guard case .helloAck = try decode(codec.encodeHelloAck(ack)) else { Issue.record("ack"); return }
        #expect(try codec.helloAck() == ack)
        // Asking for the wrong body is a typed error, not a crash.
        #expect(throws: LinkError.unexpectedBody(expected: .hello, got: .helloAck)) { try codec.hello() }
    }

    @Test func malformedBytesAreRefused() throws {
        let codec = FrameCodec()
        let good = Array(try [Float](repeating: 1, count: 8).withUnsafeBufferPointer {
            try codec.encodeObservation(seq: 1, timestampNs: 2, values: $0)
        })
        let cases: [[UInt8]] = [
            [0xff, 0xff, 0xff, 0xff],           // invalid tag/varint
            Array(good.dropLast(3)),            // truncated
            [0x1a, 0x05, 0x08],                 // length beyond the end
            [0x1a, 0x02, 0x1a, 0x7f],           // nested length beyond the end
            [0x0f],                             // wire type 7 does not exist
        ]
        for bytes in cases {
            #expect(throws: LinkError.malformed(byteCount: bytes.count)) { try bytes.withUnsafeBytes { _ = try codec.decode($0) } }
        }
        #expect(LinkError.malformed(byteCount: 1).faultCode == .malformed)
        #expect(throws: LinkError.emptyEnvelope) { _ = try codec.decode(nil, count: 0) }
        // The codec still works after refusing garbage.
        guard case .observation(let o) = try good.withUnsafeBytes({ try codec.decode($0) }) else { Issue.record("kind"); return }
        #expect(o.values.count == 8)
    }

    @Test func oversizedFramesAreRefusedNeverTruncated() throws {
        let codec = FrameCodec()
        // Over MAX_CONTROL_BYTES: refused before parsing.
        let huge = [UInt8](repeating: 0, count: LinkBounds.maxControlBytes + 1)
        #expect(throws: LinkError.oversized(byteCount: huge.count, limit: LinkBounds.maxControlBytes)) {
            try huge.withUnsafeBytes { _ = try codec.decode($0) }
        }
        // A hot frame (Observation) over MAX_FRAME_BYTES, even with valid dimensions.
        let padded = craftedObservationFrame(seq: 1, count: 4, unknownPadding: LinkBounds.maxFrameBytes)
        #expect(padded.count > LinkBounds.maxFrameBytes)
        #expect(throws: LinkError.oversized(byteCount: padded.count, limit: LinkBounds.maxFrameBytes)) {
            try padded.withUnsafeBytes { _ = try codec.decode($0) }
        }
        // Exactly at the bounds is fine.
        let atBound = craftedObservationFrame(seq: 1, count: LinkBounds.maxObsDim)
        guard case .observation(let o) = try atBound.withUnsafeBytes({ try codec.decode($0) }) else { Issue.record("kind"); return }
        #expect(o.values.count == LinkBounds.maxObsDim && o.values[255] == 255)
        // One float over MAX_OBS_DIM.
        let tooWide = craftedObservationFrame(seq: 1, count: LinkBounds.maxObsDim + 1)
        #expect(throws: LinkError.dimensionOutOfBounds(field: .observationValues, count: 257, limit: 256)) {
            try tooWide.withUnsafeBytes { _ = try codec.decode($0) }
        }
        #expect(LinkError.dimensionOutOfBounds(field: .observationValues, count: 257, limit: 256).faultCode == .oversized)
    }

    @Test func actionWiderThanMaxActDimIsRefused() throws {
        var action: [UInt8] = [0x08, 0x01]   // seq 1
        var packed: [UInt8] = []
        for _ in 0..<(LinkBounds.maxActDim + 1) { packed += [0, 0, 0x80, 0x3f] }  // 1.0f
        action += lengthDelimited(field: 4, packed)
        let frame = lengthDelimited(field: 4, action)
        let codec = FrameCodec()
        #expect(throws: LinkError.dimensionOutOfBounds(field: .actionValues, count: 65, limit: 64)) {
            try frame.withUnsafeBytes { _ = try codec.decode($0) }
        }
    }

    @Test func encodersRefuseOutOfBoundsInputs() throws {
        let codec = FrameCodec()
        let wide = [Float](repeating: 0, count: LinkBounds.maxObsDim + 1)
        #expect(throws: LinkError.dimensionOutOfBounds(field: .observationValues, count: 257, limit: 256)) {
            _ = try wide.withUnsafeBufferPointer { try codec.encodeObservation(seq: 1, timestampNs: 1, values: $0) }
        }
        let wideAct = [Float](repeating: 0, count: LinkBounds.maxActDim + 1)
        #expect(throws: LinkError.dimensionOutOfBounds(field: .actionValues, count: 65, limit: 64)) {
            _ = try wideAct.withUnsafeBufferPointer {
                try codec.encodeAction(seq: 1, observationSeq: 1, timestampNs: 1, values: $0, diagnostics: .init())
            }
        }
        // An Error whose message pushes the frame past MAX_FRAME_BYTES.
        let longMessage = String(repeating: "x", count: LinkBounds.maxFrameBytes)
        #expect(throws: LinkError.self) { _ = try codec.encodeError(code: .internalError, fatal: true, message: longMessage) }
        // A caller buffer that is too small.
        let small = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
        defer { small.deallocate() }
        #expect(throws: LinkError.bufferTooSmall(needed: 24, capacity: 8)) {
            _ = try [Float](repeating: 1, count: 4).withUnsafeBufferPointer {
                try FrameEncoder.observation(seq: 1, timestampNs: 1, values: $0, into: small)
            }
        }
    }

    @Test func hostileInputExhaustsTheArenaCleanly() throws {
        // Thousands of 2-byte unknown fields expand ~20x when unpacked.
        var body: [UInt8] = []
        for _ in 0..<1300 { body += [0xa0, 0x06, 0x01] } // field 100, varint 1
        let frame = lengthDelimited(field: 3, body)
        let small = FrameCodec(arenaBytes: 16 << 10)
        #expect(throws: LinkError.arenaExhausted(byteCount: frame.count, arenaBytes: 16 << 10)) {
            try frame.withUnsafeBytes { _ = try small.decode($0) }
        }
        // The default arena takes it.
        let codec = FrameCodec()
        guard case .observation = try frame.withUnsafeBytes({ try codec.decode($0) }) else { Issue.record("kind"); return }
    }

    @Test func decodeAndHotEncodesDoNotAllocate() throws {
        let codec = FrameCodec()
        let values = [Float](repeating: 0.5, count: LinkBounds.maxObsDim)
        let act = [Float](repeating: 0.1, count: LinkBounds.maxActDim)
        let frame = Array(try values.withUnsafeBufferPointer { try codec.encodeObservation(seq: 1, timestampNs: 1, values: $0) })
        var t = TelemetrySample(); t.step = 1
        let garbage: [UInt8] = [0xff, 0xff, 0xff]
        var checksum: Float = 0
        func step(_ i: Int) throws {
            try values.withUnsafeBufferPointer { v in
                _ = try codec.encodeObservation(seq: UInt64(i), timestampNs: 3, values: v, episodeStart: true, reward: 1)
            }
            try act.withUnsafeBufferPointer { a in
                _ = try FrameEncoder.action(seq: UInt64(i), observationSeq: 1, timestampNs: 2, values: a,
                                            diagnostics: .init(source: .planner, iterations: 6), into: out)
            }
            _ = try codec.encodeHeartbeat(timestampNs: 1, role: .controller)
            _ = try codec.encodeError(code: .badFrame, fatal: false, fault: .noHandshake, message: "observation before handshake")
            _ = try codec.encodeReset(seed: 3)
            _ = try codec.encodeTelemetry(t)
            try frame.withUnsafeBytes { b in
                if case .observation(let o) = try codec.decode(b) { checksum += o.values[i % o.values.count] }
            }
            // Refusals are allocation-free too (`do throws(LinkError)`: an untyped `do` would box the error).
            do throws(LinkError) { _ = try codec.decode(nil, count: 0) } catch { checksum += error.faultCode == .malformed ? 0 : 1 }
            garbage.withUnsafeBytes { b in
                do throws(LinkError) { _ = try codec.decode(b) } catch { checksum += error.faultCode == .malformed ? 0 : 1 }
            }
        }
        for i in 0..<10 { try step(i) }  // warm-up
        // Swift Testing's throw hook allocates per throw; production has none (see ThrowHooks).
        let n = try ThrowHooks.suspended { try allocations { for i in 0..<1000 { try step(i) } } }
        #expect(n == 0)
        #expect(checksum > 0)
        // Positive controls: the counter sees the allocating handshake path and a probe.
        let control = try allocations {
            _ = try codec.encodeHello(HelloMessage(role: .robot, spec: sampleSpec(), software: "x", mode: .freeRunning))
            iq_alloc_probe()
        }
        #expect(control >= 2)
    }
}
