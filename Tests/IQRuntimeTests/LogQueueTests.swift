import Foundation
import IQLink
@testable import IQRuntime
import Logging
import Synchronization
import Testing

/// Collects lines written by a LogQueue's drain thread.
final class LineSink: @unchecked Sendable {
    private let lines = Mutex<[String]>([])
    let gate = DispatchSemaphore(value: 1)
    var all: [String] { lines.withLock { $0 } }
    func write(_ line: String) {
        gate.wait()        // a test can hold the gate to stand in for a blocked stderr
        gate.signal()
        lines.withLock { $0.append(line) }
    }
}

@Suite(.serialized) struct LogQueueTests {
    /// Lines reach the sink from the drain thread, in order; a blocked sink never blocks the
    /// logging thread: once the queue is full, lines are dropped and counted.
    @Test func blockedSinkDropsAndCountsInsteadOfBlocking() throws {
        let sink = LineSink()
        let queue = LogQueue(capacity: 8, sink: { sink.write($0) })
        var logger = Logger(label: "t") { queue.handler(label: $0) }
        logger.logLevel = .info
        logger.info("first")
        queue.flush()
        #expect(sink.all.count == 1 && sink.all[0].hasSuffix("info t: first"), "\(sink.all)")

        sink.gate.wait()                          // stderr "blocked"
        let start = linkMonotonicNs()
        for i in 0..<100 { logger.warning("line \(i)") }
        let elapsedMs = Double(linkMonotonicNs() - start) / 1e6
        sink.gate.signal()
        // 100 lines into 8 slots (one may be held by the blocked drain): most dropped, counted.
        #expect(queue.dropped >= 100 - 9, "dropped \(queue.dropped)")
        #expect(elapsedMs < 1000, "logging must not wait for the sink (\(elapsedMs) ms)")
        queue.flush()
        let deadline = Date().addingTimeInterval(5)
        while queue.written + queue.dropped < 101 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(queue.written + queue.dropped == 101)
        #expect(sink.all.dropFirst().first?.hasSuffix("line 0") == true, "\(sink.all)")
    }

    /// A window of steps in which planning fell back for more than the documented share logs
    /// a warning (once per window), after the step.
    @Test func fallbackShareAboveTheThresholdWarns() throws {
        let sink = LineSink()
        let queue = LogQueue(capacity: 64, sink: { sink.write($0) })
        var logger = Logger(label: "iqmpc-runtime") { queue.handler(label: $0) }
        logger.logLevel = .info
        let cal = try testCalibration(budgetMs: 2)
        var options = ControlLoop.Options()
        options.fallbackWarningWindow = 50
        options.cpuHogNs = 3_000_000       // every step: the hog eats the whole budget
        let loop = try ControlLoop(setup: try testSetup(cal), options: options, connect: false, logger: logger)
        loop.startSession()
        let values = [Float](repeating: 0, count: cal.obsDim)
        for i in 0..<100 {
            let n = try values.withUnsafeBufferPointer { v throws(LinkError) in
                try FrameEncoder.observation(seq: UInt64(i + 1), timestampNs: linkMonotonicNs(), values: v,
                                             episodeStart: i == 0, terminal: false, reward: nil, episode: 0,
                                             into: loop.receiveBuffer)
            }
            var timing = StepTiming()
            let r = loop.respond(byteCount: n, receivedNs: linkMonotonicNs(), timing: &timing)
            #expect(r.isStep && r.source == .policyPrior)
            loop.finishStep(timing, r)
            if loop.fallbackWarningDue { loop.warnFallbackShare() }
        }
        queue.flush()
        #expect(loop.fallbackWarnings == 2)
        let warnings = sink.all.filter { $0.contains("planning fell back to the policy prior on 50 of the last 50 steps") }
        #expect(warnings.count == 2, "\(sink.all)")
    }
}
