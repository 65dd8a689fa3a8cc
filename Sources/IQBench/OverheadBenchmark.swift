import Foundation
import IQCalibration
import IQLink
import IQRuntime
import Logging

/// The runtime's overhead beyond a raw ZeroMQ round trip (the performance target:
/// at most 15 µs at p50 on loopback TCP). One run, one process, interleaved:
/// - raw: a REQ socket sends an encoded Observation to a REP echo thread that answers
///   with a pre-encoded Action of the runtime's reply size;
/// - runtime: the same REQ work against `ControlLoop.run` in lockstep mode.
/// Per pair of adjacent round trips, overhead = runtime RTT − the plan call's own time −
/// raw RTT; the plant-side encode is the same in both.
public enum OverheadBenchmark {
    public struct Report: Sendable {
        public var text: String
        public var rawP50Ns: UInt64
        public var runtimeP50Ns: UInt64
        public var planP50Ns: UInt64
        public var overheadP50Ns: Int64
    }

    public static func run(setup: ControllerSetup, steps: Int, logger: Logger,
                           context: ZmqContext = .shared) throws -> Report {
        let warm = min(500, max(50, steps / 10))
        let total = warm + steps
        let cal0 = setup.calibration

        // Plant side: two REQ sockets, both bound on loopback with OS-chosen ports.
        let rawReq = try ZmqSocket(.req, context: context, sendSlots: 4)
        let rawEndpoint = try rawReq.bind("tcp://127.0.0.1:*")
        let rtReq = try ZmqSocket(.req, context: context, sendSlots: 4)
        let rtEndpoint = try rtReq.bind("tcp://127.0.0.1:*")

        // The controller, pointed at the plant's lockstep endpoint.
        let cal = try cal0.overriding { o in
            o.link = Calibration.Link(mode: .lockstep, observationEndpoint: rtEndpoint,
                                      actionEndpoint: cal0.link.actionEndpoint, telemetryEndpoint: nil)
        }
        let s = try ControllerSetup(model: setup.model, metadata: setup.modelMetadata, calibration: cal,
                                    allowCalibrationMismatch: true)
        var options = ControlLoop.Options()
        options.maxSteps = UInt64(total)
        options.recordPlanTimes = total
        let loop = try ControlLoop(setup: s, options: options, context: context, logger: logger)
        loop.warmUp()
        let stop = StopSignal()
        let loopDone = DispatchSemaphore(value: 0)
        Thread { loop.run(until: stop); loopDone.signal() }.start()

        // The echo peer answers with an Action of the size the runtime sends.
        let actionBytes = try encodedAction(actDim: cal.actDim)
        let echo = try ZmqSocket(.rep, context: context, sendSlots: 4)
        try echo.connect(rawEndpoint)
        let echoStop = StopSignal()
        let echoDone = DispatchSemaphore(value: 0)
        Thread {
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: LinkBounds.maxControlBytes, alignment: 64)
            defer { buf.deallocate(); echo.close(); echoDone.signal() }
            while !echoStop.isRequested {
                guard (try? echo.receive(into: buf, timeoutMs: 20)) ?? nil != nil else { continue }
                _ = actionBytes.withUnsafeBytes { try? echo.send($0) }
            }
        }.start()

        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: LinkBounds.maxControlBytes, alignment: 64)
        let inBuf = UnsafeMutableRawBufferPointer.allocate(byteCount: LinkBounds.maxControlBytes, alignment: 64)
        defer { out.deallocate(); inBuf.deallocate() }
        var loopFinished = false
        defer {
            echoStop.request()
            echoDone.wait()
            if !loopFinished { stop.request(); loopDone.wait() }
            rawReq.close()
            rtReq.close()
        }

        // Handshake with the controller.
        let hello = HelloMessage(role: .simulator, spec: cal.plantSpec(), software: "iqmpc-runtime check-budget --overhead", mode: .lockstep)
        let helloBytes = try FrameEncoder.hello(hello, into: out)
        try rtReq.send(UnsafeRawBufferPointer(rebasing: out[0..<helloBytes]))
        guard (try rtReq.receive(into: inBuf, timeoutMs: 5000)) != nil else {
            throw ControllerSetup.SetupError(description: "overhead benchmark: the controller did not answer Hello")
        }

        let values = BudgetCheck.synthetic(cal, count: 64)
        var raw = [UInt64](repeating: 0, count: total)
        var rt = [UInt64](repeating: 0, count: total)
        for i in 0..<total {
            let v = values[i % values.count].values
            func roundTrip(_ sock: ZmqSocket) throws -> UInt64 {
                let start = linkMonotonicNs()
                let n = try v.withUnsafeBufferPointer { b throws(LinkError) in
                    try FrameEncoder.observation(seq: UInt64(i + 1), timestampNs: linkMonotonicNs(), values: b,
                                                 episodeStart: i == 0, terminal: false, reward: nil, episode: 0, into: out)
                }
                try sock.send(UnsafeRawBufferPointer(rebasing: out[0..<n]))
                guard try sock.receive(into: inBuf, timeoutMs: 5000) != nil else {
                    throw ControllerSetup.SetupError(description: "overhead benchmark: no answer to frame \(i)")
                }
                return linkMonotonicNs() - start
            }
            // Alternate which goes first so that neither always follows the other's wake-up.
            if i % 2 == 0 {
                raw[i] = try roundTrip(rawReq); rt[i] = try roundTrip(rtReq)
            } else {
                rt[i] = try roundTrip(rtReq); raw[i] = try roundTrip(rawReq)
            }
        }
        loopDone.wait()
        loopFinished = true

        let range = warm..<total
        let plan = range.map { loop.planTimes[$0] }
        let rawT = Array(raw[range]), rtT = Array(rt[range])
        let overhead = range.map { Int64(rt[$0]) - Int64(loop.planTimes[$0]) - Int64(raw[$0]) }
        let rtMinusPlan = range.map { rt[$0] - min(rt[$0], loop.planTimes[$0]) }
        func q<T: Comparable>(_ xs: [T], _ p: Double) -> T {
            let s = xs.sorted()
            return s[min(s.count - 1, Int(Double(s.count - 1) * p + 0.5))]
        }
        func us(_ ns: UInt64) -> String { format(Double(ns) / 1e3) }
        func usSigned(_ ns: Int64) -> String { format(Double(ns) / 1e3) }
        let report = Report(text: "", rawP50Ns: q(rawT, 0.5), runtimeP50Ns: q(rtT, 0.5), planP50Ns: q(plan, 0.5),
                            overheadP50Ns: q(overhead, 0.5))
        let obsBytes = try values[0].values.withUnsafeBufferPointer { b throws(LinkError) in
            try FrameEncoder.observation(seq: 1, timestampNs: 1, values: b, episodeStart: false, terminal: false,
                                         reward: nil, episode: 0, into: out)
        }
        let lines = [
            "runtime overhead vs raw ZeroMQ round trip, loopback TCP, \(steps) interleaved pairs after \(warm) warm-up",
            "message sizes: observation \(obsBytes) B (obs_dim \(cal.obsDim)), action \(actionBytes.count) B (act_dim \(cal.actDim))",
            "                          p50        p90        p99   (us)",
            "  raw round trip     \(pad(us(report.rawP50Ns)))  \(pad(us(q(rawT, 0.9))))  \(pad(us(q(rawT, 0.99))))",
            "  runtime round trip \(pad(us(report.runtimeP50Ns)))  \(pad(us(q(rtT, 0.9))))  \(pad(us(q(rtT, 0.99))))",
            "  plan call          \(pad(us(report.planP50Ns)))  \(pad(us(q(plan, 0.9))))  \(pad(us(q(plan, 0.99))))",
            "  runtime - plan     \(pad(us(q(rtMinusPlan, 0.5))))  \(pad(us(q(rtMinusPlan, 0.9))))  \(pad(us(q(rtMinusPlan, 0.99))))",
            "  overhead per pair  \(pad(usSigned(report.overheadP50Ns)))  \(pad(usSigned(q(overhead, 0.9))))  \(pad(usSigned(q(overhead, 0.99))))",
            "overhead p50 = \(usSigned(report.overheadP50Ns)) us (target <= 15 us); p50(runtime - plan) - p50(raw) = \(usSigned(Int64(q(rtMinusPlan, 0.5)) - Int64(report.rawP50Ns))) us",
            "inside the loop (all steps): decode+validate+encode+send \(loop.telemetry.overhead.summary())",
            "  (the rest of the difference is scheduling: thread wake-ups after a plan, shared cores)",
        ]
        var r = report
        r.text = lines.joined(separator: "\n")
        return r
    }

    static func pad(_ s: String) -> String { String(repeating: " ", count: max(0, 9 - s.count)) + s }

    static func encodedAction(actDim: Int) throws -> [UInt8] {
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: LinkBounds.maxFrameBytes, alignment: 16)
        defer { out.deallocate() }
        let values = [Float](repeating: 0.123, count: actDim)
        let n = try values.withUnsafeBufferPointer { v throws(LinkError) in
            try FrameEncoder.action(seq: 1_000, observationSeq: 1_000, timestampNs: linkMonotonicNs(), values: v,
                                    diagnostics: PlanDiagnostics(source: .planner, iterations: 6, planTimeUs: 500),
                                    into: out)
        }
        return Array(UnsafeRawBufferPointer(rebasing: out[0..<n]))
    }
}
