import ArgumentParser
import Foundation
import IQJSON
import IQLink

/// `iqmpc-runtime bench-link`: what CURVE costs per frame. One process, two threads, real
/// sockets on loopback TCP: a lockstep plant sends an observation of `--obs-dim` floats, a
/// controller answers a `--act-dim` action, timed from send to answer. Plain and CURVE
/// links alternate in rounds so load on the machine hits both alike; the ratio of medians
/// is the figure to quote.
struct BenchLinkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-link",
        abstract: "Measure the lockstep round trip over loopback TCP with and without CURVE, in the same run.")

    @Option(help: "Round trips per link and round.") var frames: Int = 2000
    @Option(help: "Rounds (plain, CURVE alternate).") var rounds: Int = 5
    @Option(help: "Observation length (floats).") var obsDim: Int = 17
    @Option(help: "Action length (floats).") var actDim: Int = 6
    @Flag(help: "One JSON object instead of text.") var json = false

    func run() throws {
        guard frames > 10, rounds > 0, (1...LinkBounds.maxObsDim).contains(obsDim), (1...LinkBounds.maxActDim).contains(actDim) else {
            throw ValidationError("--frames > 10, --rounds > 0, dimensions within the protocol bounds")
        }
        guard CurveKeys.available else { throw ValidationError("this libzmq was built without CURVE") }
        var plain: [UInt64] = [], curve: [UInt64] = []
        for _ in 0..<rounds {
            plain += try LinkRoundTrip.measure(frames: frames, obsDim: obsDim, actDim: actDim, curve: false)
            curve += try LinkRoundTrip.measure(frames: frames, obsDim: obsDim, actDim: actDim, curve: true)
        }
        let p = Percentiles(plain), c = Percentiles(curve)
        if json {
            struct Output: Encodable {
                var frames, obsDim, actDim: Int
                var plainMedianUs, plainP99Us, curveMedianUs, curveP99Us, curveOverPlainMedian: Double
            }
            print(try StrictJSON.output(Output(frames: plain.count, obsDim: obsDim, actDim: actDim,
                                               plainMedianUs: p.median, plainP99Us: p.p99, curveMedianUs: c.median,
                                               curveP99Us: c.p99, curveOverPlainMedian: c.median / p.median)))
        } else {
            print(String(format: "lockstep round trip, loopback TCP, obs %d / act %d floats, %d frames each:", obsDim, actDim, plain.count))
            print(String(format: "  plain: median %.1f us, p99 %.1f us", p.median, p.p99))
            print(String(format: "  CURVE: median %.1f us, p99 %.1f us", c.median, c.p99))
            print(String(format: "  CURVE / plain (median): %.2fx, +%.1f us per round trip", c.median / p.median, c.median - p.median))
        }
    }
}

struct Percentiles {
    let median: Double, p99: Double
    init(_ ns: [UInt64]) {
        let s = ns.sorted()
        median = Double(s[s.count / 2]) / 1000
        p99 = Double(s[min(s.count - 1, s.count * 99 / 100)]) / 1000
    }
}

enum LinkRoundTrip {
    /// Round-trip times in ns of `frames` exchanges after 200 warm-up ones.
    static func measure(frames: Int, obsDim: Int, actDim: Int, curve: Bool) throws -> [UInt64] {
        let context = try ZmqContext()
        var serverKeys: CurveServerKeys?, clientKeys: CurveClientKeys?
        if curve {
            let plantPair = try CurveKeys.generate(), controllerPair = try CurveKeys.generate()
            serverKeys = CurveServerKeys(own: plantPair, authorisedKeys: [controllerPair.publicKey])
            clientKeys = CurveClientKeys(own: controllerPair, serverPublicKey: plantPair.publicKey)
        }
        let spec = PlantSpec(robotId: "bench",
                             observations: (0..<obsDim).map { .init(name: "o\($0)", unit: "1", low: -1, high: 1) },
                             actions: (0..<actDim).map { .init(name: "a\($0)", unit: "1", low: -1, high: 1) },
                             controlPeriodNs: 1_000_000, episodeLength: 0)
        let plant = try LockstepPlantEndpoint(bind: "tcp://127.0.0.1:*", spec: spec, software: "bench-link",
                                              context: context, curve: serverKeys)
        let controller = try LockstepControllerEndpoint(connect: plant.endpoint, context: context, curve: clientKeys)
        let warm = 200, total = warm + frames
        let done = DispatchSemaphore(value: 0)
        let answerer = Thread {
            defer { done.signal() }
            let act = [Float](repeating: 0.25, count: actDim)
            var answered = 0
            while answered < total + 1 {
                guard let f = try? controller.receive(timeoutMs: 5000) else { return }
                if case .hello = f {
                    try? controller.replyHelloAck(.accept(role: .controller, software: "bench-link"))
                    continue
                }
                act.withUnsafeBufferPointer { a in
                    try? controller.replyAction(seq: UInt64(answered + 1), observationSeq: 0, timestampNs: 0, values: a,
                                                diagnostics: PlanDiagnostics(source: .planner))
                }
                answered += 1
            }
        }
        answerer.start()
        try plant.handshake(attemptTimeoutMs: 2000, attempts: 5)
        let obs = [Float](repeating: 0.5, count: obsDim)
        var times: [UInt64] = []
        times.reserveCapacity(frames)
        try obs.withUnsafeBufferPointer { o in
            for i in 0..<total {
                let start = linkMonotonicNs()
                _ = try plant.exchange(seq: UInt64(i + 1), timestampNs: start, values: o, timeoutMs: 5000)
                if i >= warm { times.append(linkMonotonicNs() - start) }
            }
            _ = try? plant.exchange(seq: UInt64(total + 1), timestampNs: 0, values: o, timeoutMs: 1000)
        }
        done.wait()
        plant.close()
        controller.close()
        return times
    }
}
