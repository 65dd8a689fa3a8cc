import IQCalibration
import IQLink

/// Always-on checks around the planner: nothing malformed reaches the model and nothing
/// outside the calibration's limits reaches the robot.
///
/// Frames: `admit` refuses (in this order) duplicate and out-of-order `seq`, wrong length,
/// NaN/Inf, values outside the accepted range, stale frames and frames from the future,
/// counting each fault. Only an admitted frame moves the sequence on, and a run of
/// `resyncAfter` refused out-of-order frames lets the next valid one re-base it
/// (Proto/README.md "Ordering"), so no single frame can lock a session out.
/// Actions: `limit` clamps into the hard limits and then into `previous ± rate_limit·period`;
/// `writeSafeAction` emits the calibration's safe action and restarts the rate limiter there.
///
/// All state lives in buffers allocated at init; every per-step method allocates nothing.
/// `@unchecked Sendable`: owned and used by the one control thread; other threads only read
/// `counters` after that thread has stopped.
public final class SafetySupervisor: @unchecked Sendable {
    public let obsDim: Int
    public let actDim: Int
    /// The control loop (same module) adds its own counts: frames answered, fallbacks, drops.
    public internal(set) var counters = RuntimeCounters()

    private let maxFrameAgeNs: UInt64
    private let ageFromReceive: Bool
    private let obsLow, obsHigh: UnsafeMutablePointer<Float>
    private let actLow, actHigh, maxStep, safe, previous: UnsafeMutablePointer<Float>
    private var hasLastSeq = false
    private var lastSeq: UInt64 = 0
    /// Consecutive frames refused for their `seq` since the last admitted one.
    private var orderingRun = 0
    /// Newest `seq` that passed the ordering check (admitted or refused for its content):
    /// gaps after it are frames that never arrived (`skipped_frames`).
    private var lastArrivedSeq: UInt64 = 0

    /// After this many consecutive frames refused as out of order or duplicate, the next
    /// frame that passes every other check is admitted whatever its `seq` and becomes the
    /// new base (`Counters.resyncs`): a plant that restarted its counter without a new
    /// Hello, or one poisoned frame with a huge `seq`, costs a few safe actions, not the session.
    public static let resyncAfter = 3
    /// A forward jump of more frames than this is refused as out of order (it would make
    /// `skipped_frames` meaningless); at 1 kHz it is 17 minutes of lost frames.
    public static let maxSeqJump: UInt64 = 1 << 20

    public init(calibration c: Calibration) {
        obsDim = c.obsDim
        actDim = c.actDim
        maxFrameAgeNs = c.timing.maxFrameAgeNs
        // Lockstep: the plant waits for every answer, so a frame cannot age in a queue, and
        // a simulator may stamp simulated time (or 0): its clock is never compared with ours.
        ageFromReceive = c.timing.frameClock == .receive || c.link.mode == .lockstep
        func buffer(_ values: [Float]) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, values.count))
            p.initialize(from: values, count: values.count)
            return p
        }
        obsLow = buffer(c.observations.map(\.low))
        obsHigh = buffer(c.observations.map(\.high))
        actLow = buffer(c.actions.map(\.low))
        actHigh = buffer(c.actions.map(\.high))
        maxStep = buffer(c.maxStepChange)
        safe = buffer(c.safeAction)
        previous = buffer(c.safeAction)
    }

    deinit {
        for p in [obsLow, obsHigh, actLow, actHigh, maxStep, safe, previous] { p.deallocate() }
    }

    /// A new session (handshake): sequence numbers start over and the plant is assumed at rest.
    public func startSession() {
        hasLastSeq = false
        orderingRun = 0
        previous.update(from: safe, count: actDim)
    }

    /// A new episode: the rate limiter starts again from the safe action.
    public func startEpisode() {
        previous.update(from: safe, count: actDim)
    }

    /// Counts a fault found outside `admit` (decode errors, watchdog, no handshake).
    public func count(_ fault: FaultCode) { counters.count(fault) }

    /// Decides whether a decoded observation may reach the model. `values` holds `count`
    /// floats straight from the decode arena. `receivedNs`/`nowNs` are this host's
    /// CLOCK_MONOTONIC. Returns `.none` or the fault (already counted).
    public func admit(seq: UInt64, timestampNs: UInt64, values: UnsafePointer<Float>?, count: Int,
                      receivedNs: UInt64, nowNs: UInt64) -> FaultCode {
        counters.link.framesReceived &+= 1
        var resync = false
        if hasLastSeq {
            let ordering: FaultCode = seq == lastSeq ? .duplicate
                : (seq < lastSeq || seq - lastSeq > Self.maxSeqJump) ? .outOfOrder : .none
            if ordering != .none {
                if orderingRun < Self.resyncAfter {
                    orderingRun += 1
                    counters.count(ordering)
                    return ordering
                }
                resync = true
            }
        }
        if !resync { orderingRun = 0 }     // a frame in order ends any run
        if resync || !hasLastSeq {
            lastArrivedSeq = seq
        } else if seq > lastArrivedSeq {
            counters.link.skippedFrames &+= seq - lastArrivedSeq - 1
            lastArrivedSeq = seq
        }
        let fault = check(timestampNs: timestampNs, values: values, count: count, receivedNs: receivedNs, nowNs: nowNs)
        if fault != .none {
            counters.count(fault)        // refused: the sequence base stays where it was
            if !hasLastSeq { lastArrivedSeq = 0 }
            return fault
        }
        if resync { counters.link.resyncs &+= 1 }
        hasLastSeq = true
        lastSeq = seq
        orderingRun = 0
        return .none
    }

    private func check(timestampNs: UInt64, values: UnsafePointer<Float>?, count: Int,
                       receivedNs: UInt64, nowNs: UInt64) -> FaultCode {
        if count > 256 { return .oversized }               // Bounds.MAX_OBS_DIM
        guard count == obsDim, let values else { return .wrongDimension }
        if let refused = ObservationAdmission.firstRefusal(values, low: obsLow, high: obsHigh, count: obsDim) {
            return refused.reason == .nonFinite ? .nonFinite : .outOfRange
        }
        let since = ageFromReceive ? receivedNs : timestampNs
        if nowNs > since && nowNs - since > maxFrameAgeNs { return .stale }
        // Same-host clock: a stamp ahead of our clock by more than the age tolerance is a
        // lie (or another clock), and would otherwise pass as perfectly fresh.
        if since > nowNs && since - nowNs > maxFrameAgeNs { return .fromFuture }
        return .none
    }

    /// Clamps a physical action into the hard limits and the rate limit, in place, and
    /// remembers it. Returns false (and leaves the buffer untouched) when the action holds
    /// NaN/Inf: the caller then sends the safe action.
    public func limit(_ action: UnsafeMutablePointer<Float>) -> Bool {
        for i in 0..<actDim where !action[i].isFinite {
            counters.nonFiniteActions &+= 1
            return false
        }
        for i in 0..<actDim {
            var a = Swift.min(Swift.max(action[i], actLow[i]), actHigh[i])
            a = Swift.min(Swift.max(a, previous[i] - maxStep[i]), previous[i] + maxStep[i])
            // previous is within the limits, so this only guards float rounding at the edges.
            a = Swift.min(Swift.max(a, actLow[i]), actHigh[i])
            action[i] = a
            previous[i] = a
        }
        return true
    }

    /// Writes the safe action (not rate-limited: reaching it fast is the point) and restarts
    /// the rate limiter from it.
    public func writeSafeAction(into action: UnsafeMutablePointer<Float>) {
        action.update(from: safe, count: actDim)
        previous.update(from: safe, count: actDim)
        counters.link.safeActions &+= 1
    }
}
