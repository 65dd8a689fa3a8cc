import CAllocCounter
import IQCalibration
import IQKernels
import IQLink
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// An observation to replay (from a record file, or synthetic).
public struct RecordedObservation: Sendable {
    public var values: [Float]
    public var episodeStart: Bool
    public init(values: [Float], episodeStart: Bool) { self.values = values; self.episodeStart = episodeStart }
}

/// `iqmpc-runtime check-budget`: times the full control step (decode, validate, normalise,
/// plan, denormalise/clamp/rate-limit, encode; everything but the socket) on this computer,
/// through the same `ControlLoop.respond` the served loop runs, and judges it against the
/// calibration.
public enum BudgetCheck {
    /// Fraction of the control period that must stay free for transport and the plant.
    public static let periodMargin = 0.10
    /// Largest acceptable share of steps answered by the policy prior alone.
    public static let maxFallbackShare = 0.01

    public static let criteriaText = """
    The budget holds (exit 0) when all of these hold over the timed steps; otherwise exit 1:
      1. p99 of the step time (decode to encoded action) <= timing.planning_budget_ms;
      2. p99.9 of the step time <= 90 % of timing.control_period_ms (10 % margin for transport);
      3. at most 1 % of steps fall back to the policy prior (no MPPI iteration fitted);
      4. no heap allocation in the timed steps.
    """

    public struct Result: Sendable {
        public var passed: Bool
        public var report: String
        public var steps: Int
        public var allocations: UInt64
        public var fallbacks: UInt64
        public var deadlineMisses: UInt64
        public var stepP99Ns: UInt64
        public var stepP999Ns: UInt64
        /// Plans that ended after their deadline (frame arrival + budget), and the overshoot per
        /// plan (0 for a plan on time) over all timed plans.
        public var latePlans: Int
        public var overshootP50Ns: UInt64, overshootP99Ns: UInt64, overshootMaxNs: UInt64
    }

    public static func run(setup: ControllerSetup, steps: Int, recorded: [RecordedObservation]? = nil,
                           cpuHogNs: UInt64 = 0, paced: Bool = false, logger: Logger) throws -> Result {
        precondition(steps > 0, "check-budget needs at least one step")
        let cal = setup.calibration
        var options = ControlLoop.Options()
        options.cpuHogNs = cpuHogNs
        let loop = try ControlLoop(setup: setup, options: options, connect: false, logger: logger)
        loop.warmUp()
        loop.startSession()
        let frames = recorded ?? synthetic(cal, count: min(steps, 1000))
        if let bad = frames.first(where: { $0.values.count != cal.obsDim }) {
            throw ControllerSetup.SetupError(description: "recorded observations have \(bad.values.count) values, the calibration \(cal.obsDim)")
        }
        let warmUp = min(200, max(10, steps / 10))
        var allocationsBefore: UInt64 = 0
        var countersBefore = loop.supervisor.counters
        // Only this thread and the planner's workers count (the encoding of each synthetic
        // frame below is the plant's work, done before the step, but on this thread: it is
        // allocation-free).
        let previousGroup = loop.allocations.join()
        defer { loop.allocations.leave(restoring: previousGroup) }
        // How late each plan ended: plan end − (frame arrival + budget), 0 when on time.
        let overshoot = LatencyHistogram()
        var latePlans = 0
        let budgetNs = cal.timing.planningBudgetNs
        var nextStart = linkMonotonicNs()
        for i in 0..<(warmUp + steps) {
            if paced {
                // One frame per control period, as a plant sends them: the thread sleeps between
                // steps like the served loop, so the scheduler treats it as it would in service.
                nextStart &+= cal.timing.controlPeriodNs
                let now = linkMonotonicNs()
                if nextStart > now { sleepNs(nextStart - now) } else { nextStart = now }
            }
            if i == warmUp {
                overshoot.reset()
                latePlans = 0
                loop.telemetry.reset()
                countersBefore = loop.supervisor.counters
                allocationsBefore = iq_alloc_group_count(loop.allocations.group)
            }
            let frame = frames[i % frames.count]
            // The plant's work (encoding the observation) is not timed.
            let n = try frame.values.withUnsafeBufferPointer { v throws(LinkError) in
                try FrameEncoder.observation(seq: UInt64(i + 1), timestampNs: linkMonotonicNs(), values: v,
                                             episodeStart: frame.episodeStart || i == 0, terminal: false,
                                             reward: nil, episode: 0, into: loop.receiveBuffer)
            }
            var timing = StepTiming()
            let result = loop.respond(byteCount: n, receivedNs: linkMonotonicNs(), timing: &timing)
            guard case .bytes = result.reply, result.isStep else {
                throw ControllerSetup.SetupError(description: "step \(i) produced no action (internal error)")
            }
            loop.finishStep(timing, result)
            let planEnd = timing.decodeNs &+ timing.planNs   // from the frame's arrival
            if planEnd > budgetNs { latePlans += 1 }
            overshoot.record(planEnd > budgetNs ? planEnd - budgetNs : 0)
        }
        let allocations = iq_alloc_group_count(loop.allocations.group) - allocationsBefore
        let c = loop.supervisor.counters
        let fallbacks = c.link.policyPriorFallbacks - countersBefore.link.policyPriorFallbacks
        let misses = c.link.deadlineMisses - countersBefore.link.deadlineMisses
        let safe = c.link.safeActions - countersBefore.link.safeActions
        let t = loop.telemetry
        let p99 = t.processing.quantile(0.99)
        let p999 = t.processing.quantile(0.999)
        let budget = cal.timing.planningBudgetNs
        let periodLimit = UInt64(Double(cal.timing.controlPeriodNs) * (1 - periodMargin))
        let fallbackShare = Double(fallbacks) / Double(steps)

        func ms(_ ns: UInt64) -> String { format(Double(ns) / 1e6, decimals: 3) + " ms" }
        let checks: [(Bool, String)] = [
            (p99 <= budget, "p99 step \(ms(p99)) <= planning budget \(ms(budget))"),
            (p999 <= periodLimit, "p99.9 step \(ms(p999)) <= 90% of the control period \(ms(periodLimit))"),
            (fallbackShare <= maxFallbackShare,
             "policy-prior fallbacks \(fallbacks) (\(format(fallbackShare * 100, decimals: 2)) %) <= \(format(maxFallbackShare * 100, decimals: 0)) %"),
            (allocations == 0, "heap allocations in timed steps: \(allocations)"),
        ]
        let passed = checks.allSatisfy(\.0)
        let p = setup.plannerConfig
        var lines = [
            "check-budget: \(cal.robotId), model obs \(setup.model.config.obsDim) act \(setup.model.config.actDim) latent \(setup.model.config.latentDim), \(setup.model.parameterCount) parameters",
            "planner: samples \(p.samples), iterations \(p.iterations), horizon \(p.horizon), threads \(p.threads), selection \(p.actionSelection.rawValue), prior anchor \(p.priorAnchor), temperature \(p.temperature)",
            "budget \(ms(budget)), control period \(ms(cal.timing.controlPeriodNs)); \(steps) timed steps after \(warmUp) warm-up, \(recorded == nil ? "synthetic" : "recorded") observations\(cpuHogNs > 0 ? ", CPU hog \(ms(cpuHogNs)) per step" : "")\(paced ? ", one step per control period" : ", back to back")",
            "  decode+validate  \(t.decode.summary())",
            "  plan             \(t.plan.summary())",
            "  encode           \(t.encode.summary())",
            "  step             \(t.processing.summary())",
            "deadline: \(latePlans) of \(steps) plans ended past it; overshoot per plan p50 \(ms(overshoot.quantile(0.5))), p99 \(ms(overshoot.quantile(0.99))), max \(ms(overshoot.max))",
            "planner answered \(t.plannerSteps), policy prior \(t.policyPriorSteps), safe \(safe); deadline misses \(misses); mean iterations \(format(t.plannerSteps == 0 ? 0 : Double(t.iterations) / Double(t.plannerSteps), decimals: 2))",
        ]
        for (ok, text) in checks { lines.append("  [\(ok ? "ok" : "FAIL")] \(text)") }
        lines.append(passed ? "PASS: the budget holds on this computer" : "FAIL: the budget does not hold (see Calibration/README.md, timing)")
        return Result(passed: passed, report: lines.joined(separator: "\n"), steps: steps, allocations: allocations,
                      fallbacks: fallbacks, deadlineMisses: misses, stepP99Ns: p99, stepP999Ns: p999,
                      latePlans: latePlans, overshootP50Ns: overshoot.quantile(0.5),
                      overshootP99Ns: overshoot.quantile(0.99), overshootMaxNs: overshoot.max)
    }

    /// Observations spread over each channel's typical range (offset ± scale), inside the
    /// accepted range, from a fixed-seed generator so runs are comparable.
    package static func synthetic(_ cal: Calibration, count: Int) -> [RecordedObservation] {
        var g = SeededRandom(seed: 0x5EED)
        func uniform() -> Float { Float(g.uniform() * 2 - 1) }
        return (0..<count).map { i in
            RecordedObservation(values: cal.observations.map { ch in
                min(max(ch.offset + abs(ch.scale) * uniform(), ch.low), ch.high)
            }, episodeStart: i == 0)
        }
    }
}

extension BudgetCheck {
    /// Every observation of a record file (.iqlog), in order, with episode starts.
    public static func loadObservations(path: String) throws -> [RecordedObservation] {
        let reader = try RecordReader(path: path)
        var out: [RecordedObservation] = []
        while let step = try reader.next() {
            out.append(RecordedObservation(values: step.observation.values, episodeStart: step.observation.episodeStart))
        }
        if out.isEmpty {
            throw ControllerSetup.SetupError(description: "\(path): no observations recorded")
        }
        return out
    }
}

/// Sleeps `ns` (EINTR: sleeps the rest).
func sleepNs(_ ns: UInt64) {
    var ts = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
    var rest = timespec()
    while nanosleep(&ts, &rest) != 0 && errno == EINTR { ts = rest }
}
