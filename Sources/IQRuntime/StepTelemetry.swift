import IQLink

/// Timing of one control step, split as the telemetry message is (receive, decode incl.
/// validation, plan, encode, send), all in nanoseconds.
public struct StepTiming: Sendable, Equatable {
    public var receiveNs: UInt64 = 0
    public var decodeNs: UInt64 = 0
    public var planNs: UInt64 = 0
    public var encodeNs: UInt64 = 0
    public var sendNs: UInt64 = 0
    public init() {}
    /// Everything the runtime does for a frame after it arrived (what the budget covers).
    public var processingNs: UInt64 { decodeNs + planNs + encodeNs + sendNs }
}

/// Accumulates step timings and action sources for the summary printed at exit.
/// Recording allocates nothing; `summary` (exit only) builds strings.
/// `@unchecked Sendable`: written by the control thread only; read after it stopped.
public final class StepTelemetry: @unchecked Sendable {
    public let receive = LatencyHistogram()
    public let decode = LatencyHistogram()
    public let plan = LatencyHistogram()
    public let encode = LatencyHistogram()
    public let send = LatencyHistogram()
    /// decode + plan + encode + send.
    public let processing = LatencyHistogram()
    /// Everything but the plan call: what the runtime adds to a raw round trip.
    public let overhead = LatencyHistogram()
    public private(set) var plannerSteps: UInt64 = 0
    public private(set) var policyPriorSteps: UInt64 = 0
    public private(set) var safeSteps: UInt64 = 0
    public private(set) var iterations: UInt64 = 0

    public init() {}

    /// Forgets everything recorded (e.g. after a warm-up).
    public func reset() {
        for h in [receive, decode, plan, encode, send, processing, overhead] { h.reset() }
        plannerSteps = 0; policyPriorSteps = 0; safeSteps = 0; iterations = 0
    }

    @inline(__always)
    public func record(_ t: StepTiming, source: ActionSource, iterations its: Int) {
        receive.record(t.receiveNs)
        decode.record(t.decodeNs)
        plan.record(t.planNs)
        encode.record(t.encodeNs)
        send.record(t.sendNs)
        processing.record(t.processingNs)
        overhead.record(t.decodeNs + t.encodeNs + t.sendNs)
        switch source {
        case .planner: plannerSteps &+= 1
        case .policyPrior: policyPriorSteps &+= 1
        case .safe: safeSteps &+= 1
        case .unspecified, .plantFallback: break
        }
        iterations &+= UInt64(its)
    }

    public var steps: UInt64 { plannerSteps + policyPriorSteps + safeSteps }

    public func summary(counters c: RuntimeCounters, mode: String) -> String {
        let meanIts = plannerSteps == 0 ? 0 : Double(iterations) / Double(plannerSteps)
        var lines = [
            "mode \(mode): \(steps) steps answered (planner \(plannerSteps), policy prior \(policyPriorSteps), safe \(safeSteps)), mean iterations \(format(meanIts, decimals: 2))",
            "  receive    \(receive.summary())",
            "  decode     \(decode.summary())",
            "  plan       \(plan.summary())",
            "  encode     \(encode.summary())",
            "  send       \(send.summary())",
            "  processing \(processing.summary())",
            "counters: frames \(c.link.framesReceived), actions \(c.link.actionsSent), deadline misses \(c.link.deadlineMisses), policy-prior fallbacks \(c.link.policyPriorFallbacks), safe actions \(c.link.safeActions), skipped \(c.link.skippedFrames), send drops \(c.sendDrops)",
            "faults: malformed \(c.link.malformed), oversized \(c.link.oversized), wrong dimension \(c.link.wrongDimension), non-finite \(c.link.nonFinite), out of range \(c.link.outOfRange), stale \(c.link.stale), out of order \(c.link.outOfOrder), duplicate \(c.link.duplicate), watchdog \(c.link.watchdog), no handshake \(c.noHandshake), non-finite actions \(c.nonFiniteActions)",
        ]
        if c.handshakes > 0 || c.refusedHandshakes > 0 {
            lines.append("handshakes: \(c.handshakes) accepted, \(c.refusedHandshakes) refused")
        }
        return lines.joined(separator: "\n")
    }
}
