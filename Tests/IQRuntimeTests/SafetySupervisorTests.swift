import CAllocCounter
import IQCalibration
import IQLink
@testable import IQRuntime
import Testing
import IQTestSupport

@Suite struct SafetySupervisorTests {
    // Free-running: frame ages are checked against the plant's same-host clock.
    let cal = try! testCalibration(mode: "free-running", maxAgeMs: 20)

    func admit(_ s: SafetySupervisor, seq: UInt64, _ values: [Float], age: UInt64 = 0, now: UInt64 = 1_000_000_000) -> FaultCode {
        values.withUnsafeBufferPointer { v in
            s.admit(seq: seq, timestampNs: now - age, values: v.baseAddress, count: v.count, receivedNs: now, nowNs: now)
        }
    }

    @Test func framesAreRefusedForEachDocumentedReason() {
        let s = SafetySupervisor(calibration: cal)
        #expect(admit(s, seq: 5, [1, 0, 0]) == .none)
        #expect(admit(s, seq: 5, [1, 0, 0]) == .duplicate)
        #expect(admit(s, seq: 4, [1, 0, 0]) == .outOfOrder)
        #expect(admit(s, seq: 9, [1, 0, 0]) == .none)                 // 3 skipped
        #expect(admit(s, seq: 10, [1, 0]) == .wrongDimension)
        #expect(admit(s, seq: 11, [1, .nan, 0]) == .nonFinite)
        #expect(admit(s, seq: 12, [1, 0, -.infinity]) == .nonFinite)
        #expect(admit(s, seq: 13, [1, 0, 100.5]) == .outOfRange)
        #expect(admit(s, seq: 14, [1.01, 0, 0]) == .outOfRange)
        #expect(admit(s, seq: 15, [1, 0, 0], age: 21_000_000) == .stale)
        #expect(admit(s, seq: 16, [1, 0, 0], age: 19_000_000) == .none)
        #expect(admit(s, seq: 17, [Float](repeating: 0, count: 300)) == .oversized)
        let c = s.counters
        #expect(c.link.duplicate == 1 && c.link.outOfOrder == 1 && c.link.skippedFrames == 3 && c.link.wrongDimension == 1)
        #expect(c.link.nonFinite == 2 && c.link.outOfRange == 2 && c.link.stale == 1 && c.link.oversized == 1)
        #expect(c.link.framesReceived == 12)
        // A new session forgets the sequence numbers (a restarted plant starts at 1).
        s.startSession()
        #expect(admit(s, seq: 1, [1, 0, 0]) == .none)
    }

    @Test func receiveClockMeasuresAgeFromArrival() throws {
        let c = try cal.overriding { $0.timing.frameClock = .receive }
        let s = SafetySupervisor(calibration: c)
        // A sender clock from another host is meaningless: only receive-to-now counts.
        #expect(s.admit(seq: 1, timestampNs: 3, values: [Float](repeating: 0, count: 3), count: 3,
                        receivedNs: 1_000_000_000, nowNs: 1_005_000_000) == .none)
        #expect(s.admit(seq: 2, timestampNs: 3, values: [Float](repeating: 0, count: 3), count: 3,
                        receivedNs: 1_000_000_000, nowNs: 1_025_000_000) == .stale)
    }

    @Test func actionsAreClampedThenRateLimitedAndSafeActionResets() {
        let s = SafetySupervisor(calibration: cal)   // limits ±1, 100/s × 20 ms = 2 per step
        var a: [Float] = [5]
        // From the safe action 0: clamp to 1 (within the 2 per-step limit).
        #expect(a.withUnsafeMutableBufferPointer { s.limit($0.baseAddress!) })
        #expect(a == [1])
        a = [-5]
        #expect(a.withUnsafeMutableBufferPointer { s.limit($0.baseAddress!) })
        #expect(a == [-1])
        a = [.nan]
        #expect(!a.withUnsafeMutableBufferPointer { s.limit($0.baseAddress!) })
        #expect(s.counters.nonFiniteActions == 1)
        s.writeSafeAction(into: &a)
        #expect(a == [0] && s.counters.link.safeActions == 1)

        // A tighter rate limit shows the limiter itself: 10/s × 20 ms = 0.2 per step.
        var slowActions = cal.actions
        slowActions[0].rateLimit = 10
        let slow = try! cal.replacingChannels(actions: slowActions)
        let r = SafetySupervisor(calibration: slow)
        var b: [Float] = [1]
        var seen: [Float] = []
        for _ in 0..<6 {
            b = [1]
            _ = b.withUnsafeMutableBufferPointer { r.limit($0.baseAddress!) }
            seen.append(b[0])
        }
        #expect(zip(seen, [0.2, 0.4, 0.6, 0.8, 1.0, 1.0]).allSatisfy { abs($0 - $1) < 1e-6 }, "\(seen)")
        r.startEpisode()
        b = [1]
        _ = b.withUnsafeMutableBufferPointer { r.limit($0.baseAddress!) }
        #expect(abs(b[0] - 0.2) < 1e-6, "an episode start restarts from the safe action")
    }

    @Test func perStepMethodsAllocateNothing() throws {
        let s = SafetySupervisor(calibration: cal)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: 3)
        v.initialize(repeating: 0.5, count: 3)
        let a = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        a.initialize(to: 0.3)
        defer { v.deallocate(); a.deallocate() }
        // One exact window over this thread (heapAllocations makes and checks a positive control).
        let n = try heapAllocations {
            for i in 0..<10_000 {
                _ = s.admit(seq: UInt64(i + 1), timestampNs: 5, values: v, count: 3, receivedNs: 10, nowNs: 10)
                _ = s.limit(a)
                if i % 100 == 0 { s.writeSafeAction(into: a) }
            }
        }
        #expect(n == 0)
    }
}

@Suite struct TelemetryTests {
    @Test func histogramQuantilesAreWithinItsResolution() {
        let h = LatencyHistogram()
        for v in 1...100_000 { h.record(UInt64(v) * 1_000) }   // 1 µs ... 100 ms, uniform
        #expect(h.count == 100_000 && h.min == 1_000 && h.max == 100_000_000)
        for (q, exact) in [(0.5, 50_000_000.0), (0.99, 99_000_000.0), (0.999, 99_900_000.0), (0.01, 1_000_000.0)] {
            let got = Double(h.quantile(q))
            #expect(abs(got - exact) / exact < 0.02, "q\(q): \(got) vs \(exact)")
        }
        #expect(h.quantile(1) == h.max && h.quantile(0) >= h.min)
        for v: UInt64 in [0, 1, 63, 64, 65, 1 << 20, (1 << 20) + 12345, UInt64(1) << 50] {
            let i = LatencyHistogram.index(v)
            #expect(LatencyHistogram.lowerBound(i) <= v && v < LatencyHistogram.lowerBound(i + 1), "\(v)")
        }
        h.reset()
        #expect(h.count == 0 && h.quantile(0.5) == 0)
    }

    @Test func recordingAllocatesNothing() throws {
        let t = StepTelemetry()
        var timing = StepTiming()
        let n = try heapAllocations {
            for i in 0..<10_000 {
                timing.planNs = UInt64(i)
                t.record(timing, source: i % 3 == 0 ? .policyPrior : .planner, iterations: 2)
            }
        }
        #expect(n == 0)
        #expect(t.steps == 10_000 && t.policyPriorSteps == 3334)
        #expect(t.summary(counters: RuntimeCounters(), mode: "lockstep").contains("policy prior 3334"))
    }

}

/// Sequence numbers and clocks an independent peer found wanting: one poisoned frame no
/// longer locks a session out, future stamps are refused, lockstep ignores the plant's clock.
@Suite struct SequenceAndClockTests {
    let cal = try! testCalibration(mode: "free-running", maxAgeMs: 20)

    func admit(_ s: SafetySupervisor, seq: UInt64, _ values: [Float]) -> FaultCode {
        values.withUnsafeBufferPointer { v in
            s.admit(seq: seq, timestampNs: 1_000_000_000, values: v.baseAddress, count: v.count,
                    receivedNs: 1_000_000_000, nowNs: 1_000_000_000)
        }
    }

    @Test func onlyAdmittedFramesMoveTheSequenceAndARunOfOutOfOrderFramesResynchronises() {
        let s = SafetySupervisor(calibration: cal)
        #expect(admit(s, seq: 10, [1, 0, 0]) == .none)
        // A refused frame with a poisonous seq does not move the sequence on.
        #expect(admit(s, seq: .max, [1, .nan, 0]) == .outOfOrder)      // too far ahead
        #expect(admit(s, seq: 11, [1, .nan, 0]) == .nonFinite)
        #expect(admit(s, seq: 12, [1, 0, 0]) == .none)
        #expect(s.counters.link.skippedFrames == 0)
        // A plant that restarted its counter without Hello: RESYNC_AFTER refusals, then the
        // next valid frame is the new base, and skipped_frames does not jump.
        for k in 0..<SafetySupervisor.resyncAfter {
            #expect(admit(s, seq: UInt64(1 + k), [1, 0, 0]) == .outOfOrder)
        }
        #expect(admit(s, seq: 4, [1, 0, 0]) == .none)
        #expect(admit(s, seq: 5, [1, 0, 0]) == .none)
        #expect(s.counters.link.resyncs == 1)
        #expect(s.counters.link.skippedFrames == 0)
        // The first frame of a session may carry any seq; even 2^64-1 only costs a resync.
        s.startSession()
        #expect(admit(s, seq: .max, [1, 0, 0]) == .none)
        for k in 0..<SafetySupervisor.resyncAfter { #expect(admit(s, seq: UInt64(1 + k), [1, 0, 0]) != .none) }
        #expect(admit(s, seq: 4, [1, 0, 0]) == .none)
        #expect(admit(s, seq: 6, [1, 0, 0]) == .none)
        #expect(s.counters.link.resyncs == 2 && s.counters.link.skippedFrames == 1)
    }

    @Test func framesFromTheFutureAreRefusedBeyondTheTolerance() {
        let s = SafetySupervisor(calibration: cal)        // max age 20 ms = the tolerance
        let now: UInt64 = 1_000_000_000
        let three = [Float](repeating: 0, count: 3)
        #expect(s.admit(seq: 1, timestampNs: now + 19_000_000, values: three, count: 3, receivedNs: now, nowNs: now) == .none)
        #expect(s.admit(seq: 2, timestampNs: now + 21_000_000, values: three, count: 3, receivedNs: now, nowNs: now) == .fromFuture)
        #expect(s.admit(seq: 3, timestampNs: .max, values: three, count: 3, receivedNs: now, nowNs: now) == .fromFuture)
        #expect(s.counters.link.fromFuture == 2)
    }

    @Test func lockstepDoesNotCompareTheSimulatorsClock() throws {
        // A simulator stamping simulated time (or 0) must not be answered with safe actions.
        let s = SafetySupervisor(calibration: try testCalibration(mode: "lockstep", maxAgeMs: 20))
        let three = [Float](repeating: 0, count: 3)
        #expect(s.admit(seq: 1, timestampNs: 0, values: three, count: 3, receivedNs: 5_000_000_000, nowNs: 5_000_000_000) == .none)
        #expect(s.admit(seq: 2, timestampNs: .max, values: three, count: 3, receivedNs: 5_000_000_000, nowNs: 5_000_000_000) == .none)
        #expect(s.counters.link.stale == 0 && s.counters.link.fromFuture == 0)
    }
}
